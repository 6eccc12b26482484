"""The equal-budget study on real Ray and MLflow: every variant trains the same random points from the same seeds
for the same steps, each trial a child run tagged with its variant and seed, and the report's study section reads
the result."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def test_every_variant_trains_the_same_points_seeds_and_steps_and_the_report_reads_them(prepared, tmp_path):
    from mlflow.tracking import MlflowClient

    from pipeline.reporting.study_section import read_study, study_section
    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.tuning.study import run_study

    config = tiny_config(benchmark={"datasets": ["ring8"], "variants": ["hinge"], "seeds": [0]},
                         study={"dataset": "ring8", "variants": ["hinge", "wgan-gp"], "num_samples": 2, "seeds_per_sample": 2,
                                "steps": 20, "eval_every": 10, "eval_samples": 100, "cpus_per_trial": 0.5},
                         tune={"stop_after_step": 1000})
    summary = run_study(config)
    trials = pd.read_csv("study/trials.csv")
    assert summary["trials"] == 8 and summary["equal_budget"] and summary["scheduler"] == "fifo"
    assert sorted(zip(trials["variant"], trials["sample"], trials["seed"])) == [
        (v, i, s) for v in ("hinge", "wgan-gp") for i in (0, 1) for s in (0, 1)]
    assert set(trials["steps"]) == {20} and set(trials["stop_reason"]) == {"completed"}
    settings = trials.groupby("sample")[["lr", "beta1", "k_d_steps", "gp_lambda"]].nunique()
    assert (settings == 1).all().all(), "one point, the same settings for every variant and seed"
    assert trials.groupby("variant")["lr"].nunique().min() == 2, "two different points"
    client = MlflowClient(resolve_tracking_uri(config))
    parent = client.get_run(summary["parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{summary['parent_run_id']}'")
    assert sorted((run.data.tags["variant"], int(run.data.tags["seed"])) for run in children) == \
           sorted(zip(trials["variant"], trials["seed"]))
    for run in children:
        assert float(run.data.params["optimiser.lr_g"]) == float(run.data.params["optimiser.lr_d"]), "one learning rate"
    section = study_section(*read_study(), tmp_path / "figures")
    assert section.title == "Equal-budget study on ring8" and dict(section.facts)["compute"].startswith("8 trials")
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["study-budget.png", "study-distribution.png"]
    assert [row[0] for row in section.tables[0].rows] == ["hinge", "wgan-gp"]
