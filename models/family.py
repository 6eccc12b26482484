"""The plug-in point of every GAN family: tasks, the family interface, variants and their registries.

A **task** says what is generated from what (DESIGN.md): ``unconditional`` (z → x),
``class-conditional`` ((z, y) → x), ``paired-translation`` (x_A → x_B, pairs known),
``unpaired-translation`` (A ↔ B) and ``super-resolution`` (low-res → high-res). A training
batch is a dict of tensors: ``x`` always, ``y`` (labels) for class-conditional tasks,
``source`` (input images) for the others.

A **family** is one registered recipe (:class:`Family`): the task it serves, how it
resolves params into its settings (networks from a spec and the data's shape, optimisers
with the papers' defaults), how it creates one worker's networks and optimisers
(:class:`FamilyRun`: the training step and the state for checkpoints), and how it samples
for evaluation. The training loop, checkpoints, Ray, Tune, MLflow and the report know only
this interface. A **variant** names one family and what differs inside it: the adversarial
loss, the regulariser and the optimiser settings its paper used.

Built-in families are the modules of :mod:`models.families`, which finds them by name and
answers lookups (``get_family``, ``get_variant``): a new family is one module there (calling
:func:`register_family` and :func:`register_variant`) plus its tests.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import Tensor, nn

from models.losses import AdversarialLoss
from models.plain import from_plain
from models.progress import Progress

TASKS = ("unconditional", "class-conditional", "paired-translation", "unpaired-translation", "super-resolution")
#: The batch keys each task trains on.
TASK_INPUTS: dict[str, tuple[str, ...]] = {
    "unconditional": ("x",),
    "class-conditional": ("x", "y"),
    "paired-translation": ("x", "source"),
    "unpaired-translation": ("x", "source"),
    "super-resolution": ("x", "source"),
}
Batch = dict[str, Tensor]
#: Sampler and family names: what MLflow takes in metric and tag names (a sampler's metrics are <sampler>/final/…).
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\- ]+")


class FamilyError(ValueError):
    """Settings a family cannot train with; the message names the settings and why."""


@dataclass(frozen=True)
class DataSpec:
    """What a family sees of its data: the kind, one sample's shape, the label count, the input images' shape."""

    kind: str  # "points" (2-D mixtures) or "images"
    shape: tuple[int, ...]  # (2,) for points, (C, H, W) for images
    n_classes: int = 0  # 0: unlabelled
    source_shape: tuple[int, ...] | None = None  # translation and super-resolution inputs
    #: How ``source`` relates to ``x``: "paired" (row i of each belongs together: translation pairs, low/high
    #: resolution), "unpaired" (two domains of their own sizes, drawn independently), None (no source).
    pairing: str | None = None


def _pairing_problem(task: str, data: DataSpec) -> str | None:
    """What the inputs of a translation or super-resolution task lack in ``data``, or None."""
    if data.source_shape is None:
        return None
    same_size = tuple(data.source_shape[1:]) == tuple(data.shape[1:])
    smaller = all(s < x for s, x in zip(data.source_shape[1:], data.shape[1:]))
    if task == "paired-translation" and (data.pairing != "paired" or not same_size):
        return (f"input images paired row by row with x, of x's size {tuple(data.shape[1:])}; this dataset's are "
                f"{data.pairing}, of size {tuple(data.source_shape[1:])}")
    if task == "super-resolution" and (data.pairing != "paired" or not smaller):
        return (f"low-resolution inputs paired with x, smaller than {tuple(data.shape[1:])}; this dataset's are "
                f"{data.pairing}, of size {tuple(data.source_shape[1:])}")
    if task == "unpaired-translation" and data.pairing != "unpaired":
        return f"two image domains drawn independently; this dataset's are {data.pairing}"
    return None


@dataclass(frozen=True)
class NetworkOptions:
    """params ``model``: the architecture and its size; "auto" lets the family choose from the data."""

    arch: str = "auto"
    z_dim: int = 64
    width: int = 64
    depth: int = 3
    norm: str = "auto"


@dataclass(frozen=True)
class LossOptions:
    """params ``loss``: the regulariser ("auto": the variant's own) and the coefficients of the papers."""

    regulariser: str = "auto"
    wgan_clip: float = 0.01
    gp_lambda: float = 10.0
    lsgan_targets: tuple[float, float, float] = (0.0, 1.0, 1.0)


@dataclass(frozen=True)
class OptimiserOptions:
    """params ``train``'s optimiser keys; ``None`` takes the variant's paper default."""

    name: str | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    betas: tuple[float, float] | None = None
    k_d_steps: int | None = None
    lr_factor: float = 1.0  # train.lr_scaling: linear → the number of workers (Goyal et al. 2017)


@dataclass(frozen=True)
class Hyperparameters:
    """Everything params say about one run's GAN; a family reads what applies to it."""

    network: NetworkOptions = NetworkOptions()
    loss: LossOptions = LossOptions()
    optimiser: OptimiserOptions = OptimiserOptions()
    options: Any = None  # the family's own options (params ``families.<name>``), an instance of Family.options


@dataclass(frozen=True)
class OptimiserDefaults:
    """The optimiser settings a variant's paper used (overridable from params)."""

    name: str = "adam"  # "adam" or "rmsprop" (RMSprop ignores ``betas``)
    lr_g: float = 2.0e-4
    lr_d: float = 2.0e-4
    betas: tuple[float, float] = (0.5, 0.999)
    k_d_steps: int = 1


#: Radford et al. (2016), Sec. 4: Adam, lr 2e-4, β1 = 0.5, one D step per G step.
DCGAN_ADAM = OptimiserDefaults()


@dataclass(frozen=True)
class Variant:
    """A named recipe inside a family: one adversarial loss, one regulariser, its paper's optimiser."""

    name: str
    family: str
    loss: type[AdversarialLoss]
    regulariser: str = "none"
    optimiser: OptimiserDefaults = field(default=DCGAN_ADAM)
    reference: str = ""


@dataclass(frozen=True)
class RunContext:
    """Where and how one worker runs a family: device, the wrapper of trainable nets (DDP under Ray Train),
    the seed of the initial weights, G's EMA (decay, start step, ramp-up; :mod:`models.ema`) and the mixed
    precision."""

    device: torch.device = torch.device("cpu")
    wrap: Callable[[nn.Module], nn.Module] = lambda module: module
    seed: int = 0
    ema_decay: float | None = None
    precision: str = "fp32"
    ema_start: int = 0
    ema_rampup: float | None = None
    #: The feature network a family asks for (:attr:`Family.uses_feature_network`): frozen, in eval mode, images →
    #: features; None for the others.
    feature_network: nn.Module | None = None


@dataclass(frozen=True)
class SamplerSpec:
    """One network the evaluation samples from, by name: a family's main generator, or another one it trains
    (an unpaired translation's B→A, a stacked generator's first stage). Each is scored by the task's scorers."""

    name: str
    title: str = ""  # how reports name it ("" : the name)
    #: Translates the data's ``x`` domain back into its ``source`` domain (an unpaired translation's B→A): scored by
    #: the task's scorers on the data with its two domains swapped, and the round trip A→B→A gives the cycle error.
    reverse: bool = False


#: The name of the one sampler of a family that declares none.
MAIN_SAMPLER = "generator"


@dataclass(frozen=True)
class Curve:
    """A figure of the report drawn from step statistics: columns, title, y label, log scale."""

    columns: tuple[str, ...]
    title: str
    ylabel: str
    log: bool = False


class FamilyRun(ABC):
    """One worker's instance of a family: its networks, optimisers and everything a checkpoint holds."""

    @abstractmethod
    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        """One full iteration of the family's algorithm at ``progress`` (the step index, the total, images seen);
        plain floats (absent keys: not measured this step)."""

    @abstractmethod
    def sampler(self, name: str | None = None) -> nn.Module:
        """The network sampler ``name`` draws from (None: the family's main one), e.g. the EMA of G."""

    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """The bare trained networks by name (their weights are the run's weights)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Every module, optimiser, loss scaler, EMA and schedule state (tensors and plain containers only)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    @abstractmethod
    def use_settings(self, settings: Any) -> None:
        """Adopt another trial's state with this run's own optimiser settings (PBT's explore step)."""

    def overflowed(self) -> bool:
        """Whether mixed precision can no longer represent the gradients (a collapsed loss scale)."""
        return False

    def scale_learning_rates(self, factor: float) -> None:
        """Set every optimiser's learning rate to ``factor`` × its setting (``train.lr_decay``,
        :mod:`models.schedule`). A family whose runs cannot do this refuses a schedule."""
        raise NotImplementedError(f"{type(self).__name__} has no learning-rate schedule; leave train.lr_decay: none")


class Family(ABC):
    """A registered GAN recipe (see the module docstring)."""

    name: ClassVar[str]
    task: ClassVar[str]
    reference: ClassVar[str]
    #: The frozen dataclass :meth:`resolve` returns (checkpointed, fingerprinted, logged as MLflow params).
    settings: ClassVar[type]
    #: The family's own hyperparameters (params ``families.<name>``), a frozen dataclass of ``option`` fields.
    options: ClassVar[type | None] = None
    #: The networks the evaluation samples from; the first is the main one (the in-training metric watches it, and
    #: a report's row of the variant is its); every one is scored.
    samplers: ClassVar[tuple[SamplerSpec, ...]] = (SamplerSpec(MAIN_SAMPLER),)
    #: Step statistic → stable MLflow metric name.
    step_metrics: ClassVar[Mapping[str, str]] = {}
    #: The report's figures of step statistics.
    curves: ClassVar[tuple[Curve, ...]] = ()
    #: Options of sampling for evaluation (e.g. truncation ψ), a frozen dataclass of ``option`` fields (params
    #: ``sampling.<family>``). They belong to the evaluation, not to the run: recorded in the evaluation's protocol
    #: and outside the run key, so changing one re-scores the runs and retrains none. The in-training metric
    #: samples with the defaults.
    sampling_options: ClassVar[type | None] = None
    #: Whether the family trains with the content-addressed feature network (a frozen image → features map, e.g.
    #: SRGAN's content loss, Salimans et al.'s feature matching): today the dataset's domain classifier, whose
    #: sha256 is part of every run's key; only labelled image data has one.
    uses_feature_network: ClassVar[bool] = False
    #: The shared params keys :meth:`resolve` reads (``"model.width"``, ``"train.lr_g"``, ``"loss.gp_lambda"``):
    #: a search offers only these (and the family's own options); a key left out here is never searched for it.
    reads: ClassVar[tuple[str, ...]] = ()

    def check_data(self, data: DataSpec) -> None:
        """Refuse data the task cannot train on (before any compute)."""
        if self.task == "class-conditional" and data.n_classes < 2:
            raise FamilyError(f"family {self.name} is class-conditional and needs labelled data with at least "
                              f"2 classes, got {data.n_classes}")
        if TASK_INPUTS[self.task][-1] == "source" and data.source_shape is None:
            raise FamilyError(f"family {self.name} serves {self.task} and needs input images, which this dataset "
                              "does not provide")
        if self.uses_feature_network and (data.kind != "images" or data.n_classes < 2):
            raise FamilyError(f"family {self.name} trains with the feature network (the domain classifier), which "
                              "only labelled image data has")
        if (reason := _pairing_problem(self.task, data)) is not None:
            raise FamilyError(f"family {self.name} serves {self.task} and needs {reason}")

    @abstractmethod
    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> Any:
        """Params → this family's settings: every "auto" and paper default filled in."""

    @abstractmethod
    def create(self, settings: Any, data: DataSpec, context: RunContext) -> FamilyRun: ...

    @abstractmethod
    def build_sampler(self, settings: Any, data: DataSpec, name: str | None = None) -> nn.Module:
        """An untrained network of sampler ``name`` (None: the main one) of these settings (weights come from
        :meth:`sampler_weights`)."""

    @abstractmethod
    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        """Sampler ``name``'s weights in a :meth:`FamilyRun.state_dict` (e.g. the EMA when there is one)."""

    def sampler_names(self) -> tuple[str, ...]:
        """The names of :attr:`samplers`, the main one first."""
        return tuple(spec.name for spec in self.samplers)

    @abstractmethod
    def latent_dim(self, settings: Any) -> int:
        """Size of the noise vector a sample is drawn from (0: none)."""

    def sample_noise(self, n: int, latent_dim: int, rng: torch.Generator, options: Any = None) -> Tensor:
        """``n`` noise vectors for sampling (standard normal; a family with truncation draws them its way)."""
        return torch.randn(n, latent_dim, generator=rng)

    def generate(self, sampler: nn.Module, z: Tensor, conditions: Batch, options: Any = None) -> Tensor:
        """One batch of samples from noise ``z``, the task's conditions (labels or input images) and the sampling
        options (an instance of :attr:`sampling_options`, or None for a family without): ``sampler(z)``, or
        ``sampler(z, conditions)`` when the task has conditions."""
        return sampler(z, conditions) if conditions else sampler(z)

    def sampler_kind(self, state: dict[str, Any]) -> str:
        """What :meth:`sampler_weights` takes from a state, for the protocol: "EMA" or "raw" (the trained G)."""
        return "raw"

    def settings_from_dict(self, plain: Mapping[str, Any]) -> Any:
        """Settings back from the plain dict a checkpoint or generator file stores."""
        return from_plain(self.settings, plain)


FAMILIES: dict[str, Family] = {}
VARIANTS: dict[str, Variant] = {}


def _add(registry: dict[str, Any], name: str, item: Any, what: str, problem: str | None) -> Any:
    if name in registry:
        raise ValueError(f"{what} {name!r} is already registered")
    if problem:
        raise ValueError(problem)
    registry[name] = item
    return item


def register_family(family: Family) -> Family:
    problem = None if family.task in TASKS else (f"family {family.name!r} serves unknown task {family.task!r}; "
                                                 f"tasks: {', '.join(TASKS)}")
    for name in (family.name, *family.sampler_names()):
        if not NAME_PATTERN.fullmatch(name):
            problem = (f"family {family.name!r}: {name!r} is not a name MLflow can record (letters, digits, _ . - "
                       "and spaces); put other characters in the sampler's title")
    return _add(FAMILIES, family.name, family, "GAN family", problem)


def register_variant(variant: Variant) -> Variant:
    problem = None if variant.family in FAMILIES else (f"variant {variant.name!r} names family {variant.family!r}, "
                                                       "which is not registered")
    return _add(VARIANTS, variant.name, variant, "GAN variant", problem)

