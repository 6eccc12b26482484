"""One training job, fully resolved: dataset × variant × seed, with the family's settings (every "auto" and
paper default filled in).

The job is what the Ray training function receives and what a checkpoint's
fingerprint is computed from, so a checkpoint can only resume the job that
wrote it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from models.families import get_family, get_variant
from models.family import DataSpec, FamilyError
from pipeline.common.digest import fingerprint
from pipeline.config import Config, ConfigError, EvalConfig, RayConfig, TrainConfig

#: The eval keys the in-training metric reads (dvc.yaml's train stage lists exactly these); the others -- Inception,
#: KID, the k-NN metrics, the evaluation's sample count -- cannot change a training.
IN_TRAINING_EVAL = ("batch_size", "mode_sigmas", "mode_min_samples", "is_splits")
#: Train settings that change how often things happen, not what is computed.
_SCHEDULE_ONLY = ("steps", "log_every", "checkpoint_every", "keep_checkpoints")
CPU = "cpu"


@dataclass(frozen=True)
class TrainingJob:
    dataset: str
    variant: str
    family: str
    seed: int
    data: DataSpec
    settings: Any  # the family's settings dataclass (models.family.Family.settings)
    train: TrainConfig
    eval: EvalConfig
    world_size: int
    threads: int  # torch threads per worker: convolutions sum in another order with another count
    device: str  # "cpu", "cuda" or "cuda:<accelerator type>" (:func:`device_of`): another device, other sums

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.variant}-seed{self.seed}"

    @property
    def device_kind(self) -> str:
        """``cpu`` or ``cuda``: what torch calls the device (``device`` without the accelerator model)."""
        return self.device.split(":")[0]

    @property
    def global_batch_size(self) -> int:
        return self.train.batch_size * self.world_size

    def shaping_settings(self) -> dict[str, Any]:
        """Everything that shapes the weights: schedule-only settings are left out, so a finished run can be
        extended with more steps -- unless a learning-rate decay ties the rates to the number of steps."""
        payload = dataclasses.asdict(self)
        for key in _SCHEDULE_ONLY:
            if key != "steps" or self.train.lr_decay == "none":
                payload["train"].pop(key)
        return payload

    def fingerprint(self) -> str:
        """Hash of :meth:`shaping_settings` (what a checkpoint must match to be resumed)."""
        return fingerprint(self.shaping_settings())

    def as_params(self) -> dict[str, Any]:
        """What MLflow records: every setting (the family's at the top level)."""
        params = dataclasses.asdict(self)
        params.pop("settings")
        return {**params, **dataclasses.asdict(self.settings)}


def device_of(ray: RayConfig) -> str:
    """The device a job's workers train on: ``cpu``, or ``cuda`` with ``ray.use_gpu`` -- ``cuda:<type>`` when
    ``ray.accelerator_type`` pins the accelerator model (bit-exact reruns need the same model, not just a GPU)."""
    if not ray.use_gpu:
        return CPU
    return f"cuda:{ray.accelerator_type}" if ray.accelerator_type else "cuda"


def in_training_eval(eval_config: EvalConfig) -> EvalConfig:
    """The eval settings of a job: the in-training ones as given, every other one at its default."""
    return dataclasses.replace(EvalConfig(), **{key: getattr(eval_config, key) for key in IN_TRAINING_EVAL})


def resolve_job(config: Config, dataset: str, variant: str, seed: int, data: DataSpec) -> TrainingJob:
    """The job of one training: the variant's family resolves the dataset's params against its data.

    ``train.batch_size`` is per worker, so the global batch is ``batch_size × ray.num_workers``; DDP
    averages gradients over it (``train.lr_scaling`` decides whether the learning rates follow).
    """
    config = config.for_run(dataset, variant, seed)
    spec = get_variant(variant)
    family = get_family(spec.family)
    try:
        family.check_data(data)
        settings = family.resolve(spec, config.hyperparameters(family.name), data, config.ray.num_workers)
    except FamilyError as err:
        raise ConfigError(f"{dataset} × {variant}: {err}") from None
    return TrainingJob(dataset=dataset, variant=variant, family=family.name, seed=seed, data=data, settings=settings,
                       train=config.train, eval=in_training_eval(config.eval), world_size=config.ray.num_workers,
                       threads=max(1, int(config.ray.cpus_per_worker)), device=device_of(config.ray))
