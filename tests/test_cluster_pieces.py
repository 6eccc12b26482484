"""The pieces that make a cluster work without a shared disk, without starting Ray: the run storage, what travels
with a job (code, environment), a failure's cause as one line, a finished run's files collected from the storage,
and the checks that refuse what a cluster cannot use."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys

import pytest

from pipeline.cluster.failures import failure_cause
from pipeline.cluster.jobs import RemoteJobError, check_submittable, submit_when_ready
from pipeline.cluster.probe import ClusterError, tracking_file
from pipeline.cluster.shipping import CodeMismatchError, EnvironmentSetup, runtime_env, shipped_environment, verify_code
from pipeline.cluster.storage import STORAGE_ENV, StorageError, display, open_storage, storage_location
from pipeline.common.digest import source_digest
from pipeline.common.family_code import TRAINING_CODE, code_digest
from tests.conftest import PROJECT, tiny_config


def test_a_local_storage_path_writes_whole_files_lists_copies_and_removes(tmp_path):
    root = open_storage(str(tmp_path / "storage"))
    (root / "a" / "b.txt").write_text("one")
    assert (root / "a" / "b.txt").read_text() == "one" and (root / "a" / "b.txt").is_file()
    assert [p.name for p in (root / "a").children()] == ["b.txt"] and (root / "missing").children() == []
    source = tmp_path / "folder"
    (source / "model").mkdir(parents=True)
    (source / "model" / "state.pt").write_bytes(b"\x00\x01")
    (root / "up").upload(source)
    (root / "up").copy_to(root / "copied")
    (root / "copied").download(tmp_path / "down")
    assert (tmp_path / "down" / "model" / "state.pt").read_bytes() == b"\x00\x01"
    with (root / "copied").as_local() as local:
        assert (local / "model" / "state.pt").is_file()
    (root / "up").rmtree()
    (root / "missing").rmtree()
    (root / "a" / "b.txt").unlink()
    (root / "a" / "b.txt").unlink()  # missing_ok
    assert not (root / "up").exists() and not (root / "a" / "b.txt").exists()
    assert pickle.loads(pickle.dumps(root / "a")).path == (root / "a").path, "a storage path travels to Ray tasks"


def test_the_environment_overrides_the_params_which_override_the_project_default(tmp_path, monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    assert storage_location(None, tmp_path) == str(tmp_path / ".ganlab")
    assert storage_location("/nfs/ganlab", tmp_path) == "/nfs/ganlab"
    monkeypatch.chdir(tmp_path)
    assert storage_location("shared/runs") == str(tmp_path / "shared" / "runs"), "absolute, to travel"
    monkeypatch.setenv(STORAGE_ENV, "s3://bucket/prefix")
    assert storage_location("/nfs/ganlab", tmp_path) == "s3://bucket/prefix"


def test_messages_name_a_uri_without_its_credentials_or_options():
    assert display("s3://KEY:SECRET@bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http") == "s3://bucket/runs"
    assert display("/nfs/ganlab") == "/nfs/ganlab"
    with pytest.raises(StorageError, match=r"ray.storage nope://bucket/x is not a storage pyarrow can open"):
        open_storage("nope://bucket/x")


def test_an_unreadable_storage_is_one_line_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match=r"ray.storage .*/file/x: cannot read"):
        (open_storage(str(blocker)) / "x").read_text()


def test_the_job_environment_carries_tracking_storage_and_credentials_but_not_other_variables(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("HOME_SECRET", "not shipped")
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    variables = shipped_environment("http://tracking:5000", "s3://bucket/runs")
    assert variables["MLFLOW_TRACKING_URI"] == "http://tracking:5000" and variables[STORAGE_ENV] == "s3://bucket/runs"
    assert variables["MLFLOW_TRACKING_TOKEN"] == "token" and variables["AWS_SECRET_ACCESS_KEY"] == "secret"
    assert "HOME_SECRET" not in variables
    environment = runtime_env(variables, ship_code=True)
    assert "env_vars" not in environment, "credentials never go where Ray logs a runtime_env"
    assert sorted(p.rsplit("/", 1)[-1] for p in environment["py_modules"]) == ["analysis", "models", "pipeline"]
    hook = environment["worker_process_setup_hook"]
    for name in hook.variables:  # recorded, so restored after the test
        monkeypatch.setenv(name, "")
    pickle.loads(pickle.dumps(hook))()  # what Ray runs in each worker process
    import os

    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "token"
    assert "py_modules" not in runtime_env(variables, ship_code=False)


def test_inside_a_submitted_ray_job_what_the_job_provides_is_not_given_twice(monkeypatch):
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(
        {"runtime_env": {"py_modules": ["gcs://pkg.zip"], "env_vars": {"MLFLOW_TRACKING_URI": "http://t:5000"}}}))
    environment = runtime_env({"MLFLOW_TRACKING_URI": "http://t:5000", "GANLAB_STORAGE": "/nfs"}, ship_code=True)
    assert "py_modules" not in environment, "Ray refuses a field that the job and ray.init both set"
    assert isinstance(environment["worker_process_setup_hook"], EnvironmentSetup)
    assert environment["worker_process_setup_hook"].variables == {"GANLAB_STORAGE": "/nfs"}


def test_the_code_digest_is_the_same_wherever_the_packages_are_imported_from(tmp_path):
    copy = tmp_path / "shipped"
    for package in ("models", "analysis", "pipeline"):
        shutil.copytree(PROJECT / package, copy / f"pkg_{package}" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    paths = ":".join(str(copy / f"pkg_{package}") for package in ("models", "analysis", "pipeline"))
    script = ("from pipeline.common.digest import source_digest; from pipeline.common.family_code import TRAINING_CODE;"
              "from pipeline.common.family_code import code_digest;"
              "import pipeline; print(pipeline.__file__); print(source_digest(TRAINING_CODE)); print(code_digest('gan'))")
    out = subprocess.run([sys.executable, "-c", script], env={"PYTHONPATH": paths, "PATH": ""}, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(copy)), "imported from the shipped copy, one folder per package (py_modules)"
    assert out[1] == source_digest(TRAINING_CODE)
    assert out[2] == code_digest("gan"), "a run's code is found by its imports in the shipped copy too"
    verify_code(out[1], TRAINING_CODE, "here")
    with pytest.raises(CodeMismatchError, match=r"worker 0 imports other ganlab code than the driver .*ray.ship_code"):
        verify_code("0" * 64, TRAINING_CODE, "worker 0")


def test_a_failure_is_its_innermost_cause_on_one_line():
    class WorkerGroupError(RuntimeError):
        def __init__(self, failures):
            super().__init__("Training failed due to worker errors:\n[Rank 0]\nTraceback ...")
            self.worker_failures = failures

    class RayTaskError(RuntimeError):
        def __init__(self, cause):
            super().__init__("ray::ImplicitFunc.train() (pid=1, ip=10.0.0.7)\nTraceback (most recent call last):\n...")
            self.cause = cause

    inner = ValueError("fault injected at step 5 job_id=01000000 worker_id=ab node_id=cd timestamp_ns=123")
    wrapped = RayTaskError(WorkerGroupError({0: inner}))
    assert failure_cause(wrapped) == "ValueError: fault injected at step 5"
    try:
        try:
            raise KeyError("inner")
        except KeyError as err:
            raise RuntimeError("outer") from err
    except RuntimeError as chained:
        assert failure_cause(chained) == "KeyError: 'inner'"
    header_only = RuntimeError("ray::run() (pid=2)\nTraceback (most recent call last):\n  File x\nOSError: disk full")
    assert failure_cause(header_only) == "OSError: disk full"


def test_only_a_server_counts_as_tracking_a_cluster_can_reach(tmp_path):
    assert tracking_file(f"sqlite:///{tmp_path}/mlflow.db") == tmp_path / "mlflow.db"
    assert tracking_file(str(tmp_path / "mlruns")) == tmp_path / "mlruns"
    assert tracking_file("file:///srv/mlruns") is not None
    assert tracking_file("http://mlflow:5000") is None and tracking_file("databricks") is None


def test_a_laptop_submission_refuses_a_local_tracking_file_and_the_projects_own_scratch(tmp_path, monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    config = tiny_config(ray={"address": "http://head:8265"})
    with pytest.raises(RemoteJobError, match=r"the MLflow store sqlite:///.* is a file on this machine.*mlflow server"):
        check_submittable(config, f"sqlite:///{tmp_path}/mlflow.db")
    with pytest.raises(RemoteJobError, match=r"ray.storage is not set.*s3:// or gs:// URI"):
        check_submittable(config, "http://mlflow:5000")
    assert check_submittable(tiny_config(ray={"storage": str(tmp_path)}), "http://mlflow:5000").path == str(tmp_path)


class _DashboardStartingUp:
    """Answers submissions as Ray's dashboard does while its job agent has not registered (ray.dashboard.modules.job
    .job_head.submit_job -> JobSubmissionClient._raise_error), ``refusals`` times, then accepts."""

    def __init__(self, refusals: int, message: str = "No available agent to submit job, please try again later.") -> None:
        self.refusals, self.message, self.submitted = refusals, message, []

    def submit_job(self, **job):
        if self.refusals:
            self.refusals -= 1
            raise RuntimeError(f"Request failed with status code 500: {self.message}.")
        self.submitted.append(job)


def test_a_submission_waits_for_a_cluster_whose_job_agent_is_not_ready_yet(monkeypatch):
    monkeypatch.setattr("pipeline.cluster.jobs.time.sleep", lambda _: None)
    dashboard = _DashboardStartingUp(refusals=2)
    submit_when_ready(dashboard, 60.0, "http://head:8265", entrypoint="ganlab job-run x", submission_id="x")
    assert dashboard.submitted == [{"entrypoint": "ganlab job-run x", "submission_id": "x"}]
    with pytest.raises(ClusterError, match=r"^the Ray cluster at http://head:8265 has no job agent on its head node "
                       r"after 0s .*--dashboard-agent-listen-port=<a free port>$"):
        submit_when_ready(_DashboardStartingUp(refusals=1), 0.0, "http://head:8265", entrypoint="e")
    with pytest.raises(RuntimeError, match="runtime_env is invalid"):
        submit_when_ready(_DashboardStartingUp(refusals=1, message="runtime_env is invalid"), 60.0, "h",
                          entrypoint="e")
