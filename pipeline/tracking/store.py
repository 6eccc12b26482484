"""MLflow tracking: one run per training, stable metric names, batched logging.

Default store: ``sqlite:///<project>/mlflow.db`` with artifacts in
``<project>/mlartifacts``; ``mlflow.tracking_uri`` in params, else the
``MLFLOW_TRACKING_URI`` environment variable, overrides it. Metrics are sent
with ``log_batch`` every ``train.log_every`` steps: a single ``log_metric``
into sqlite costs milliseconds, which per step would dominate CPU training.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from pipeline.config import Config

#: MLflow caps a param value at 6,000 characters (longer ones are truncated).
_MAX_PARAM_CHARS = 6000


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message says why and what to do."""


def resolve_tracking_uri(config: Config, project: Path | None = None) -> str:
    """params > MLFLOW_TRACKING_URI > the project's sqlite file."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(project or Path.cwd()).resolve() / 'mlflow.db'}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast (seconds, not MLflow's minutes of retries) when an HTTP tracking server is down."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as err:
        raise TrackingError(
            f"the MLflow tracking server at {uri} is unreachable ({err}). Start it, fix mlflow.tracking_uri / "
            "MLFLOW_TRACKING_URI, or unset both to use the project's local sqlite store."
        ) from err


#: Experiment tag that MLflow 3's UI reads to choose between its GenAI and model-training views.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"


def experiment_id(client: Any, name: str, project: Path | None = None) -> str:
    """The experiment's id, creating it (artifacts under ``<project>/mlartifacts`` for local stores).

    The experiment is tagged as model training (``mlflow.experimentKind``), so
    that MLflow 3's UI opens it on its runs table rather than on the GenAI views.
    """
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if EXPERIMENT_KIND not in existing.tags:
            client.set_experiment_tag(existing.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return existing.experiment_id
    location = None
    if not client.tracking_uri.startswith(("http://", "https://", "databricks")):
        location = ((project or Path.cwd()).resolve() / "mlartifacts").as_uri()
    try:
        return client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING})
    except Exception:  # created concurrently by another stage: MlflowException(RESOURCE_ALREADY_EXISTS)
        existing = client.get_experiment_by_name(name)
        if existing is None:
            raise
        return existing.experiment_id


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    check_reachable(uri)
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as err:
        raise TrackingError(f"cannot open the MLflow store {uri}: {err}") from err


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr_g": 1}}`` → ``{"train.lr_g": 1}`` (MLflow params)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def start_run(client: Any, experiment: str, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    """Create a run with flattened params and tags; returns its id."""
    from mlflow.entities import Param

    run = client.create_run(experiment_id(client, experiment), run_name=run_name,
                            tags={"mlflow.runName": run_name, **tags})
    items = [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in flatten(params).items()]
    for start in range(0, len(items), 100):  # log_batch takes at most 100 params per call
        client.log_batch(run.info.run_id, params=items[start : start + 100])
    return run.info.run_id


class MetricLogger:
    """Batched metric logging into one run (used on rank 0 of the training workers).

    With ``resume_key``, steps the run already holds for that metric are
    skipped: a training restarted from a checkpoint recomputes exactly the
    rows logged since that checkpoint, and each step must appear once.
    """

    def __init__(self, tracking_uri: str, run_id: str, resume_key: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id = run_id
        self.logged_through = -1
        if resume_key is not None:
            history = self.client.get_metric_history(run_id, resume_key)
            self.logged_through = max((m.step for m in history), default=-1)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        if step <= self.logged_through:
            return
        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        for start in range(0, len(batch), 1000):  # log_batch takes at most 1,000 metrics per call
            self.client.log_batch(self.run_id, metrics=batch[start : start + 1000])
