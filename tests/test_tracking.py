"""Tracking facts: the commit a report names (and when it is dirty), the experiment tag MLflow's UI reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.tracking.git import git_commit
from pipeline.tracking.store import EXPERIMENT_KIND, MODEL_TRAINING, experiment_id


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_the_commit_is_dirty_only_when_source_files_differ(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "step.py").write_text("x = 1\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "seed0.json").write_text("{}\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "metrics" / "seed0.json").write_text('{"fid": 1}\n')
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (tmp_path / "notes.txt").write_text("untracked files do not count\n")
    assert git_commit(tmp_path) == head, "outputs the pipeline rewrites do not make the commit dirty"
    (tmp_path / "models" / "step.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == f"{head}-dirty"
    assert git_commit(tmp_path / "models").endswith("-dirty")


def test_outside_a_repository_the_commit_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"


def test_the_experiment_is_tagged_for_the_model_training_view(tmp_path):
    """MLflow 3's UI opens an experiment without ``mlflow.experimentKind`` on its GenAI views, with no runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    created = experiment_id(client, "ganlab", tmp_path)
    assert client.get_experiment(created).tags[EXPERIMENT_KIND] == MODEL_TRAINING == "custom_model_development"
    untagged = client.create_experiment("older")
    assert EXPERIMENT_KIND not in client.get_experiment(untagged).tags
    assert experiment_id(client, "older", tmp_path) == untagged
    assert client.get_experiment(untagged).tags[EXPERIMENT_KIND] == MODEL_TRAINING, "an existing one gets it too"
    assert client.get_experiment(created).artifact_location == (tmp_path / "mlartifacts").as_uri()


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "https://mlflow.example.org"])
def test_a_tracking_server_in_params_wins_over_the_environment(uri, monkeypatch):
    from pipeline.tracking.store import resolve_tracking_uri
    from tests.conftest import tiny_config

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert resolve_tracking_uri(tiny_config(mlflow={"tracking_uri": uri})) == uri
    assert resolve_tracking_uri(tiny_config()) == "sqlite:///elsewhere.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_tracking_uri(tiny_config(), Path("/p")) == "sqlite:////p/mlflow.db"


def test_ganlab_ui_refuses_a_port_another_program_holds(in_tmp):
    import socket

    from pipeline.config import parse
    from pipeline.tracking.store import TrackingError
    from pipeline.tracking.ui import serve

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(TrackingError, match=rf"^--port {port} on 127.0.0.1 is not free .* choose another with "
                                                r"--port, or leave --port out for a free one$"):
            serve(parse({}), "127.0.0.1", port)
    assert not (in_tmp / "mlflow.db").exists(), "refused before touching the store"


GARBAGE = bytes(range(256)) * 16  # not a sqlite database: no "SQLite format 3" header


def test_a_corrupt_tracking_store_names_itself_and_the_fix(tmp_path):
    from pipeline.tracking.store import TrackingError, client_for

    store = tmp_path / "mlflow.db"
    store.write_bytes(GARBAGE)
    with pytest.raises(TrackingError) as raised:
        client_for(f"sqlite:///{store}")
    assert str(raised.value) == (f"the MLflow tracking store {store} is not a readable sqlite database (DatabaseError: "
                                 f"file is not a database); move it aside (mv {store} {store}.damaged) or restore a "
                                 "backup of it: MLflow then creates a new, empty one")


def test_a_corrupt_tracking_store_stops_a_command_with_one_line_and_is_kept(in_tmp, monkeypatch, capsys):
    from pipeline.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (in_tmp / "params.yaml").write_text("{}\n")
    (in_tmp / "mlflow.db").write_bytes(GARBAGE)
    assert main(["ui"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error: the MLflow tracking store ") and err.count("\n") == 1, err
    assert f"{in_tmp.resolve() / 'mlflow.db'} is not a readable sqlite database" in err and "move it aside" in err
    assert (in_tmp / "mlflow.db").read_bytes() == GARBAGE
