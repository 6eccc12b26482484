"""What a finished sweep leaves behind: ``tune/trials.csv``, ``tune/trial_curves.csv``, ``tune/best_params.yaml``, ``tune/summary.json``.

* ``trials.csv`` -- one row per trial: its hyperparameters, why it ended, steps trained, the
  objective at its last and at its best measurement, its MLflow run.
* ``trial_curves.csv`` -- every measurement of the objective: trial id, step, value (what ASHA
  and PBT saw when they stopped or exploited a trial).
* ``best_params.yaml`` -- a complete params file that retrains the winner:
  ``ganlab train --params tune/best_params.yaml`` (the winner's settings sit in
  ``overrides.<dataset>``, which take precedence over the shared sections -- a family's own options in
  ``families.<family>`` --, and
  ``benchmark`` names only the tuned dataset and the winning variant).

The winner is the trial with the best objective at any of its measurements, the
same rule that picks the best checkpoint of a training (GAN quality can peak
before the end).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import yaml

from pipeline.cluster.failures import failure_cause
from pipeline.config import Config
from pipeline.training.stop_rules import COMPLETED, EARLY_STOPPED, ERROR
from pipeline.tuning.space import sample_values


def trial_row(result: Any, hyperparameters: list[str], metric: str, mode: str, steps: int) -> dict[str, Any]:
    """One ``trials.csv`` row from a Ray Tune ``Result``."""
    last = result.metrics or {}
    history = result.metrics_dataframe if result.metrics_dataframe is not None else pd.DataFrame()
    measured = history[[c for c in ("step", metric) if c in history]].dropna() if metric in history else pd.DataFrame()
    best_value, best_step = math.nan, None
    if len(measured):
        index = measured[metric].idxmin() if mode == "min" else measured[metric].idxmax()
        best_value, best_step = float(measured.loc[index, metric]), int(measured.loc[index, "step"])
    trained = int(last.get("step", 0))
    reason = last.get("stop_reason") or (ERROR if result.error else COMPLETED if trained >= steps else EARLY_STOPPED)
    config = result.config or {}
    return {
        "trial_id": last.get("trial_id", ""),
        **{name: config.get(name) for name in hyperparameters},
        "stop_reason": reason,
        "steps": trained,
        metric: float(last.get(metric, math.nan)),
        f"best_{metric}": best_value,
        "best_step": best_step,
        "time_s": round(float(last.get("time_total_s", 0.0)), 1),
        "error": failure_cause(result.error) if result.error else "",
    }


def trial_curve(result: Any, metric: str) -> pd.DataFrame:
    """``trial_curves.csv`` rows of one trial: (trial_id, step, metric) at each measurement."""
    history = result.metrics_dataframe
    if history is None or metric not in history or "step" not in history:
        return pd.DataFrame(columns=["trial_id", "step", metric])
    measured = history[["step", metric]].dropna().drop_duplicates("step", keep="last")
    trial_id = (result.metrics or {}).get("trial_id", "")
    return measured.assign(trial_id=trial_id)[["trial_id", "step", metric]]


def best_trial(table: pd.DataFrame, metric: str, mode: str) -> pd.Series | None:
    scored = table.dropna(subset=[f"best_{metric}"])
    if scored.empty:
        return None
    column = scored[f"best_{metric}"]
    return scored.loc[column.idxmin() if mode == "min" else column.idxmax()]


def best_params(config: Config, winner: pd.Series, hyperparameters: list[str]) -> dict[str, Any]:
    """A complete params mapping that retrains ``winner`` (see module docstring)."""
    tune = config.tune
    params = config.to_dict()
    variant, sections = sample_values(config, tune.dataset, {name: winner[name] for name in hyperparameters})
    params["benchmark"] = {"datasets": [tune.dataset], "variants": [variant], "seeds": list(config.benchmark.seeds)}
    overrides = params["overrides"].setdefault(tune.dataset, {})
    overrides.setdefault("train", {})["steps"] = tune.steps
    for family, options in sections.pop("families").items():
        params["families"].setdefault(family, {}).update(_plain(options))
    for section, values in sections.items():
        if values:
            overrides.setdefault(section, {}).update(_plain(values))
    return params


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Values as YAML writes them (tuples as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


def best_params_text(params: dict[str, Any], winner: pd.Series, metric: str, parent_run_id: str) -> str:
    header = (f"# Written by `ganlab tune`: the winner of sweep run {parent_run_id} (trial {winner['trial_id']}, "
              f"best {metric} = {winner[f'best_{metric}']:.6g} at step {int(winner['best_step'])}).\n"
              f"# Retrain it with: ganlab train --params tune/best_params.yaml\n")
    return header + yaml.safe_dump(params, sort_keys=False)
