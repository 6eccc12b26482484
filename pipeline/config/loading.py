"""``params.yaml`` → a validated :class:`Config`, once, before any compute.

Loading refuses unknown keys, wrong types, NaN/inf and out-of-range values with one
:class:`ConfigError` naming the key, the value and what is allowed (PyTorch-StudioGAN's
strictness), then the constraints between keys, and finally every training of the
benchmark as its family would resolve it (a combination that makes no sense, such as
BatchNorm in a gradient-penalty critic, fails here, naming both settings).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from models.families import family_of, get_variant, load_builtin_families
from models.family import FamilyError, FAMILIES
from pipeline.config.reading import read_yaml
from pipeline.config.rules import ConfigError, printable, section_values
from pipeline.config.sections import (MAIN_SUITE, NAMED_SECTIONS, OVERRIDABLE, SECTIONS, Config, SuiteConfig,
                                      TrainConfig, TuneConfig)
from pipeline.config.suites import crossed_variants
from pipeline.config.space import COMPARE_GAN_V1_SPACE, PBT_KEYS, check_reads, parse_space, pbt_mutable
from pipeline.datasets import dataset_names

TOP_LEVEL = tuple(SECTIONS) + NAMED_SECTIONS


def parse(raw: Any, source: str = "params.yaml") -> Config:
    """Validate a parsed params mapping; raise :class:`ConfigError` on the first problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{source}: unknown section {key!r}; allowed sections: {', '.join(sorted(TOP_LEVEL))}")
    raw = dict(raw)
    spaces = {}
    for section in ("tune", "study"):
        raw_section = raw.get(section)
        if isinstance(raw_section, Mapping) and "space" in raw_section:
            raw[section] = {k: v for k, v in raw_section.items() if k != "space"}
            spaces[section] = parse_space(raw_section["space"], source, section)
    sections = {name: cls(**section_values(name, cls, raw.get(name), source)) for name, cls in SECTIONS.items()}
    for section, space in spaces.items():
        sections[section] = dataclasses.replace(sections[section], space=space)
    config = Config(**sections, overrides=_overrides(raw.get("overrides"), source),
                    families=_per_family(raw.get("families"), source, "families", "options"),
                    sampling=_per_family(raw.get("sampling"), source, "sampling", "sampling_options"),
                    suites=_suites(raw.get("suites"), source))
    for dataset, _ in config.overrides:
        _cross_check(config.for_dataset(dataset), source, f" (with overrides.{dataset})")
    _cross_check(config, source, "")
    _check_suites(config, source)
    _check_tune(config.tune, source)
    _check_spaces(config, source)
    _check_trainings(config, source)
    return config


def _suites(raw: Any, source: str) -> tuple[Any, ...]:
    """``suites.<name>``: each suite's settings, its ``train`` budget checked against the train section's rules."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section 'suites' must be a mapping of suite names, got {raw!r}")
    parsed = []
    for name, values in raw.items():
        if not isinstance(name, str) or not name or name == MAIN_SUITE:
            raise ConfigError(f"{source}: suites.{printable(name)}: a suite needs a name other than {MAIN_SUITE!r} "
                              "(the main suite is the benchmark section)")
        values = dict(values) if isinstance(values, Mapping) else values
        train = values.pop("train", None) if isinstance(values, dict) else None
        suite = SuiteConfig(**section_values(f"suites.{name}", SuiteConfig, values, source))
        budget = section_values(f"suites.{name}.train", TrainConfig, train, source)
        parsed.append((name, suite, tuple(budget.items())))
    return tuple(parsed)


def _check_suites(config: Config, source: str) -> None:
    """``benchmark.suites`` names defined suites; each suite's variants serve its task; every dataset the pipeline
    uses is prepared (``data.datasets``); no run is trained by two suites with different budgets."""
    defined = {name: suite for name, suite, _ in config.suites}
    for name in config.benchmark.suites:
        if name not in defined:
            raise ConfigError(f"{source}: benchmark.suites names {printable(name)}, which suites: does not define; "
                              f"defined: {', '.join(defined) or 'none'}")
    for key, suite in [("benchmark", config.benchmark)] + [(f"suites.{name}", suite) for name, suite in defined.items()]:
        try:
            crossed_variants(suite.families, suite.variants)
        except KeyError as err:
            raise ConfigError(f"{source}: {key}.families × {key}.variants: {err.args[0]}") from None
    for name, suite in defined.items():
        for variant in crossed_variants(suite.families, suite.variants):
            if suite.task is not None and family_of(variant).task != suite.task:
                raise ConfigError(f"{source}: suites.{name}: variant {variant} serves {family_of(variant).task}, "
                                  f"not the suite's task {suite.task}")
    used = {d for suite in config.running_suites() for d in suite.datasets}
    used |= {d for suite in defined.values() for d in suite.datasets} | {config.tune.dataset, config.study.dataset}
    missing = sorted(used - set(config.data.datasets))
    if missing:
        raise ConfigError(f"{source}: data.datasets must list every dataset the suites, tune and study use "
                          f"(dvc repro prepares only those); add {', '.join(missing)}")
    budgets: dict[tuple[str, str, int], tuple[str, dict[str, Any]]] = {}
    for suite in config.running_suites():
        for run in suite.runs():
            seen = budgets.setdefault(run, (suite.name, dict(suite.train)))
            if seen[1] != dict(suite.train):
                raise ConfigError(f"{source}: {'-'.join(map(str, run))} is in suites {seen[0]} and {suite.name} with "
                                  "different train budgets; one run has one budget: give the suites different "
                                  "seeds or the same train settings")


def _overrides(raw: Any, source: str) -> tuple[Any, ...]:
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section 'overrides' must be a mapping of datasets, got {raw!r}")
    overrides = []
    for dataset, per_section in (raw or {}).items():
        if dataset not in dataset_names():
            raise ConfigError(f"{source}: overrides.{printable(dataset)} names an unknown dataset; "
                              f"known: {', '.join(dataset_names())}")
        if not isinstance(per_section, Mapping):
            raise ConfigError(f"{source}: overrides.{dataset} must be a mapping of sections")
        parsed = []
        for section, values in per_section.items():
            if section not in OVERRIDABLE:
                raise ConfigError(f"{source}: overrides.{dataset}.{printable(section)} cannot be overridden; "
                                  f"overridable: {', '.join(OVERRIDABLE)}")
            checked = section_values(section, SECTIONS[section], values, f"{source} (overrides.{dataset})")
            parsed.append((section, tuple(checked.items())))
        overrides.append((dataset, tuple(parsed)))
    return tuple(overrides)


def _per_family(raw: Any, source: str, section: str, attribute: str) -> tuple[tuple[str, Any], ...]:
    """``<section>.<name>`` (``families``: a family's own options; ``sampling``: how the evaluation samples it),
    each checked against the family's dataclass ``attribute`` (``options`` or ``sampling_options``)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section {section!r} must be a mapping of family names, got {raw!r}")
    load_builtin_families()
    parsed = []
    for name, values in raw.items():
        family = FAMILIES.get(name)
        if family is None:
            raise ConfigError(f"{source}: {section}.{printable(name)} names an unknown family; "
                              f"known: {', '.join(sorted(FAMILIES))}")
        options = getattr(family, attribute)
        if options is None:
            what = "options of its own" if section == "families" else "sampling options"
            raise ConfigError(f"{source}: {section}.{name}: family {name} takes no {what}")
        parsed.append((name, options(**section_values(f"{section}.{name}", options, values, source))))
    return tuple(parsed)


def _cross_check(config: Config, source: str, where: str) -> None:
    """Constraints between keys."""
    if config.eval.batch_size > config.eval.n_samples:
        raise ConfigError(f"{source}{where}: eval.batch_size ({config.eval.batch_size}) exceeds eval.n_samples ({config.eval.n_samples})")
    if config.ray.sync_batchnorm and not config.ray.use_gpu:
        raise ConfigError(f"{source}{where}: ray.sync_batchnorm needs ray.use_gpu: true (SyncBatchNorm runs on CUDA only)")


def _check_tune(tune: TuneConfig, source: str) -> None:
    """Constraints of a sweep that Ray Tune would only report after trials started."""
    if tune.eval_every > tune.steps:
        raise ConfigError(f"{source}: tune.eval_every ({tune.eval_every}) exceeds tune.steps ({tune.steps}): "
                          "the objective would never be measured")
    if tune.scheduler == "asha" and not tune.eval_every <= tune.grace_period <= tune.steps:
        raise ConfigError(f"{source}: tune.grace_period ({tune.grace_period}) must lie between tune.eval_every "
                          f"({tune.eval_every}) and tune.steps ({tune.steps})")
    if tune.workers_per_trial > 1 and (tune.cpus_per_trial % tune.workers_per_trial or tune.cpus_per_trial < tune.workers_per_trial):
        raise ConfigError(f"{source}: tune.cpus_per_trial ({tune.cpus_per_trial:g}) must be a whole multiple of "
                          f"tune.workers_per_trial ({tune.workers_per_trial}): each Ray Train worker takes whole CPUs")
    if tune.scheduler == "pbt":
        _check_pbt(tune, source)


def _check_pbt(tune: TuneConfig, source: str) -> None:
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
    if not any(pbt_mutable(d) for d in tune.space):
        raise ConfigError(f"{source}: tune.scheduler pbt mutates {', '.join(PBT_KEYS)} (short names lr, lr_g, lr_d, "
                          "k_d_steps); put at least one of them in tune.space")


def _check_spaces(config: Config, source: str) -> None:
    """Each sweep's space names only what the families of its variants read (the study's default space too)."""
    try:
        check_reads(config.tune.space, config.tune.variants, "tune")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    try:
        check_reads(config.study.space or COMPARE_GAN_V1_SPACE, config.study.variants, "study")
    except ConfigError as err:
        default = "" if config.study.space else (" (study.space is left out, so the study searches compare_gan's "
                                                 "v1 space: give a study.space)")
        raise ConfigError(f"{source}: {err}{default}") from None


def _check_trainings(config: Config, source: str) -> None:
    """Check every training of the benchmark (and the sweeps' variants) as its family will: data its task cannot
    train on (a class-conditional family on unlabelled points) and settings that cannot go together fail now,
    naming the dataset, the variant and why (the data as ``prepare`` will make it)."""
    pairs = {(d, v) for suite in config.defined_suites() for d in suite.datasets for v in suite.variants}
    pairs |= {(config.tune.dataset, v) for v in config.tune.variants}
    pairs |= {(config.study.dataset, v) for v in config.study.variants}
    for dataset, variant in sorted(pairs):
        merged = config.for_dataset(dataset)
        family = family_of(variant)
        try:
            data = merged.provisional_data(dataset)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
        try:
            family.check_data(data)
            family.resolve(get_variant(variant), merged.hyperparameters(family.name), data, merged.ray.num_workers)
        except FamilyError as err:
            raise ConfigError(f"{source}: {dataset} × {variant}: {err}") from None


def load(path: str | Path = "params.yaml") -> Config:
    """Read and validate a params file (:func:`pipeline.config.reading.read_yaml` refuses duplicate keys)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file {path} not found; run from the project root or pass --params FILE")
    return parse(read_yaml(path), str(path))
