"""Where each stage reads and writes (the file layout that ``dvc.yaml`` declares)."""

from __future__ import annotations

from pathlib import Path

PREPARED = Path("data/prepared")
REFERENCE = Path("data/reference")
FEATURES = Path("data/features")
RUNS = Path("runs")
METRICS = Path("metrics")
REPORTS = Path("reports")
TUNE = Path("tune")
STUDY = Path("study")
SCRATCH = Path(".ganlab")

#: Tracked files and folders that stages rewrite (not source: they never make a commit "dirty").
PIPELINE_OUTPUTS = ("dvc.lock", str(METRICS), str(REPORTS), str(TUNE), str(RUNS), "data")


def prepared_dir(dataset: str) -> Path:
    return PREPARED / dataset


def reference_dir(dataset: str) -> Path:
    return REFERENCE / dataset


def features_dir(dataset: str) -> Path:
    """DVC out of ``features@<dataset>``: cached real-image Inception features, one file per protocol key."""
    return FEATURES / dataset


def run_dir(dataset: str, variant: str, seed: int) -> Path:
    return RUNS / dataset / variant / f"seed{seed}"


def model_dir(dataset: str, variant: str, seed: int) -> Path:
    """DVC out: final checkpoint and exported generators."""
    return run_dir(dataset, variant, seed) / "model"


def generators_file(dataset: str, variant: str, seed: int) -> Path:
    """The final and best sampling networks of a training, with what rebuilds them (family, settings, data)."""
    return model_dir(dataset, variant, seed) / "generators.pt"


def train_summary_file(dataset: str, variant: str, seed: int) -> Path:
    return run_dir(dataset, variant, seed) / "train_summary.json"


def stage_summary_file(stage: str, dataset: str | None = None, variant: str | None = None, seed: int | None = None) -> Path:
    """DVC metrics of the grouped stages: ``metrics/<stage>/<dataset>/<variant>/seed<k>.json`` per run, and
    ``metrics/<stage>/stage.json`` for the stage as a whole (its wall time)."""
    if dataset is None:
        return METRICS / stage / "stage.json"
    return METRICS / stage / dataset / variant / f"seed{seed}.json"


def metrics_file(dataset: str, variant: str, seed: int) -> Path:
    """One run's evaluation result (the ``evaluate`` stage)."""
    return stage_summary_file("evaluate", dataset, variant, seed)


def stage_time_file(dataset: str, stage: str) -> Path:
    """DVC metric of the per-dataset stages (``prepare``, ``features``): their wall time, read by the report."""
    return METRICS / dataset / f"{stage}.json"


def ray_storage() -> Path:
    """Ray Train's own checkpoints and state (scratch, kept for resuming, not a DVC out)."""
    return SCRATCH / "ray"


def resume_dir(storage: Path, job_name: str) -> Path:
    """Where an interrupted run's latest checkpoint is copied before Ray's run folder (``storage/<job>``) is cleared."""
    return storage / "resume" / job_name


def tune_dir(name: str = "tune") -> Path:
    """DVC outs of a sweep: ``trials.csv``, ``best_params.yaml``, ``summary.json`` -- ``tune/`` for the ``tune``
    stage, ``study/`` for the equal-budget study."""
    return {"tune": TUNE, "study": STUDY}[name]


def tune_storage() -> Path:
    """Ray Tune's experiment folders (trial checkpoints, searcher state) and each sweep's resume record."""
    return SCRATCH / "tune"
