"""Shared fixtures: a tiny config, a prepared ring8 / digits in a temporary project folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pipeline import config as config_module

PROJECT = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


def tiny_config(**sections) -> config_module.Config:
    """A config small enough for unit tests; keyword arguments are params sections."""
    raw = {
        "model": {"width": 16, "z_dim": 8},
        "train": {"steps": 6, "batch_size": 16, "log_every": 2, "eval_every": 3, "eval_samples": 100,
                  "checkpoint_every": 3},
        "eval": {"n_samples": 200, "batch_size": 100},
        "classifier": {"epochs": 1, "width": 4, "feature_dim": 8},
        "data": {"n_points": 400, "image_size": 8},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    raw["data"].setdefault("datasets", sorted(_datasets_used(raw)))
    return config_module.parse(raw, "test params")


def _datasets_used(raw: dict) -> set[str]:
    """Every dataset a test's params use (data.datasets must list them; the defaults' ring8 and digits too)."""
    used = {"ring8", "digits", raw.get("tune", {}).get("dataset", "ring8"), raw.get("study", {}).get("dataset", "digits")}
    used |= set(raw.get("benchmark", {}).get("datasets", ()))
    return used | {d for suite in raw.get("suites", {}).values() for d in suite.get("datasets", ())}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside an empty project folder (stages write relative paths)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def prepared_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ring8 and digits prepared once per session with the tiny config (a folder no test works in)."""
    return prepare_once(tmp_path_factory.mktemp("prepared-tiny"), tiny_config(), ["ring8", "digits"])


@pytest.fixture
def prepared(in_tmp: Path, prepared_tiny: Path, monkeypatch: pytest.MonkeyPatch):
    """ring8 and digits prepared with the tiny config, a copy of the session's in the test's folder; returns the
    config."""
    work_in_copy(prepared_tiny, in_tmp, monkeypatch)
    return tiny_config()


@pytest.fixture
def digits_with_a_real_classifier(in_tmp):
    """digits prepared with a domain classifier good enough (≈ 73 % test accuracy at 8×8) to measure G's progress."""
    from pipeline.data.stage import prepare

    config = tiny_config(classifier={"epochs": 8, "width": 16, "feature_dim": 32},
                         train={"steps": 400, "batch_size": 64, "log_every": 100, "eval_every": 100,
                                "eval_samples": 1000, "checkpoint_every": 400},
                         eval={"n_samples": 1000, "batch_size": 500})
    manifest = prepare(config, "digits")
    assert manifest["classifier"]["test_accuracy"] > 0.6
    return config


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("GANLAB_LOG_LEVEL", "WARNING")


#: The integration test files, longest first (their minutes beside another test, 2 cores, 2026-12-05): the order in
#: which ``pytest -n 2 --dist loadfile --no-loadscope-reorder`` hands whole files to the two processes, so that no
#: long file starts last while the other process sits idle. A file not listed runs after these, before the quick ones.
LONGEST_FIRST = ("test_tune.py", "test_dvc_repro.py", "test_cluster.py", "test_fan_out.py", "test_distributed.py",
                 "test_processes.py", "test_resume_cases.py", "test_every_task.py", "test_inception_end_to_end.py",
                 "test_task_families.py", "test_full_disk.py", "test_mlflow_outage.py", "test_study.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests before the others, the longest first (:data:`LONGEST_FIRST`); a file's tests stay
    together and in their order (a stable sort), so module-scoped fixtures are set up once."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        position = LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
        return (0 if item.path in slow_files else 1, position)

    items.sort(key=rank)


def export_finished(training, folder: Path, config: config_module.Config) -> str:
    """A bare-loop run as the train stage leaves it: its checkpoint in ``folder``, an MLflow run, the run folder and
    the committed copy of its training summary (``metrics/train/...``); returns the MLflow run id."""
    import json

    from pipeline.common.files import write_json
    from pipeline.common.layout import run_dir, stage_summary_file, train_summary_file
    from pipeline.data.shipping import DatasetFolders
    from pipeline.tracking.store import client_for, resolve_tracking_uri, start_run
    from pipeline.training.checkpoint import save_checkpoint
    from pipeline.training.export import export_run

    job, state = training.job, training.state_dict()
    save_checkpoint(folder, state)
    run_id = start_run(client_for(resolve_tracking_uri(config)), "ganlab", job.name, {}, {"stage": "train"})
    export_run(job, state, folder, {"run_id": run_id, "steps": training.step}, DatasetFolders.of_project(job.dataset),
               run_dir(job.dataset, job.variant, job.seed))
    write_json(stage_summary_file("train", job.dataset, job.variant, job.seed),
               json.loads(train_summary_file(job.dataset, job.variant, job.seed).read_text()))
    return run_id


def prepare_once(root: Path, config: config_module.Config, datasets: list[str]) -> Path:
    """``datasets`` prepared with ``config`` in the folder ``root`` (a module-scoped fixture's temporary folder);
    returns it. Tests work in a copy (:func:`work_in_copy`)."""
    from pipeline.data.stage import prepare

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for dataset in datasets:
            prepare(config, dataset)
    return root


def work_in_copy(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of a prepared project folder in ``tmp_path``, made the working directory."""
    import shutil

    shutil.copytree(prepared, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path
