"""The truncation sweep (Brock et al. 2019, BigGAN, Sec. 3.1 and Fig. 4): the final generator of a family with the
truncation trick scored at every ψ of ``eval.truncation_sweep``, tracing fidelity against variety.

A small ψ keeps z near the prior's mode: samples look more like real images (precision rises) but vary less
(recall falls), and FID, which sees both, is best in between. Every ψ is scored with the normal evaluation's
noise seed and conditions (:func:`pipeline.scoring.conditions.conditions_for`), ``eval.n_samples`` samples, in the
domain classifier's feature space (:mod:`pipeline.scoring.scorers.classifier`):

* ``fid_clf``: classifier-space FID to the real training images' statistics, as the classifier scorer's;
* ``precision_clf`` / ``recall_clf``: improved precision and recall (Kynkäänniemi et al. 2019), k =
  ``eval.nearest_k``. The classifier reference stores only the real features' mean and covariance, so the real
  set is the classifier features of ``eval.n_samples`` training images (a subset seeded with the evaluation's noise
  seed; every image when there are fewer): the same N as the generated samples;
* ``class_acc`` (class-conditional runs): the share of samples the classifier assigns to the class asked for.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from analysis.neighbours import knn_radii
from analysis.precision_recall import precision_recall
from models.family import Family
from pipeline.common.layout import reference_dir
from pipeline.config import Config, EvalConfig
from pipeline.data.classifier import ClassifierReference
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.registry import finite_samples
from pipeline.scoring.sampling import EVAL_SEED, Sampler, load_sampler
from pipeline.scoring.scorers.classifier import classifier_outputs, fid_to_real, has_classifier, load_reference

log = logging.getLogger("ganlab.evaluate")

METRICS = ("fid_clf", "precision_clf", "recall_clf", "class_acc")


def has_truncation(options: Any) -> bool:
    """Whether a family's sampling options have the truncation ψ (a ``psi`` field)."""
    return options is not None and any(field.name == "psi" for field in dataclasses.fields(options))


def real_features(reference: ClassifierReference, prepared: PreparedData, n: int, batch_size: int) -> np.ndarray:
    """Classifier features of ``n`` training images (a seeded subset; all of them when there are no more)."""
    images = prepared.train_x
    if len(images) > n:
        images = images[np.sort(np.random.default_rng(EVAL_SEED).choice(len(images), n, replace=False))]
    return classifier_outputs(reference, images, batch_size)[0]


def score_at(sampler: Sampler, psi: float, options: Any, conditions: dict[str, np.ndarray],
             reference: ClassifierReference, real: np.ndarray, real_radii: np.ndarray,
             eval_config: EvalConfig) -> dict[str, float | None]:
    """One ψ: the sweep's metrics of ``eval.n_samples`` samples drawn with ``options`` truncated at ``psi``
    (``real_radii``: the real features' k-NN radii)."""
    n, k = eval_config.n_samples, eval_config.nearest_k
    samples = sampler.draw(n, EVAL_SEED, eval_config.batch_size, conditions=conditions,
                           options=dataclasses.replace(options, psi=psi))
    features, logits = classifier_outputs(reference, finite_samples(samples, n), eval_config.batch_size)
    scores = precision_recall(real, features, k, real_radii)
    row: dict[str, float | None] = {"psi": psi, "fid_clf": fid_to_real(reference, features),
                                    "precision_clf": scores["precision"], "recall_clf": scores["recall"]}
    if "y" in conditions:
        row["class_acc"] = float((logits.argmax(axis=1) == conditions["y"][:n]).mean())
    return row


def truncation_sweep(config: Config, generators: dict[str, Any], family: Family, prepared: PreparedData,
                     label: str) -> dict[str, Any]:
    """The payload entries of a run's sweep: ``truncation`` (one row per ψ) and ``truncation_protocol``; nothing
    when the family has no ψ, ``eval.truncation_sweep`` is empty or the data has no domain classifier."""
    cfg = config.for_dataset(prepared.dataset).eval
    options = config.sampling_options(family)
    if not cfg.truncation_sweep or not has_truncation(options) or not has_classifier(prepared):
        return {}
    reference = load_reference(prepared, reference_dir(prepared.dataset))
    real = real_features(reference, prepared, cfg.n_samples, cfg.batch_size)
    conditions = conditions_for(family.task, prepared, cfg.n_samples)
    radii = knn_radii(real, cfg.nearest_k)
    sampler = load_sampler(generators, "final")
    names = METRICS if "y" in conditions else METRICS[:3]
    rows = []
    for psi in cfg.truncation_sweep:
        try:
            rows.append(score_at(sampler, psi, options, conditions, reference, real, radii, cfg))
        except FloatingPointError as err:
            log.warning("%s truncation ψ=%g: %s", label, psi, err)
            rows.append({"psi": psi, **dict.fromkeys(names)})
        log.info("%s final at ψ=%g: %s", label, psi, ", ".join(f"{k}={v:.4g}" for k, v in rows[-1].items()
                                                             if k != "psi" and v is not None))
    protocol = {"checkpoint": "final", "noise_seed": EVAL_SEED, "n_generated": cfg.n_samples, "n_real": len(real),
                "nearest_k": cfg.nearest_k, "extractor": "domain-classifier", "extractor_sha256": reference.sha256,
                "real": "classifier features of a seeded subset of the training images (precision/recall); the "
                        "training split's statistics (fid_clf)"}
    return {"truncation": rows, "truncation_protocol": protocol}


def mlflow_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The sweep's values as MLflow metrics ``truncation/psi_<ψ>/<metric>`` (unmeasured or infinite ones left out)."""
    return {f"truncation/psi_{row['psi']:g}/{name}": value for row in rows for name, value in row.items()
            if name != "psi" and value is not None and math.isfinite(value)}
