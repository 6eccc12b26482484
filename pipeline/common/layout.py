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
BENCHMARKS = Path("benchmarks")
SCRATCH = Path(".ganlab")

#: Tracked files and folders that stages rewrite (not source: they never make a commit "dirty").
PIPELINE_OUTPUTS = ("dvc.lock", str(METRICS), str(REPORTS), str(TUNE), str(STUDY), str(RUNS), "data")


def prepared_dir(dataset: str) -> Path:
    return PREPARED / dataset


def reference_dir(dataset: str) -> Path:
    return REFERENCE / dataset


def features_dir(dataset: str) -> Path:
    """DVC out of ``features@<dataset>``: cached real-image Inception features, one file per protocol key."""
    return FEATURES / dataset


#: The files a finished training leaves in its run folder (relative to it): the final checkpoint, the final and
#: best sampling networks, the history, the summary and a sample figure (:mod:`pipeline.training.export`).
MODEL, STATE, GENERATORS = "model", "model/state.pt", "model/generators.pt"
HISTORY, SUMMARY, SAMPLES = "history.csv", "train_summary.json", "samples.png"
RUN_FILES = (STATE, GENERATORS, HISTORY, SUMMARY, SAMPLES)


def run_dir(dataset: str, variant: str, seed: int) -> Path:
    return RUNS / dataset / variant / f"seed{seed}"


def model_dir(dataset: str, variant: str, seed: int) -> Path:
    """DVC out: final checkpoint and exported generators."""
    return run_dir(dataset, variant, seed) / MODEL


def generators_file(dataset: str, variant: str, seed: int) -> Path:
    """The final and best sampling networks of a training, with what rebuilds them (family, settings, data)."""
    return run_dir(dataset, variant, seed) / GENERATORS


def train_summary_file(dataset: str, variant: str, seed: int) -> Path:
    return run_dir(dataset, variant, seed) / SUMMARY


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


def selection_dir(dataset: str) -> Path:
    """A dataset's settings-selection sweep, committed: one ``ganlab tune`` per seed in ``seed<k>/``
    (``summary.json``, ``trials.csv``); the report shows it (README, "The default benchmark")."""
    return BENCHMARKS / f"{dataset}_sweep"


def tune_dir(name: str = "tune") -> Path:
    """DVC outs of a sweep: ``trials.csv``, ``best_params.yaml``, ``summary.json`` -- ``tune/`` for the ``tune``
    stage, ``study/`` for the equal-budget study."""
    return {"tune": TUNE, "study": STUDY}[name]
