"""The scorer registry (StyleGAN2-ADA's ``metric_main.register_metric`` shape): one scorer per kind of
measurement, each declaring the tasks and data it applies to, its metric names with their directions, its
protocol and -- for the cheap ones that run during training -- how it ranks checkpoints.

Metric names carry the sample count (``fid_clf2500``, ``modes1k``), as StyleGAN2-ADA and mimicry name
theirs, so values computed on different N never share a column by accident. The evaluate stage runs every
scorer that applies; the training loop and the sweep use the first one that applies and ranks checkpoints of
the run's task (``in_training``).

Scorers are the modules of :mod:`pipeline.scoring.scorers`, each registering itself; the registry keeps them
sorted by their explicit ``order`` (not by module name), which fixes which in-training scorer comes first and
the order of metrics in tables.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData

if TYPE_CHECKING:
    from pipeline.features.passes import FeaturePasses


@dataclass(frozen=True)
class MetricSpec:
    """A metric's base name (without the sample count), which way is better, and whether tables show it."""

    base: str
    direction: str = ""  # "min", "max", or "" for a spread or a derived number (never ranked)
    shown: bool = True


#: The sample count of VEEGAN's protocol (Srivastava et al. 2017), for which eval.mode_min_samples is stated.
VEEGAN_SAMPLES = 2500


def count_label(n: int) -> str:
    """2500 → "2500", 10000 → "10k", 1000 → "1k" (the StyleGAN2-ADA / mimicry naming)."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def finite_samples(samples: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` samples; NaN or inf among them is an error (the generator has diverged)."""
    if not np.isfinite(samples[:n]).all():
        raise FloatingPointError("generated samples contain NaN or inf: the generator has diverged")
    return samples[:n]


class Scorer(ABC):
    """Scores ``n_samples`` generated samples of one dataset (see the module docstring)."""

    #: The protocol family in metrics files (``protocols[name]``, ``metric_protocol[metric] = name``).
    name: ClassVar[str]
    #: Position in the registry: the first applicable in-training scorer wins, and tables list metrics in this order.
    order: ClassVar[int]
    tasks: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    #: The tasks whose runs this scorer measures every ``train.eval_every`` steps (cheap enough) to pick the best
    #: checkpoint and rank sweep trials.
    in_training: ClassVar[tuple[str, ...]] = ()
    #: The metric (base) a sweep ranks trials by (None: the one :meth:`rank_key` orders by), and the coverage count
    #: the mode-collapse rule watches.
    tune_base: ClassVar[str | None] = None
    coverage_base: ClassVar[str | None] = None

    def __init__(self, n_samples: int, eval_config: EvalConfig) -> None:
        self.n_samples, self.eval_config = n_samples, eval_config

    @classmethod
    @abstractmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool: ...

    @classmethod
    @abstractmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer: ...

    @classmethod
    def sample_count(cls, eval_config: EvalConfig) -> int:
        """How many samples the evaluate stage scores."""
        return eval_config.n_samples

    @abstractmethod
    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float | None]:
        """Metric name → value on the first ``n_samples`` samples (drawn with ``conditions``); None: not computable."""

    @abstractmethod
    def protocol(self) -> dict[str, Any]:
        """What a reader needs to reproduce the numbers."""

    def use_passes(self, passes: FeaturePasses) -> None:
        """Run the scorer's network passes where the stage's ``passes`` say (in this process or as Ray tasks: the same
        numbers, so the protocol is unchanged); a scorer without heavy passes keeps its own, as here."""

    @property
    def min_samples(self) -> int:
        """``eval.mode_min_samples`` is stated for VEEGAN's 2,500 samples (20 of 2,500 covers a mode); with another
        count the same share is required, ``round(min_samples × N / 2500)`` (at least 1)."""
        return max(1, round(self.eval_config.mode_min_samples * self.n_samples / VEEGAN_SAMPLES))

    @property
    def suffix(self) -> str:
        return count_label(self.n_samples)

    def metric_names(self) -> list[str]:
        return [spec.base + self.suffix for spec in self.metrics]

    @property
    def rank_base(self) -> str:
        """The metric (base) :meth:`rank_key` orders by: the first ranked one."""
        return next(spec.base for spec in self.metrics if spec.direction)

    @property
    def tune_metric(self) -> str:
        return (self.tune_base or self.rank_base) + self.suffix

    @property
    def coverage_metric(self) -> str | None:
        return self.coverage_base + self.suffix if self.coverage_base else None

    def rank_key(self, metrics: dict[str, float]) -> tuple[float, ...]:
        """Larger is better: the :attr:`rank_base` metric (negated when lower is better)."""
        base = self.rank_base
        value = metrics[base + self.suffix]
        return (value if next(spec.direction for spec in self.metrics if spec.base == base) == "max" else -value,)


SCORERS: list[type[Scorer]] = []


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Add a scorer to the registry, kept sorted by ``order``; a second name or order is refused."""
    for existing in SCORERS:
        if cls.name == existing.name or cls.order == existing.order:
            raise ValueError(f"scorer {cls.name!r} (order {cls.order}) clashes with the registered scorer "
                             f"{existing.name!r} (order {existing.order}): names and orders must be unique")
    SCORERS.append(cls)
    SCORERS.sort(key=lambda registered: registered.order)
    return cls


def scorers_for(task: str, prepared: PreparedData, eval_config: EvalConfig) -> list[type[Scorer]]:
    """Every registered scorer that applies to this task and data, in registry order."""
    return [cls for cls in SCORERS if task in cls.tasks and cls.applies(prepared, eval_config)]


def in_training_scorer(task: str, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig,
                       n_samples: int) -> Scorer | None:
    """The first applicable scorer that ranks ``task``'s checkpoints, built for ``n_samples`` samples (None: none)."""
    for cls in scorers_for(task, prepared, eval_config):
        if task in cls.in_training:
            return cls.build(prepared, reference_dir, eval_config, n_samples)
    return None


def metric_base(metric: str) -> str:
    """``fid_clf2500`` → ``fid_clf``; a protocol tag (``fid5k [1a2b3c4d]``) is ignored."""
    return metric.split(" [")[0].rstrip("0123456789k")


def _spec(metric: str) -> MetricSpec | None:
    base = metric_base(metric)
    return next((spec for cls in SCORERS for spec in cls.metrics if spec.base == base), None)


def direction(metric: str) -> str:
    """"min" or "max" for a metric name with its sample-count suffix (``fid_clf2500`` → "min"); "" otherwise."""
    spec = _spec(metric)
    return spec.direction if spec else ""


def is_metric(column: str) -> bool:
    """Whether a name (e.g. a history column) is a metric of some registered scorer."""
    return _spec(column) is not None


def in_tables(metric: str) -> bool:
    """Whether a result table shows the metric: not a spread (``*_std``) or a derived ranking number (``modes_hq``)."""
    spec = _spec(metric)
    return spec.shown if spec else not metric_base(metric).endswith("_std")


def metric_order(metric: str) -> int:
    """Position of a metric in tables: registry order of the ranked metrics, everything else last."""
    ranked = [spec.base for cls in SCORERS for spec in cls.metrics if spec.direction]
    base = metric_base(metric)
    return ranked.index(base) if base in ranked else len(ranked)
