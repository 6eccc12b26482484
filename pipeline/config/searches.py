"""The params of the searches over settings: ``tune`` (a Ray Tune sweep) and ``study`` (the equal-budget study)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.families import variant_names
from models.options import option as _field
from pipeline.datasets import dataset_names


@dataclass(frozen=True)
class TuneConfig:
    """``ganlab tune``: a Ray Tune search of one dataset's training hyperparameters (``pipeline.tune``).

    ``space`` is parsed by :func:`pipeline.config.space.parse_space`; ``metric: auto`` is the
    in-training scorer's ``tune_metric`` (``modes_hq<N>`` for 2-D mixtures, ``fid_clf<N>`` for
    labelled images, ``N = eval_samples``; :mod:`pipeline.scoring`).
    """

    dataset: str = _field("ring8", choices=dataset_names)
    variants: tuple[str, ...] = _field(("wgan-gp",), choices=variant_names, doc="several: the variant is searched too")
    seed: int = _field(0, low=0)
    scheduler: str = _field("asha", choices=("asha", "pbt", "fifo"))
    search: str = _field("random", choices=("random", "optuna", "grid"))
    num_samples: int = _field(12, low=1, doc="trials of random and optuna search; grid tries every point once")
    grid_points: int = _field(3, low=2, doc="values per continuous dimension with search: grid")
    metric: str = _field("auto", doc="a metric of the in-training scorer, e.g. modes_hq1k, hq1k, fid_clf1000")
    mode: str = _field("auto", choices=("auto", "min", "max"))
    steps: int = _field(2000, low=1, doc="generator steps of a trial that is never stopped early")
    eval_every: int = _field(250, low=1, doc="R: objective measured and checkpoint reported every R steps")
    eval_samples: int = _field(1000, low=100)
    time_budget_s: float | None = _field(None, low=0.0, open_low=True, doc="stop the whole sweep after this long")
    cpus_per_trial: float = _field(1.0, low=0.0, open_low=True, doc="fractions let several small trials share a CPU")
    workers_per_trial: int = _field(1, low=1, doc=">1: each trial is a Ray Train run of that many DDP workers "
                                    "sharing cpus_per_trial")
    max_concurrent: int = _field(0, low=0, doc="0: as many as the CPUs allow")
    max_failures: int = _field(1, low=-1, doc="retries of a crashed trial from its last checkpoint; -1: forever")
    grace_period: int = _field(500, low=1, doc="ASHA: steps before a trial can be stopped")
    reduction_factor: int = _field(3, low=2, doc="ASHA: keep the best 1/reduction_factor at each rung")
    perturbation_interval: int = _field(500, low=1, doc="PBT: steps between exploit/explore decisions")
    quantile_fraction: float = _field(0.25, low=0.0, high=0.5, open_low=True, doc="PBT: bottom share that exploits the top")
    stop_after_step: int = _field(500, low=0, doc="collapse rules apply from this step on (NaN/inf always)")
    stop_d_fake_below: float = _field(1.0e-3, low=0.0, doc="D wins: mean D(G(z)) below this ...")
    stop_grad_g_below: float = _field(1.0e-4, low=0.0, doc="... while G's gradient norm is below this")
    stop_coverage_at_most: int = _field(1, low=0, doc="mode collapse: coverage falls to this many modes (classes)")
    equal_budget: bool = _field(False, doc="every variant trains the same num_samples random points of the space "
                                "(drawn once from seed) at the full budget (random search, fifo; the study's "
                                "protocol, Lucic et al. 2018)")
    seeds_per_sample: int = _field(1, low=1, doc="with equal_budget: each (point, variant) trained from this many "
                                   "seeds (seed, seed + 1, ...; random restarts)")
    space: tuple[Any, ...] = _field((), doc="{name: [loguniform|uniform, low, high] | [choice, [values]]}")


@dataclass(frozen=True)
class StudyConfig:
    """``ganlab study``: the equal-budget comparison of Lucic et al. 2018 ("Are GANs Created Equal?"): every variant
    gets ``num_samples`` random samples of the same ``space`` at ``steps`` steps each (no early stopping but the
    ``tune`` section's collapse rules); the report shows each variant's distribution and its expected best
    objective against the number of trials. The default space is compare_gan's v1 space (one learning rate for
    G and D, log-uniform 1e-5 … 1e-2; β1 uniform in [0, 1]; k in 1 … 5; λ log-uniform 0.1 … 100 where a
    gradient penalty applies)."""

    dataset: str = _field("digits", choices=dataset_names)
    variants: tuple[str, ...] = _field(("non-saturating", "lsgan", "wgan-gp"), choices=variant_names)
    seed: int = _field(0, low=0)
    num_samples: int = _field(8, low=1, doc="random points of the space, the same for every variant")
    seeds_per_sample: int = _field(2, low=1, doc="seeds each (point, variant) trains from (random restarts)")
    steps: int = _field(600, low=1, doc="generator steps of every trial")
    eval_every: int = _field(200, low=1)
    eval_samples: int = _field(1000, low=100)
    cpus_per_trial: float = _field(1.0, low=0.0, open_low=True)
    space: tuple[Any, ...] = _field((), doc="as tune.space; empty: compare_gan's v1 space")
