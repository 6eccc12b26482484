"""The equal-budget study on real Ray and MLflow: every variant gets the same number of random samples and steps,
each trial a child run tagged with its variant, and ``ganlab study-report`` renders the result."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def test_every_variant_gets_the_same_samples_and_steps_and_the_report_renders(prepared):
    from mlflow.tracking import MlflowClient

    from pipeline.reporting.study_section import study_report
    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.tuning.study import run_study

    config = tiny_config(benchmark={"datasets": ["ring8"], "variants": ["hinge"], "seeds": [0]},
                         study={"dataset": "ring8", "variants": ["hinge", "lsgan", "wgan-gp"], "num_samples": 2,
                                "steps": 20, "eval_every": 10, "eval_samples": 100, "cpus_per_trial": 0.5},
                         tune={"stop_after_step": 1000})
    summary = run_study(config)
    trials = pd.read_csv("study/trials.csv")
    assert summary["trials"] == 6 and summary["equal_budget"] and summary["scheduler"] == "fifo"
    assert trials["variant"].value_counts().to_dict() == {"hinge": 2, "lsgan": 2, "wgan-gp": 2}
    assert set(trials["steps"]) == {20} and set(trials["stop_reason"]) == {"completed"}
    assert trials.groupby("variant")["lr"].nunique().min() == 2, "each variant its own random samples"
    client = MlflowClient(resolve_tracking_uri(config))
    parent = client.get_run(summary["parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{summary['parent_run_id']}'")
    assert sorted(run.data.tags["variant"] for run in children) == sorted(trials["variant"])
    for run in children:
        assert float(run.data.params["optimiser.lr_g"]) == float(run.data.params["optimiser.lr_d"]), "one learning rate"
    html = study_report(config)
    assert html.is_file() and "Equal-budget study on ring8" in (html.parent / "report.md").read_text()
    assert sorted(p.name for p in (html.parent / "figures").iterdir()) == ["study-budget.png", "study-distribution.png"]
