"""The class-conditional toy family (tests/families/toy_conditional.py) through everything a built-in family goes
through: `ganlab train`'s Ray Train run with a worker killed and restarted from its checkpoint, its MLflow run,
the evaluate stage with the class-conditional scorers, and the report."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

import tests.families.toy_conditional  # noqa: F401  (registers toy-cgan here; Ray's workers import it from the job)
from pipeline.common.layout import metrics_file, run_dir, train_summary_file
from pipeline.config import parse as parse_config
from tests.conftest import PROJECT, tiny_config

pytestmark = pytest.mark.slow


def test_the_toy_family_trains_on_ray_is_tracked_scored_and_reported(prepared, monkeypatch):
    from mlflow.tracking import MlflowClient

    from pipeline.reporting.stage import report
    from pipeline.scoring.evaluate import evaluate
    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.training.stage import train

    # The local Ray's workers find this test's family module where this process does (a family of the project
    # itself lives in models/families/, which every worker imports).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]))
    config = tiny_config(benchmark={"datasets": ["digits"], "variants": ["toy-cgan"], "seeds": [0]},
                         train={"steps": 20, "log_every": 5, "eval_every": 10, "checkpoint_every": 10,
                                "eval_samples": 200},
                         ray={"cpus_per_worker": 1, "max_failures": 1, "fail_at_step": 15})
    summary = train(config, "digits", "toy-cgan", 0)
    assert summary["steps"] == 20 and summary["family"] == "toy-cgan"
    assert summary["resumed_from"] == [10], "the killed worker's group restarted from the step-10 checkpoint"
    client = MlflowClient(resolve_tracking_uri(config))
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["family"] == "toy-cgan"
    assert run.data.params["n_classes"] == "10" and run.data.params["family"] == "toy-cgan"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss/d")) == [5, 10, 15, 20]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval/intra_fid_clf200")] == [10, 20]

    result = evaluate(config, "digits", "toy-cgan", 0)
    saved = json.loads(metrics_file("digits", "toy-cgan", 0).read_text())
    assert saved == json.loads(json.dumps(result))
    assert set(saved["protocols"]) == {"classifier", "class-conditional", "swd", "ms_ssim"}
    final = saved["final"]
    assert final["status"] == "ok" and 0.0 <= final["class_acc200"] <= 1.0 and final["fid_clf200"] > 0
    assert final["intra_fid_clf200"] is not None, "20 samples per class exceed the 8 feature dimensions"
    assert client.get_run(summary["run_id"]).data.metrics["final/class_acc200"] == final["class_acc200"]
    assert saved["protocols"]["classifier"]["sampling"] == {"psi": None}

    truncated = dataclasses.replace(config, sampling=parse_config({"sampling": {"toy-cgan": {"psi": 0.5}}}).sampling)
    rescored = evaluate(truncated, "digits", "toy-cgan", 0)
    assert rescored["protocols"]["classifier"]["sampling"] == {"psi": 0.5}, "the truncation is in the protocol"
    assert rescored["protocols"]["classifier"]["id"] != saved["protocols"]["classifier"]["id"]
    assert rescored["final"]["fid_clf200"] != final["fid_clf200"], "re-scored with truncated noise"
    assert json.loads(train_summary_file("digits", "toy-cgan", 0).read_text())["run_id"] == summary["run_id"]

    report(config)
    markdown = open("reports/benchmark.md").read()
    assert "class_acc200" in markdown and "intra_fid_clf200" in markdown and "| toy-cgan |" in markdown
    assert (run_dir("digits", "toy-cgan", 0) / "samples.png").is_file()
