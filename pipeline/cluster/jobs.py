"""Driving a cluster from a machine that is not one of its nodes (a laptop): the command runs as a Ray job,
submitted to the cluster's dashboard (``ray.address`` or ``RAY_ADDRESS`` = ``http://head:8265``), and its outputs
come back into the project (DESIGN.md, "A cluster is not one disk").

On the laptop, :func:`run_as_job` puts the command's inputs -- the params and the prepared data it reads -- into
the run storage (``jobs/<id>/inputs``), submits ``ganlab job-run <id>`` (:data:`ENTRYPOINT`) with the project's code
(``py_modules``, unless ``ray.ship_code: false``) and the environment ganlab ships (the storage, the tracking URI
and the credentials of :data:`pipeline.cluster.shipping.SHIPPED`, as the job's ``env_vars``), prints the job's log
as it comes, and moves ``jobs/<id>/outputs`` into the project once the job has ended. On the cluster,
:class:`SubmittedCommand` downloads the inputs into a temporary project where the command runs as it would on a
node of the cluster, then uploads the declared outputs and how the command ended.

A Ray job's ``env_vars`` are part of its record on the cluster (the dashboard's job page, the runtime-env agent's
log on the head): where that matters, give the cluster's nodes their own credentials (an instance role, a
mounted credentials file) and leave them out of the laptop's environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.cluster.probe import TRACKING_SERVER_HINT, ClusterError, tracking_file
from pipeline.cluster.shipping import NOT_SHIPPED, package_folders, shipped_environment
from pipeline.cluster.storage import STORAGE_ENV, StoragePath, new_token, storage_location, storage_root
from pipeline.common.layout import SCRATCH
from pipeline.config import Config

log = logging.getLogger("ganlab.ray")
SUBMISSION, RESULT, PARAMS = "submission.json", "result.json", "params.yaml"
#: The job's entrypoint. ``python -m`` would put the job's working directory first on ``sys.path``, where a checkout
#: of another ganlab may lie (the folder a node's ``ray start`` ran in); without it the shipped code comes first.
ENTRYPOINT = ('python -c "import sys; del sys.path[0]; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))" '
              "job-run {job_id}")
#: How long a stopped job is given to upload what it finished before the laptop gives up on it.
STOP_GRACE_S = 120.0


class RemoteJobError(RuntimeError):
    """A command that cannot be submitted as it stands, or a Ray job that ended without running it."""


@dataclass(frozen=True)
class Submission:
    """What the Ray job runs: a ganlab command, its selection, and the project paths to bring back."""

    command: str
    runs: list[list[Any]]
    restart: bool
    outputs: list[str]


def check_submittable(config: Config, tracking_uri: str) -> StoragePath:
    """Refuse, before anything is sent, what a cluster cannot use from a laptop: a tracking store that is a file
    on this machine, or the project's own scratch folder as the storage. Returns the storage."""
    if tracking_file(tracking_uri) is not None:
        raise RemoteJobError(f"the MLflow store {tracking_uri} is a file on this machine, which the cluster cannot "
                             f"write; {TRACKING_SERVER_HINT}")
    if not (os.environ.get(STORAGE_ENV) or config.ray.storage):
        raise RemoteJobError(f"ray.storage is not set, so the storage would be this project's {SCRATCH}/, which the "
                             "cluster cannot see; set ray.storage (or GANLAB_STORAGE) to a storage both reach: an "
                             "s3:// or gs:// URI, or a folder mounted on this machine and on every node")
    return storage_root(config.ray.storage)


def _stage_inputs(config: Config, folder: StoragePath, inputs: list[str], submission: Submission) -> None:
    params = config.to_dict()
    params["ray"]["address"] = None  # on the cluster the job's driver joins the cluster it runs in
    with tempfile.TemporaryDirectory(prefix="ganlab-submission-") as staging:
        root = Path(staging)
        (root / PARAMS).write_text(yaml.safe_dump(params, sort_keys=False))
        for relative in inputs:
            if Path(relative).is_dir():
                shutil.copytree(relative, root / relative)
        (folder / "inputs").upload(root)
    (folder / SUBMISSION).write_text(json.dumps(asdict(submission)))


def _runtime_env(config: Config, tracking_uri: str) -> dict[str, Any]:
    environment: dict[str, Any] = {"env_vars": shipped_environment(tracking_uri, storage_location(config.ray.storage))}
    if config.ray.ship_code:
        environment.update(py_modules=package_folders(), excludes=NOT_SHIPPED)
    return environment


async def _print_log(client: Any, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        sys.stderr.write(lines)
        sys.stderr.flush()


def _wait(client: Any, job_id: str) -> str:
    """Print the job's log until it ends (Ctrl-C stops the job, which uploads what it finished); its status."""
    from ray.job_submission import JobStatus

    try:
        asyncio.run(_print_log(client, job_id))
    except KeyboardInterrupt:
        log.warning("stopping Ray job %s (up to %.0fs for it to save what it finished)", job_id, STOP_GRACE_S)
        client.stop_job(job_id)
        deadline = time.monotonic() + STOP_GRACE_S
        while not client.get_job_status(job_id).is_terminal() and time.monotonic() < deadline:
            time.sleep(2.0)
        raise
    while not (status := client.get_job_status(job_id)).is_terminal():
        time.sleep(1.0)
    return str(status.value if isinstance(status, JobStatus) else status)


def _bring_back(folder: StoragePath, outputs: list[str]) -> None:
    """Move each output the job uploaded into the project, replacing what was there."""
    for relative in outputs:
        source = folder / "outputs" / relative
        if not source.exists():
            continue
        target = Path(relative)
        incoming = target.with_name(f".{target.name}.incoming")
        shutil.rmtree(incoming, ignore_errors=True)
        source.download(incoming)
        shutil.rmtree(target, ignore_errors=True)
        incoming.rename(target)


AGENT_NOT_READY = "No available agent to submit job"
"""What Ray's dashboard answers (HTTP 500) while the head's job agent has not registered: a cluster that has just
started (the dashboard gives up after 10 s, ``ray.dashboard.consts.WAIT_AVAILABLE_AGENT_TIMEOUT``), or a head whose
dashboard agent could not bind its HTTP port (``ray.dashboard.agent``: it then runs on without registering, so the
answer never changes)."""


def submit_when_ready(client: Any, timeout_s: float, address: str, **job: Any) -> None:
    """``client.submit_job(**job)``, submitted again every 2 s while the cluster at ``address`` answers
    :data:`AGENT_NOT_READY`, for up to ``timeout_s`` (``ray.resource_timeout_s``). That answer after the wait is a
    :class:`ClusterError` naming its usual cause; any other error is raised as it is."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.submit_job(**job)
            return
        except RuntimeError as error:
            if AGENT_NOT_READY not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"the Ray cluster at {address} has no job agent on its head node after {timeout_s:.0f}s "
                    "(ray.resource_timeout_s): its dashboard agent could not listen on its HTTP port, 52365 unless "
                    "`ray start --dashboard-agent-listen-port` says otherwise; is another Ray running on the head's "
                    "machine? Restart the head with --dashboard-agent-listen-port=<a free port>") from None
            log.info("the cluster's job agent is not ready yet (a cluster just started?); submitting again in 2s "
                     "(up to %.0fs, ray.resource_timeout_s)", timeout_s)
            time.sleep(2.0)


def run_as_job(config: Config, tracking_uri: str, submission: Submission, inputs: list[str]) -> str | None:
    """Run ``submission`` on the cluster at ``ray.address`` as a Ray job and bring its outputs back; returns the
    error the command ended with on the cluster (None: it succeeded)."""
    from ray.job_submission import JobSubmissionClient

    from pipeline.cluster.session import jobs_address

    storage = check_submittable(config, tracking_uri)
    job_id = f"ganlab-{submission.command}-{new_token()[:12]}"
    folder = storage / "jobs" / job_id
    _stage_inputs(config, folder, inputs, submission)
    address = jobs_address(config.ray)
    try:
        client = JobSubmissionClient(address)
        submit_when_ready(client, config.ray.resource_timeout_s, address, entrypoint=ENTRYPOINT.format(job_id=job_id),
                          submission_id=job_id, runtime_env=_runtime_env(config, tracking_uri))
        log.info("submitted Ray job %s to %s (inputs in %s); its log follows", job_id, address, folder.location)
        try:
            status = _wait(client, job_id)
        finally:  # also what a stopped job finished
            _bring_back(folder, submission.outputs)
        if (folder / RESULT).is_file():
            return json.loads((folder / RESULT).read_text())["error"]
        return (f"Ray job {job_id} ended {status} before ganlab ran on the cluster ({client.get_job_info(job_id).message}); "
                f"see `ray job logs {job_id} --address {address}`")
    finally:
        folder.rmtree()


class SubmittedCommand:
    """The cluster's side of a submission: the inputs in a temporary project that is the working directory while
    the command runs, then the outputs and the result uploaded (``with SubmittedCommand(id) as command: ...``)."""

    def __init__(self, job_id: str) -> None:
        self.folder = storage_root(None) / "jobs" / job_id
        if not (self.folder / SUBMISSION).is_file():
            raise RemoteJobError(f"the cluster cannot read submission {job_id} in {self.folder.location}: the storage "
                                 "must be one that the submitting machine and every node reach")
        self.submission = Submission(**json.loads((self.folder / SUBMISSION).read_text()))
        self.project = Path(tempfile.mkdtemp(prefix="ganlab-job-"))
        self.previous = Path.cwd()

    def __enter__(self) -> SubmittedCommand:
        (self.folder / "inputs").download(self.project)
        os.chdir(self.project)
        return self

    def finish(self, code: int, error: str | None) -> None:
        """Upload the submission's outputs (as far as they exist) and how the command ended."""
        for relative in self.submission.outputs:
            if (self.project / relative).exists():
                (self.folder / "outputs" / relative).upload(self.project / relative)
        (self.folder / RESULT).write_text(json.dumps({"code": code, "error": error}))

    def __exit__(self, *exc: object) -> None:
        os.chdir(self.previous)
        shutil.rmtree(self.project, ignore_errors=True)
