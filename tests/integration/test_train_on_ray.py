"""`ganlab train` + `ganlab evaluate` on a real local Ray with a real sqlite MLflow store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.common.layout import metrics_file, model_dir, run_dir
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def test_train_then_evaluate_tracks_one_mlflow_run(prepared):
    from mlflow.tracking import MlflowClient

    from pipeline.scoring.evaluate import evaluate
    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.training.stage import train

    config = tiny_config(train={"steps": 8, "log_every": 2, "eval_every": 4, "checkpoint_every": 4},
                         ray={"cpus_per_worker": 1})
    summary = train(config, "ring8", "hinge", 0)

    out = run_dir("ring8", "hinge", 0)
    for name in ("history.csv", "samples.png", "train_summary.json"):
        assert (out / name).is_file(), name
    assert {p.name for p in model_dir("ring8", "hinge", 0).iterdir()} == {"state.pt", "generators.pt"}
    history = pd.read_csv(out / "history.csv")
    assert history["step"].tolist() == [2, 4, 6, 8]
    measured = history.dropna(subset=["modes100"])
    assert measured["step"].tolist() == [4, 8]
    ranked = sorted(measured.itertuples(), key=lambda row: (row.modes_strict100, row.hq100, -row.step))  # ties: earlier
    assert summary["steps"] == 8 and summary["best_step"] == ranked[-1].step, "best = most modes (strict rule), then most hq"
    assert summary["best_metrics"]["hq100"] == ranked[-1].hq100

    client = MlflowClient(resolve_tracking_uri(config))
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert {k: run.data.tags[k] for k in ("variant", "dataset", "seed", "stage")} == {
        "variant": "hinge", "dataset": "ring8", "seed": "0", "stage": "train"}
    assert "git_commit" in run.data.tags
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.data.params["optimiser.lr_g"] == "0.0002" and run.data.params["train.steps"] == "8"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/d")]
    assert sorted(steps) == [2, 4, 6, 8], "every logged step exactly once"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval/modes100")] == [4, 8]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"history.csv", "samples.png", "train_summary.json"} <= artifacts

    result = evaluate(config, "ring8", "hinge", 0)
    saved = json.loads(metrics_file("ring8", "hinge", 0).read_text())
    assert saved["final"]["step"] == 8 and saved["best"]["step"] == summary["best_step"]
    assert set(saved["final"]) == {"step", "status", "modes200", "modes_strict200", "hq200", "mode_kl200", "modes_hq200"}
    assert saved["final"]["modes_hq200"] == saved["final"]["modes_strict200"] + saved["final"]["hq200"]
    protocol = saved["protocols"]["modes"]
    assert protocol["n_generated"] == 200 and protocol["kind"] == "modes" and len(protocol["id"]) == 8
    assert saved["metric_protocol"] == dict.fromkeys(["modes200", "modes_strict200", "hq200", "mode_kl200", "modes_hq200"], "modes")
    assert result["run_id"] == summary["run_id"]
    logged = client.get_run(summary["run_id"]).data.metrics
    assert logged["final/modes200"] == saved["final"]["modes200"]
    assert len(client.search_runs([run.info.experiment_id])) == 1
