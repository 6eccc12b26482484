"""The whole pipeline through the real `dvc` command, in a temporary copy of the project.

Then, as a person would use it: the report and the MLflow UI (`ganlab ui`) in
headless Chromium, `dvc metrics/params diff`, and `dvc exp run -S` of another variant.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.config import load
from pipeline.tracking.ui import compare_page, runs_page

from tests.browser import browser, horizontal_overflow, images, open_page, screenshot
from tests.conftest import PROJECT
from tests.integration.commands import run, start_ui

pytestmark = pytest.mark.slow

TINY = {
    "benchmark": {"datasets": ["ring8", "digits"], "variants": ["non-saturating", "wgan-gp"], "seeds": [0]},
    "data": {"datasets": ["ring8", "digits"], "n_points": 2000, "image_size": 8},
    "suites": {},  # the other suites' datasets (Stacked MNIST, the translation tasks) are not prepared here
    "classifier": {"epochs": 2, "width": 8, "feature_dim": 16},
    "model": {"width": 16, "z_dim": 8},
    "train": {"steps": 20, "batch_size": 32, "log_every": 5, "eval_every": 10, "eval_samples": 200, "checkpoint_every": 10},
    "eval": {"n_samples": 300, "batch_size": 100},
    "ray": {"cpus_per_worker": 1},
    "overrides": {"ring8": {"train": {"batch_size": 64}}},
    "tune": {"dataset": "ring8", "variants": ["non-saturating"], "search": "grid", "scheduler": "asha", "steps": 20,
             "eval_every": 10, "grace_period": 10, "eval_samples": 200, "stop_after_step": 1000,
             "space": {"lr_g": ["choice", [1.0e-4, 2.0e-4]]}},
    "study": {"dataset": "ring8", "variants": ["non-saturating", "wgan-gp"], "num_samples": 2, "seeds_per_sample": 1,
              "steps": 20, "eval_every": 10, "eval_samples": 200, "cpus_per_trial": 1},
}
#: Sections of TINY that replace the project's whole (the others are merged key by key).
WHOLE = ("overrides", "suites")
#: The project's outputs and scratch, left out of the copy (at the top level only: pipeline/data is source).
TOP_LEVEL_OUTPUTS = {".venv", ".git", "data", "runs", "metrics", "reports", "mlflow.db", "mlartifacts", ".ganlab",
                     "dvc_plots", ".pytest_cache", ".hypothesis"}


def ignored_outputs(directory: str, names: list[str]) -> set[str]:
    skipped = {name for name in names if name == "__pycache__" or name.endswith(".egg-info")}
    if Path(directory) == PROJECT:
        skipped |= set(names) & TOP_LEVEL_OUTPUTS
    if Path(directory) == PROJECT / ".dvc":
        skipped |= set(names) & {"cache", "tmp"}
    return skipped


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The project with tiny params after one full `dvc repro` (committed). Tests that change anything work
    on their own copy (:func:`project`), so each test stands alone and they pass in any order."""
    root = tmp_path_factory.mktemp("pristine") / "ganlab"
    shutil.copytree(PROJECT, root, ignore=ignored_outputs)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for section, values in TINY.items():  # the project's params, made tiny; overrides are replaced whole
        params[section] = values if section in WHOLE else {**params.get(section, {}), **values}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], root)
    run(["dvc", "repro"], root)
    return root


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced project; its MLflow store points at the copy's own artifacts."""
    root = tmp_path / "ganlab"
    shutil.copytree(pristine, root, symlinks=True)
    with sqlite3.connect(root / "mlflow.db") as store:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            store.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (str(pristine), str(root)))
    return root


def test_repro_writes_the_report_comparing_the_variants(pristine):
    markdown = (pristine / "reports" / "benchmark.md").read_text()
    html = (pristine / "reports" / "benchmark.html").read_text().replace("<wbr>", "")
    for dataset in ("ring8", "digits"):
        assert f"## {dataset}" in markdown and f">{dataset}</h2>" in html, dataset
    for text in ("non-saturating", "wgan-gp", "modes300", "fid_clf300", "Best checkpoint"):
        assert text in markdown, text
        assert text in html, text
    assert "http://" not in html and "https://" not in html, "the HTML is self-contained"
    assert html.count("data:image/png;base64,") >= 10
    for text in ("Wall time per stage", "Runs (MLflow experiment ganlab", "Hyperparameter sweep (Ray Tune)",
                 "Best trials", "objective-vs-hyperparameters.png", "trial-curves.png", "## Equal-budget study on ring8",
                 "study-budget.png", "## How ring8's settings were chosen", "ring8-selection.png"):
        assert text in markdown, text
    commit = run(["git", "rev-parse", "HEAD"], pristine).stdout.strip()
    assert f"**git commit**: {commit}\n" in markdown, "outputs rewritten by dvc repro do not make the commit dirty"


def test_report_opens_in_chromium_with_every_table_and_figure(pristine, tmp_path):
    with browser() as chromium:
        page, log = open_page(chromium, (pristine / "reports" / "benchmark.html").as_uri())
        pixels = screenshot(page, tmp_path / "benchmark.png")
        widths = horizontal_overflow(page)
        shown = images(page)
        headings = page.locator("h2").all_inner_texts()
        metric_rows = page.locator("table.metrics tbody tr").count()
        text = page.inner_text("body")
    assert log.failed == [] and log.http_errors == [] and log.console_errors == [], log
    assert headings == ["ring8", "digits", "Equal-budget study on ring8", "How ring8's settings were chosen",
                        "Hyperparameter sweep (Ray Tune)", "About these runs"]
    tables = 0
    for dataset in ("ring8", "digits"):
        results = [json.loads(f.read_text()) for f in (pristine / "metrics" / "evaluate" / dataset).rglob("seed*.json")]
        tables += 1 + any(r["best"]["step"] != r["final"]["step"] for r in results)
    assert metric_rows == 2 * tables, "a final table per dataset, a best one where some run's best is not its final"
    summary = json.loads((pristine / "runs" / "ring8" / "wgan-gp" / "seed0" / "train_summary.json").read_text())
    assert summary["run_id"] in text, "the runs table names the MLflow run"
    assert widths["page"][0] <= widths["page"][1], widths
    assert len(shown) >= 12 and all(i["complete"] and i["width"] > 0 for i in shown), shown
    assert pixels[..., :3].std() > 0.05, "the screenshot is not blank"


def test_mlflow_ui_shows_the_ganlab_runs_and_their_variant_tags(pristine):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{pristine / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganlab")
    trainings = client.search_runs([experiment.experiment_id], "tags.stage = 'train' and tags.dataset = 'ring8'")
    names = {run.data.tags["variant"]: run.info.run_name for run in trainings}
    assert set(names) == {"non-saturating", "wgan-gp"}
    server, port, printed = start_ui(pristine)
    try:
        base = f"http://127.0.0.1:{port}"
        assert runs_page(base, experiment.experiment_id) in printed, printed
        with browser() as chromium:
            page, log = open_page(chromium, runs_page(base, experiment.experiment_id))
            for name in names.values():
                page.get_by_text(name).first.wait_for(timeout=90_000)
            assert page.get_by_text("sweep-ring8").count() >= 1, "the sweep's parent run is listed too"
            filtered = f"{runs_page(base, experiment.experiment_id)}&searchFilter=tags.variant%20%3D%20%27wgan-gp%27"
            page, _ = open_page(chromium, filtered)  # a fresh load: the UI reads the filter from the URL then
            page.get_by_text(names["wgan-gp"]).first.wait_for(timeout=90_000)
            assert page.get_by_text(names["non-saturating"]).count() == 0, "filtering on the variant tag"
            page, _ = open_page(chromium, compare_page(base, experiment.experiment_id, [run.info.run_id for run in trainings]))
            page.get_by_text("Run details").wait_for(timeout=90_000)
            text = page.inner_text("body")
        tags = text[text.index("\nTags\n"):]
        rows = {line.split("\t")[0]: line.split("\t")[1:] for line in tags.splitlines() if "\t" in line}
        assert sorted(rows["variant"]) == ["non-saturating", "wgan-gp"], rows
        assert rows["stage"] == ["train", "train"] and rows["dataset"] == ["ring8", "ring8"]
        assert "git_commit" in rows
        assert log.failed == [], log
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_every_stage_left_its_outputs(pristine):
    for dataset in ("ring8", "digits"):
        manifest = json.loads((pristine / "data" / "prepared" / dataset / "manifest.json").read_text())
        assert manifest["dataset"] == dataset
        for variant in ("non-saturating", "wgan-gp"):
            result = json.loads((pristine / "metrics" / "evaluate" / dataset / variant / "seed0.json").read_text())
            assert result["final"]["step"] == 20 and result["final"]["status"] == "ok", result
    assert (pristine / "mlflow.db").is_file()


def test_second_repro_is_a_no_op_and_status_is_clean(project):
    result = run(["dvc", "repro"], project)
    assert "Running stage" not in result.stdout
    assert json.loads(run(["dvc", "status", "--json", "dvc.yaml"], project).stdout) == {}


def test_dvc_metrics_and_plots_work(project):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    text = json.dumps(shown)
    assert "modes300" in text and "fid_clf300" in text and "steps_per_s" in text
    run(["dvc", "plots", "show", "-o", "dvc_plots"], project)
    assert (project / "dvc_plots" / "index.html").is_file()


#: What the tiny project prepares (its data.datasets: the main suite's, tune's and study's datasets).
PREPARED = tuple(TINY["data"]["datasets"])


def _per_dataset(stage: str) -> set[str]:
    return {f"{stage}@{dataset}" for dataset in PREPARED}


#: A valid change of each params section (or key) → exactly the stages whose declared inputs it changes (what `dvc
#: status` lists; their downstream stages rerun only when these stages' outputs change). train and evaluate cover
#: the whole matrix; inside them a run whose inputs are unchanged is kept (tests/integration/test_fan_out.py).
SECTION_CHANGES = {
    "data": ("data", {"n_points": 2100}, _per_dataset("prepare")),
    "classifier": ("classifier", {"epochs": 3}, _per_dataset("prepare")),
    "model": ("model", {"width": 12}, {"train", "tune", "study"}),
    "loss": ("loss", {"gp_lambda": 5.0}, {"train", "tune", "study"}),
    "train": ("train", {"log_every": 10}, {"train", "tune", "study"}),
    "eval, in-training": ("eval", {"mode_sigmas": 2.5}, _per_dataset("features") | {"train", "evaluate", "tune", "study"}),
    "eval, evaluation only": ("eval", {"n_samples": 250}, _per_dataset("features") | {"evaluate"}),
    "eval.inception": ("eval", {"inception": True}, _per_dataset("features") | {"evaluate"}),
    "ray, fault tolerance": ("ray", {"max_failures": 1}, set()),
    "ray, threads": ("ray", {"cpus_per_worker": 2}, {"train"}),
    "mlflow": ("mlflow", {"experiment": "other"}, set()),
    "tune": ("tune", {"eval_samples": 150}, {"tune"}),
    "study": ("study", {"num_samples": 3}, {"study"}),
    "overrides": ("overrides", {"ring8": {"train": {"batch_size": 32}}},
                  _per_dataset("features") | {"train", "evaluate", "tune", "study", "report"}),
    "benchmark": ("benchmark", {"seeds": [0, 1]}, {"train", "evaluate", "report"}),
    "suites": ("suites", {"later": {"datasets": ["ring8"], "variants": ["hinge"], "seeds": [0]}},
               {"train", "evaluate", "report"}),
    "data.datasets": ("data", {"datasets": [*PREPARED, "grid25"]}, {"prepare@grid25", "features@grid25", "report"}),
    # A family's own options (no built-in family has any: dvc compares the values without loading them).
    "families": ("families", {"gan": {"some_option": 1}}, {"train", "evaluate", "tune", "study"}),
}


@pytest.mark.parametrize("change", sorted(SECTION_CHANGES))
def test_each_params_change_invalidates_exactly_its_stages(pristine, tmp_path, change):
    project = tmp_path / "ganlab"
    shutil.copytree(pristine, project, symlinks=True)
    section, values, expected = SECTION_CHANGES[change]
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section] = values if section == "overrides" else {**params[section], **values}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(run(["dvc", "status", "--json", "dvc.yaml"], project).stdout)
    assert set(status) == expected, f"{change}: unexpected {set(status) - expected}, missing {expected - set(status)}"


def test_an_evaluation_only_change_reevaluates_and_trains_nothing(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["eval"]["n_samples"] = 250
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro"], project)
    ran = set(re.findall(r"Running stage '([^']+)'", result.stdout))
    assert {"evaluate", "report"} <= ran and not ran & ({"train", "tune", "study"} | _per_dataset("prepare")), ran
    result = json.loads((project / "metrics" / "evaluate" / "ring8" / "wgan-gp" / "seed0.json").read_text())
    assert "modes250" in result["final"] and result["final"]["status"] == "ok"
    assert json.loads(run(["dvc", "status", "--json", "dvc.yaml"], project).stdout) == {}


def test_the_sweep_winner_retrains_from_the_command_line(project):
    """`ganlab train --params tune/best_params.yaml` trains the winning trial's settings on the tuned dataset."""
    from mlflow.tracking import MlflowClient

    winner = json.loads((project / "tune" / "summary.json").read_text())["best"]
    run(["ganlab", "train", "--params", "tune/best_params.yaml"], project)
    summary = json.loads((project / "runs" / "ring8" / "non-saturating" / "seed0" / "train_summary.json").read_text())
    params = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_run(summary["run_id"]).data.params
    assert float(params["optimiser.lr_g"]) == winner["lr_g"] and params["train.steps"] == "20"
    assert summary["steps"] == 20 and summary["variant"] == "non-saturating"


def test_the_sweep_ran_in_the_pipeline_and_reruns_alone_on_request(project):
    trials = pd.read_csv(project / "tune" / "trials.csv")
    assert sorted(trials["lr_g"]) == [1.0e-4, 2.0e-4] and (trials["steps"] == 20).all()
    curves = pd.read_csv(project / "tune" / "trial_curves.csv")
    assert set(curves["trial_id"]) == set(trials["trial_id"]) and set(curves["step"]) == {10, 20}
    best = load(project / "tune" / "best_params.yaml")
    assert best.benchmark.variants == ("non-saturating",)
    result = run(["dvc", "repro", "--force", "--single-item", "tune"], project)
    assert "Running stage 'tune'" in result.stdout and "Running stage 'prepare@" not in result.stdout
    again = run(["dvc", "repro"], project).stdout
    assert "Running stage 'report'" in again and "Running stage 'train'" not in again, "the report shows the new sweep"
    shown = json.dumps(json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout))
    assert "tune/summary.json" in shown and "trial_steps" in shown


def test_params_and_metrics_diff_then_an_experiment_with_another_variant(project):
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], project)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganlab").experiment_id
    before = {r.info.run_id for r in client.search_runs([experiment], "tags.stage = 'train'")}
    result = run(["dvc", "exp", "run", "-S", "benchmark.variants=[hinge]", "-S", "benchmark.seeds=[0,1]"], project)
    assert "Running stage 'train'" in result.stdout and "Running stage 'tune'" not in result.stdout
    new = [r for r in client.search_runs([experiment], "tags.stage = 'train'") if r.info.run_id not in before]
    assert sorted((r.data.tags["dataset"], r.data.tags["variant"], r.data.tags["seed"]) for r in new) == [
        ("digits", "hinge", "0"), ("digits", "hinge", "1"), ("ring8", "hinge", "0"), ("ring8", "hinge", "1")],         "exactly the four hinge runs were trained"
    seeds = [json.loads((project / "metrics" / "evaluate" / "ring8" / "hinge" / f"seed{s}.json").read_text()) for s in (0, 1)]
    assert [r["final"]["step"] for r in seeds] == [20, 20]
    hq = [r["final"]["hq300"] for r in seeds]
    row = next(line for line in (project / "reports" / "benchmark.md").read_text().splitlines() if line.startswith("| hinge |"))
    assert f"{float(np.median(hq)):.4g}" in row and f"({hq[0]:.3g} / {hq[1]:.3g}" in row, (row, hq)
    experiments = json.dumps(json.loads(run(["dvc", "exp", "show", "--json"], project).stdout))
    assert "hinge" in experiments and "modes300" in experiments
    diff = json.loads(run(["dvc", "params", "diff", "--json"], project).stdout)
    changed = {side: ast.literal_eval(value) if isinstance(value, str) else value  # DVC prints lists as text
               for side, value in diff["params.yaml"]["benchmark.variants"].items() if side in ("old", "new")}
    assert changed == {"old": ["non-saturating", "wgan-gp"], "new": ["hinge"]}
    metrics = json.loads(run(["dvc", "metrics", "diff", "--all", "--json"], project).stdout)
    for seed in (0, 1):
        hinge = metrics[f"metrics/evaluate/ring8/hinge/seed{seed}.json"]
        assert hinge["final.hq300"]["new"] == seeds[seed]["final"]["hq300"] and hinge["final.hq300"]["old"] is None


def test_a_dvc_remote_hands_the_data_and_results_to_a_teammate(project, tmp_path):
    """README, "A DVC remote for a team": `dvc remote add` + `dvc push`; a fresh clone's `dvc pull` brings the
    prepared data, the classifier statistics and every run, and its pipeline is up to date (nothing retrains)."""
    remote = tmp_path / "team-remote"
    run(["dvc", "remote", "add", "-d", "team", str(remote)], project)
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results and the team's remote"], project)
    run(["dvc", "push"], project)
    assert "in sync" in run(["dvc", "status", "--cloud"], project).stdout
    clone = tmp_path / "teammate"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "runs").exists() and not (clone / "data").exists(), "git alone carries no data or runs"
    run(["dvc", "pull"], clone)
    for relative in ("data/prepared/digits/train.npz", "data/prepared/digits/classifier.pt",
                     "runs/ring8/wgan-gp/seed0/model/generators.pt", "runs/digits/non-saturating/seed0/history.csv"):
        assert (clone / relative).read_bytes() == (project / relative).read_bytes(), relative
    assert json.loads(run(["dvc", "status", "--json", "dvc.yaml"], clone).stdout) == {}
    assert "Running stage" not in run(["dvc", "repro"], clone).stdout, "the teammate's clone retrains nothing"
