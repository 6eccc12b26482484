"""Class-coverage metrics of generated images, through the domain classifier's predictions.

The labelled-image analogue of mode coverage (Metz et al. 2017 and
Srivastava et al. 2017 count the classes of stacked MNIST a classifier
assigns to generated samples): classes covered (at least ``min_samples``
predictions) and ``KL(p_gen ‖ p_real)`` between the predicted class histogram
of generated samples and the real label histogram, in nats.
"""

from __future__ import annotations

import numpy as np


def class_scores(predicted: np.ndarray, real_labels: np.ndarray, n_classes: int, min_samples: int = 20) -> dict[str, float]:
    counts = np.bincount(np.asarray(predicted), minlength=n_classes)
    p_gen = counts / counts.sum()
    p_real = np.bincount(np.asarray(real_labels), minlength=n_classes) / len(real_labels)
    if (p_real == 0).any():
        raise ValueError("every class must occur in the real labels")
    nonzero = p_gen > 0
    kl = float(np.sum(p_gen[nonzero] * np.log(p_gen[nonzero] / p_real[nonzero])))
    return {"classes_covered": int((counts >= min_samples).sum()), "n_classes": n_classes, "class_kl": kl}
