"""Writing a finished sweep's outputs (``tune/``) and its results into the MLflow parent run.

The table comes from Ray Tune's results, each child run's ``stop_reason`` and status are reconciled with
Tune's view (a trial that its scheduler kills cannot always tag itself), and the winner's params file is
written only when some trial measured the objective. File formats: :mod:`pipeline.tuning.results`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.common.files import atomic_path, write_json
from pipeline.config import Config
from pipeline.training.stop_rules import ERROR
from pipeline.tuning.errors import SweepFailed
from pipeline.tuning.results import best_params, best_params_text, best_trial, trial_curve, trial_row
from pipeline.tuning.space import POINT_KEY, SEED_KEY, VARIANT_KEY
from pipeline.tuning.trial import TRIAL_ID_TAG

log = logging.getLogger("ganlab.tune")
OUTPUT_FILES = ("trials.csv", "trial_curves.csv", "best_params.yaml", "summary.json")


def hyperparameter_names(config: Config) -> list[str]:
    """The columns of ``trials.csv`` that say what a trial trained: with ``equal_budget`` first the shared
    point's index and the seed, then the searched values and the variant."""
    settings = config.tune
    placed = [POINT_KEY, SEED_KEY] if settings.equal_budget else []
    return placed + [d.name for d in settings.space] + ([VARIANT_KEY] if len(settings.variants) > 1 else [])


def trials_table(config: Config, grid: Any, metric: str, mode: str, failures: dict[str, int]) -> pd.DataFrame:
    """One row per trial (see ``trial_row``), plus Ray Tune's count of each trial's crashes."""
    rows = [trial_row(result, hyperparameter_names(config), metric, mode, config.tune.steps) for result in grid]
    table = pd.DataFrame(rows)
    table["failures"] = [failures.get(trial_id, 0) for trial_id in table["trial_id"]]
    return table


def reconcile_children(client: Any, table: pd.DataFrame, parent_run_id: str) -> None:
    """Give every trial its MLflow child run id, and each child run the stop reason and status Tune saw."""
    experiment = client.get_run(parent_run_id).info.experiment_id
    children = {run.data.tags.get(TRIAL_ID_TAG): run for run in client.search_runs(
        [experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")}
    table["mlflow_run_id"] = [children[t].info.run_id if t in children else "" for t in table["trial_id"]]
    for row in table.itertuples():
        child = children.get(row.trial_id)
        status = "FAILED" if row.stop_reason == ERROR else "FINISHED"
        if child is not None and (child.data.tags.get("stop_reason"), child.info.status) != (row.stop_reason, status):
            client.set_tag(child.info.run_id, "stop_reason", row.stop_reason)
            client.set_terminated(child.info.run_id, status)


def _sweep_summary(config: Config, table: pd.DataFrame, metric: str, mode: str, parent_run_id: str) -> dict[str, Any]:
    settings = config.tune
    return {
        "parent_run_id": parent_run_id, "dataset": settings.dataset, "metric": metric, "mode": mode,
        "scheduler": settings.scheduler, "search": settings.search, "steps": settings.steps,
        "equal_budget": settings.equal_budget, "num_samples": settings.num_samples, "seed": settings.seed,
        "space": [[d.name, d.kind] for d in settings.space], "variants": list(settings.variants),
        "trials": len(table), "trial_steps": int(table["steps"].sum()),
        "stop_reasons": {str(k): int(v) for k, v in table["stop_reason"].value_counts().items()},
        "best": None,
    }


def _write_winner(config: Config, winner: pd.Series, metric: str, parent_run_id: str, out: Path) -> dict[str, Any]:
    """``best_params.yaml`` of the winning trial; returns the summary's ``best`` entry."""
    hyperparameters = hyperparameter_names(config)
    params = best_params(config, winner, hyperparameters)
    with atomic_path(out / "best_params.yaml") as tmp:
        tmp.write_text(best_params_text(params, winner, metric, parent_run_id))
    return {"trial_id": winner["trial_id"], "mlflow_run_id": winner["mlflow_run_id"],
            metric: float(winner[f"best_{metric}"]), "step": int(winner["best_step"]),
            **{name: _python_scalar(winner[name]) for name in hyperparameters}}


def _log_to_parent(client: Any, summary: dict[str, Any], metric: str, parent_run_id: str, out: Path) -> None:
    from mlflow.entities import Metric

    values = {"trials": summary["trials"], "trial_steps": summary["trial_steps"],
              **{f"trials/{reason}": n for reason, n in summary["stop_reasons"].items()}}
    if summary["best"]:
        values[f"best/{metric}"] = summary["best"][metric]
        client.set_tag(parent_run_id, "best_trial", summary["best"]["trial_id"])
    client.log_batch(parent_run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in values.items()])
    for name in OUTPUT_FILES:
        if (out / name).is_file():
            client.log_artifact(parent_run_id, str(out / name))


def write_outputs(config: Config, client: Any, grid: Any, metric: str, mode: str, parent_run_id: str,
                  started: float, failures: dict[str, int], out: Path) -> dict[str, Any]:
    """``<out>/trials.csv``, ``trial_curves.csv``, ``best_params.yaml`` and ``summary.json``; the results in MLflow."""
    table = trials_table(config, grid, metric, mode, failures)
    reconcile_children(client, table, parent_run_id)
    table = table.sort_values(f"best_{metric}", ascending=mode == "min", na_position="last")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "trials.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "trial_curves.csv") as tmp:
        pd.concat([trial_curve(result, metric) for result in grid], ignore_index=True).to_csv(tmp, index=False)
    winner = best_trial(table, metric, mode)
    summary = _sweep_summary(config, table, metric, mode, parent_run_id)
    if winner is not None:
        summary["best"] = _write_winner(config, winner, metric, parent_run_id, out)
    summary["wall_time_s"] = round(time.monotonic() - started, 1)
    write_json(out / "summary.json", summary)
    _log_to_parent(client, summary, metric, parent_run_id, out)
    log.info("sweep done: %d trials (%s); best %s = %s\n%s", len(table), summary["stop_reasons"], metric,
             summary["best"][metric] if summary["best"] else "n/a",
             table.drop(columns=["error", "mlflow_run_id"]).to_string(index=False, max_rows=30))
    if winner is None:
        (out / "best_params.yaml").unlink(missing_ok=True)
        raise SweepFailed(f"no trial of the sweep measured {metric} ({summary['stop_reasons']}; see {out / 'trials.csv'}): "
                          "shift or narrow tune.space (e.g. smaller learning rates) and run it again")
    return summary


def _python_scalar(value: Any) -> Any:
    """numpy scalars → Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else value
