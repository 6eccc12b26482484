"""Before any compute on a cluster: does every node see the storage, reach the tracking store and run the driver's
code? One small Ray task per alive node answers (DESIGN.md, "A cluster is not one disk").

* **Storage.** The driver writes a marker with a fresh token into the storage; a node that cannot read it back
  could neither save checkpoints nor send a run's outputs back (a node-local path on a multi-node cluster).
* **Tracking.** A sqlite or file store is a file on the driver's machine: every node must be on that machine and
  see the file (a marker beside it), else the command is refused with how to run an MLflow tracking server.
* **Code.** Each node's digest of the training code it imports must be the driver's
  (:func:`pipeline.cluster.shipping.verify_code` says the same inside every worker, for nodes that join later).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.cluster.failures import failure_cause
from pipeline.cluster.storage import StorageError, StoragePath, new_token
from pipeline.common.digest import source_digest

log = logging.getLogger("ganlab.ray")
TRACKING_SERVER_HINT = ("run an MLflow tracking server that every node reaches (`mlflow server --host 0.0.0.0 --port "
                        "5000 --backend-store-uri sqlite:///mlflow.db --artifacts-destination ./mlartifacts` on one "
                        "machine) and set MLFLOW_TRACKING_URI=http://<that machine>:5000 (README, \"Clusters\")")


class ClusterError(RuntimeError):
    """A cluster ganlab cannot train on as it stands; the message names the node, the setting and the fix."""


@dataclass(frozen=True)
class NodeReport:
    """What one node found (the result of :func:`report_node`)."""

    machine: str
    code: str
    sees_storage: bool
    sees_tracking: bool | None


def describe_node(node: dict[str, Any]) -> str:
    """``node 10.0.0.7 (worker-2, 1a2b3c4d)`` for messages: address, host name and the start of Ray's node id."""
    return (f"node {node.get('NodeManagerAddress', '?')} ({node.get('NodeManagerHostname', '?')}, "
            f"{str(node.get('NodeID', '?'))[:8]})")


def machine_identity() -> str:
    """Which machine (boot) this process runs on: nodes that share it share the machine's disk, unless a mount
    namespace hides it (which the tracking marker shows)."""
    boot = Path("/proc/sys/kernel/random/boot_id")
    return boot.read_text().strip() if boot.is_file() else os.uname().nodename


def tracking_file(uri: str) -> Path | None:
    """The local file (or folder) behind a sqlite or file tracking URI; None for a server (or Databricks)."""
    parts = urlsplit(uri)
    if uri.startswith("databricks"):
        return None
    if parts.scheme == "sqlite":
        return Path(uri.split(":///", 1)[1] if ":///" in uri else parts.path).resolve()
    if parts.scheme in ("", "file"):
        return Path(parts.path).resolve()
    return None


def _sees(read: Any, token: str) -> bool:
    try:
        return read() == token
    except (OSError, StorageError):
        return False


def report_node(marker: StoragePath, tracking_marker: str | None, token: str, code_paths: tuple[str, ...]) -> NodeReport:
    """Runs on one node: its machine, its code digest, whether it reads ``token`` from both markers."""
    seen = None if tracking_marker is None else _sees(lambda: Path(tracking_marker).read_text(), token)
    return NodeReport(machine_identity(), source_digest(code_paths), _sees(marker.read_text, token), seen)


def _problems(node: dict[str, Any], report: NodeReport, storage: StoragePath, tracking_uri: str, code: str) -> list[str]:
    where = describe_node(node)
    problems = []
    if not report.sees_storage:
        problems.append(f"ray.storage {storage.location} is not shared: {where} cannot read what this driver wrote "
                        "there, so runs on it could neither save checkpoints nor send their outputs back; set "
                        "ray.storage (or GANLAB_STORAGE) to a folder every node mounts (NFS) or an s3:// or gs:// URI")
    if report.sees_tracking is False or (report.sees_tracking and report.machine != machine_identity()):
        problems.append(f"the MLflow store {tracking_uri} is a file on this machine that {where} cannot write; "
                        + TRACKING_SERVER_HINT)
    if report.code != code:
        problems.append(f"{where} imports other ganlab code than this driver (training code {report.code[:12]} there, "
                        f"{code[:12]} here): set ray.ship_code: true to send this driver's code with the job, or "
                        "install this commit on every node")
    return problems


def check_cluster(storage: StoragePath, tracking_uri: str, code: str, code_paths: tuple[str, ...],
                  timeout_s: float) -> None:
    """Refuse (:class:`ClusterError`, one line) a cluster with a node that cannot see the storage, write the
    tracking store or run this driver's code; see the module docstring."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    token = new_token()
    marker = storage / "probe" / token
    marker.write_text(token)
    local_store = tracking_file(tracking_uri)
    tracking_marker = local_store.parent / f".ganlab-probe-{token}" if local_store else None
    if tracking_marker is not None:
        tracking_marker.parent.mkdir(parents=True, exist_ok=True)
        tracking_marker.write_text(token)
    log.info("checking %d node(s): storage %s, tracking store, code", len(nodes), storage.location)
    probe = ray.remote(num_cpus=0, max_retries=0)(report_node)
    try:
        pending = [(node, probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                    .remote(marker, str(tracking_marker) if tracking_marker else None, token, code_paths))
                   for node in nodes]
        problems = []
        for node, ref in pending:
            try:
                problems += _problems(node, ray.get(ref, timeout=timeout_s), storage, tracking_uri, code)
            except Exception as err:  # the node cannot import ganlab, set up its runtime env, or answer in time
                problems.append(f"{describe_node(node)} cannot run ganlab ({failure_cause(err)}); install ganlab's "
                                "dependencies there, or set ray.ship_code: true")
    finally:
        marker.unlink()
        if tracking_marker is not None:
            tracking_marker.unlink(missing_ok=True)
    if problems:
        raise ClusterError("; ".join(dict.fromkeys(problems)))
