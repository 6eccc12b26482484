"""The whole pipeline through the real `dvc` command, in a temporary copy of the project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.config import load

from tests.conftest import PROJECT
from tests.integration.commands import run

pytestmark = pytest.mark.slow

TINY = {
    "benchmark": {"datasets": ["ring8", "digits"], "variants": ["non-saturating", "wgan-gp"], "seeds": [0]},
    "data": {"n_points": 2000, "image_size": 8},
    "classifier": {"epochs": 2, "width": 8, "feature_dim": 16},
    "model": {"width": 16, "z_dim": 8},
    "train": {"steps": 20, "batch_size": 32, "log_every": 5, "eval_every": 10, "eval_samples": 200, "checkpoint_every": 10},
    "eval": {"n_samples": 300, "batch_size": 100},
    "ray": {"cpus_per_worker": 1},
    "overrides": {"ring8": {"train": {"batch_size": 64}}},
    "tune": {"dataset": "ring8", "variants": ["non-saturating"], "search": "grid", "scheduler": "asha", "steps": 20,
             "eval_every": 10, "grace_period": 10, "eval_samples": 200, "stop_after_step": 1000,
             "space": {"lr_g": ["choice", [1.0e-4, 2.0e-4]]}},
}
IGNORED = shutil.ignore_patterns(".venv", ".git", "data", "runs", "metrics", "reports", "mlflow.db", "mlartifacts",
                                 ".ganlab", "__pycache__", ".pytest_cache", "cache", "tmp", "*.egg-info", "dvc_plots")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project") / "ganlab"
    shutil.copytree(PROJECT, root, ignore=IGNORED)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for section, values in TINY.items():  # the project's params, made tiny; overrides are replaced whole
        params[section] = values if section == "overrides" else {**params.get(section, {}), **values}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], root)
    run(["dvc", "repro"], root)
    return root


def test_repro_writes_the_report_comparing_the_variants(project):
    markdown = (project / "reports" / "benchmark.md").read_text()
    html = (project / "reports" / "benchmark.html").read_text()
    for dataset in ("ring8", "digits"):
        assert f"## {dataset}" in markdown and f">{dataset}</h2>" in html, dataset
    for text in ("non-saturating", "wgan-gp", "modes300", "fid_clf300", "Best checkpoint"):
        assert text in markdown, text
        assert text in html, text
    assert "http://" not in html and "https://" not in html, "the HTML is self-contained"
    assert html.count("data:image/png;base64,") >= 10


def test_every_stage_left_its_outputs(project):
    for dataset in ("ring8", "digits"):
        manifest = json.loads((project / "data" / "prepared" / dataset / "manifest.json").read_text())
        assert manifest["dataset"] == dataset
        for variant in ("non-saturating", "wgan-gp"):
            result = json.loads((project / "metrics" / dataset / variant / "seed0.json").read_text())
            assert result["final"]["step"] == 20 and result["final"]["status"] in ("ok", "diverged")
    assert (project / "mlflow.db").is_file()


def test_second_repro_is_a_no_op_and_status_is_clean(project):
    result = run(["dvc", "repro"], project)
    assert "Running stage" not in result.stdout
    status = run(["dvc", "status", "dvc.yaml", "--json"], project)
    assert json.loads(status.stdout) == {}, "the default pipeline is up to date (the sweep is run on request)"


def test_dvc_metrics_and_plots_work(project):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    text = json.dumps(shown)
    assert "modes300" in text and "fid_clf300" in text and "steps_per_s" in text
    run(["dvc", "plots", "show", "-o", "dvc_plots"], project)
    assert (project / "dvc_plots" / "index.html").is_file()


def test_changing_a_param_reruns_only_what_depends_on_it(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["eval"]["mode_sigmas"] = 2.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro"], project)
    assert "Running stage 'evaluate@ring8-non-saturating-0'" in result.stdout
    assert "Running stage 'prepare@" not in result.stdout


def test_the_sweep_stage_runs_on_request_after_the_pipeline(project):
    result = run(["dvc", "repro", "tune/dvc.yaml"], project)
    assert "Running stage 'tune/dvc.yaml:tune'" in result.stdout
    assert "Running stage 'prepare@" not in result.stdout, "the sweep reuses the prepared data"
    trials = pd.read_csv(project / "tune" / "trials.csv")
    assert sorted(trials["lr_g"]) == [1.0e-4, 2.0e-4] and (trials["steps"] == 20).all()
    best = load(project / "tune" / "best_params.yaml")
    assert best.benchmark.variants == ("non-saturating",)
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}
    shown = json.dumps(json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout))
    assert "tune/summary.json" in shown and "trial_steps" in shown
