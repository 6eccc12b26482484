"""Modes of Stacked MNIST (:mod:`pipeline.datasets.catalogue.stacked`) as VEEGAN and PacGAN count them
(Srivastava et al. 2017, VEEGAN, Table 2; Lin et al. 2018, PacGAN, Tables 2 and 3): each channel of a generated
image is classified by the digit classifier ``prepare`` trained on the real channels, the triple of digits is the
image's mode (``Σ_c place_values[c]·d_c``), and of the 1,000 modes

- ``stacked_modes`` counts those covered, a mode being covered by at least one sample (both papers' rule);
- ``stacked_kl`` is ``KL(p̂ ‖ U) = Σ_{k: p̂_k > 0} p̂_k log(p̂_k · K)`` in nats, ``p̂`` the histogram of the samples'
  modes and ``U`` uniform over the ``K = 1,000`` modes -- PacGAN's ``KLD(p, q)`` with ``q = 1/1000``, empty modes
  contributing 0 (``0 log 0 = 0``), which is ``scipy.stats.entropy(p̂, U)``. Even a perfect generator scores
  about ``(K - 1) / (2N)`` (0.019 nats at N = 26,000) from sampling alone.

The scorer classifies :data:`STACKED_SAMPLES` = 26,000 samples, whatever ``eval.n_samples`` says: PacGAN's
``num_test_sample`` in VEEGAN's setting (its Table 2, 128,000 training images; its Table 3, in Unrolled GAN's
setting, uses 25,600); the evaluate stage then draws 26,000 samples of a stacked dataset's runs for every scorer
(each takes its first ``eval.n_samples`` or its own count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.classifier import DomainClassifier
from analysis.features import stream_features
from pipeline.common.digest import sha256_file
from pipeline.config import EvalConfig
from pipeline.data.classifier import ClassifierFileError, load_classifier
from pipeline.data.store import PreparedData, rebuild_hint
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer

#: The samples VEEGAN and PacGAN classify to count Stacked MNIST's modes.
STACKED_SAMPLES = 26_000


def mode_coverage(modes: np.ndarray, n_modes: int) -> tuple[int, float]:
    """Modes covered (at least one sample) and ``KL(p̂ ‖ uniform)`` in nats, ``p̂`` the histogram of ``modes``."""
    counts = np.bincount(modes, minlength=n_modes)
    share = counts[counts > 0] / counts.sum()
    return int((counts > 0).sum()), float(np.sum(share * np.log(share * n_modes)))


def channel_digits(classifier: DomainClassifier, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The digit the classifier reads in each channel of ``images`` (N, C, S, S), as (N, C)."""
    channels = images.reshape(-1, 1, *images.shape[2:])
    logits = stream_features(classifier, channels, len(channels), batch_size).features
    return logits.argmax(axis=1).reshape(len(images), images.shape[1])


def load_channel_classifier(prepared: PreparedData) -> tuple[DomainClassifier, str, float]:
    """The prepared dataset's channel digit classifier, checked against its manifest: (model, sha256, test accuracy)."""
    entry = prepared.manifest["channel_classifier"]
    path = Path(prepared.directory) / entry["file"]
    if not path.is_file():
        raise ClassifierFileError(f"channel classifier {path} is missing; {rebuild_hint(prepared.dataset)}")
    sha = sha256_file(path)
    if sha != entry["sha256"]:
        raise ClassifierFileError(f"{path} does not match its manifest; {rebuild_hint(prepared.dataset)}")
    return load_classifier(path, prepared.dataset), sha, entry["test_accuracy"]


@register_scorer
class StackedModeScorer(Scorer):
    """Modes of stacked digits covered, and the KL of their histogram to uniform (see the module docstring)."""

    name = "stacked-modes"
    order = 750
    tasks = ("unconditional", "class-conditional")
    metrics = (MetricSpec("stacked_modes", "max"), MetricSpec("stacked_kl", "min"))

    def __init__(self, n_samples: int, eval_config: EvalConfig, classifier: DomainClassifier, sha256: str,
                 test_accuracy: float, stacked: dict[str, Any]) -> None:
        super().__init__(n_samples, eval_config)
        self.classifier, self.sha256, self.test_accuracy = classifier, sha256, test_accuracy
        self.place_values, self.n_modes = np.asarray(stacked["place_values"], dtype=np.int64), stacked["modes"]

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return prepared.kind == "images" and "channel_classifier" in prepared.manifest

    @classmethod
    def sample_count(cls, eval_config: EvalConfig) -> int:
        return STACKED_SAMPLES

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig,
              n_samples: int) -> StackedModeScorer:
        return cls(n_samples, eval_config, *load_channel_classifier(prepared), prepared.manifest["stacked"])

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        images = finite_samples(samples, self.n_samples)
        modes = channel_digits(self.classifier, images, self.eval_config.batch_size) @ self.place_values
        covered, kl = mode_coverage(modes, self.n_modes)
        return {f"stacked_modes{self.suffix}": covered, f"stacked_kl{self.suffix}": kl}

    def protocol(self) -> dict[str, Any]:
        return {"n_generated": self.n_samples, "kind": self.name, "n_modes": self.n_modes,
                "extractor": "channel-digit-classifier", "extractor_sha256": self.sha256,
                "classifier_test_accuracy": self.test_accuracy,
                "rule": "each channel classified by the digit classifier prepare trained on the real channels; mode = "
                        f"Σ_c {self.place_values.tolist()}[c]·d_c; stacked_modes: modes with >= 1 sample (VEEGAN, "
                        "PacGAN); stacked_kl: KL(p̂ ‖ uniform) in nats, empty modes contributing 0 (PacGAN)"}
