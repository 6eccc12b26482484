"""``params.yaml`` → frozen, typed configuration, validated once before any compute (see :mod:`.loading`).

Hand-written rather than pydantic: the rules sit next to each default (``models.options.option``), the
same checker serves every section, the overrides, ``tune.space`` and the families' own options, and each
refusal reads ``<file>: <key> = <value> ...; expected <what is allowed>`` -- the key as it is written in
params.yaml, which pydantic's error locations (``train -> lr_g``, several errors per message) are not.
"""

from pipeline.config.loading import load, parse
from pipeline.config.rules import ConfigError
from pipeline.config.sections import (OVERRIDABLE, SECTIONS, BenchmarkConfig, ClassifierConfig, Config, DataConfig,
                                      EvalConfig, LossConfig, MlflowConfig, ModelConfig, RayConfig, TrainConfig,
                                      TuneConfig)

__all__ = ["load", "parse", "ConfigError", "OVERRIDABLE", "SECTIONS", "BenchmarkConfig", "ClassifierConfig", "Config",
           "DataConfig", "EvalConfig", "LossConfig", "MlflowConfig", "ModelConfig", "RayConfig", "TrainConfig",
           "TuneConfig"]
