"""One training job, fully resolved: dataset × variant × seed with every "auto" and paper default filled in.

The job is what the Ray training function receives and what a checkpoint's
fingerprint is computed from, so a checkpoint can only resume the job that
wrote it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.losses import build_loss, get_variant
from models.networks import NetworkSpec
from models.step import Objective
from pipeline.config import POINT_DATASETS, Config, EvalConfig, TrainConfig, fingerprint

#: Train settings that change how often things happen, not what is computed.
_SCHEDULE_ONLY = ("steps", "log_every", "checkpoint_every", "keep_checkpoints")


@dataclass(frozen=True)
class OptimiserSettings:
    name: str
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    k_d_steps: int


@dataclass(frozen=True)
class TrainingJob:
    dataset: str
    variant: str
    seed: int
    network: NetworkSpec
    optimiser: OptimiserSettings
    regulariser: str
    gp_lambda: float
    wgan_clip: float
    lsgan_targets: tuple[float, float, float]
    train: TrainConfig
    eval: EvalConfig
    world_size: int
    data_dir: str
    reference_dir: str

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.variant}-seed{self.seed}"

    @property
    def global_batch_size(self) -> int:
        return self.train.batch_size * self.world_size

    def objective(self) -> Objective:
        loss = build_loss(get_variant(self.variant), self.lsgan_targets)
        return Objective(loss=loss, regulariser=self.regulariser, gp_lambda=self.gp_lambda, clip=self.wgan_clip)

    def fingerprint(self) -> str:
        """Hash of everything that shapes the weights; schedule-only settings and paths are left out,
        so a finished run can be extended with more steps and a project can move."""
        payload = dataclasses.asdict(self)
        payload.pop("data_dir")
        payload.pop("reference_dir")
        for key in _SCHEDULE_ONLY:
            payload["train"].pop(key)
        return fingerprint(payload)

    def as_params(self) -> dict[str, Any]:
        """What MLflow records: every setting, not the machine-specific data paths."""
        params = dataclasses.asdict(self)
        params.pop("data_dir")
        params.pop("reference_dir")
        return params


def resolve_job(config: Config, dataset: str, variant: str, seed: int, data_shape: tuple[int, ...],
                data_dir: Path, reference_dir: Path) -> TrainingJob:
    """Fill "auto" settings and the variant's paper defaults for one training.

    ``train.batch_size`` is per worker, so the global batch is
    ``batch_size × ray.num_workers``; DDP averages gradients over it. With
    ``train.lr_scaling: linear`` both learning rates are multiplied by the
    number of workers (Goyal et al. 2017); with ``none`` they are used as given.
    """
    config = config.for_dataset(dataset)
    spec = get_variant(variant)
    regulariser = spec.regulariser if config.loss.regulariser == "auto" else config.loss.regulariser
    arch = config.model.arch
    if arch == "auto":
        arch = "mlp" if dataset in POINT_DATASETS else "dcgan"
    norm = config.model.norm
    if norm == "auto":
        norm = "none" if arch == "mlp" else "layer" if regulariser == "gradient-penalty" else "batch"
    defaults = spec.optimiser
    train = config.train
    world_size = config.ray.num_workers
    lr_factor = world_size if train.lr_scaling == "linear" else 1
    optimiser = OptimiserSettings(
        name=train.optimiser or defaults.name,
        lr_g=(train.lr_g or defaults.lr_g) * lr_factor,
        lr_d=(train.lr_d or defaults.lr_d) * lr_factor,
        betas=train.betas or defaults.betas,
        k_d_steps=train.k_d_steps or defaults.k_d_steps,
    )
    network = NetworkSpec(arch=arch, data_shape=tuple(data_shape), z_dim=config.model.z_dim,
                          width=config.model.width, depth=config.model.depth, d_norm=norm)
    return TrainingJob(
        dataset=dataset, variant=variant, seed=seed, network=network, optimiser=optimiser,
        regulariser=regulariser, gp_lambda=config.loss.gp_lambda, wgan_clip=config.loss.wgan_clip,
        lsgan_targets=config.loss.lsgan_targets, train=train, eval=config.eval, world_size=world_size,
        data_dir=str(data_dir.resolve()), reference_dir=str(reference_dir.resolve()),
    )
