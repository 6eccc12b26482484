"""``ganlab``: the command line; each sub-command is also a DVC stage's ``cmd``.

Sub-commands read ``params.yaml`` (or ``--params FILE``). Without
``--dataset`` / ``--variant`` / ``--seed`` they cover every combination
listed under ``benchmark:``. Errors a user can fix (bad params, missing or
corrupt files, an unreachable tracking server, a checkpoint of another
config) print one ``ganlab: error:`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Callable, Sequence

from analysis.features import FeatureInputError
from analysis.inception import ExtractorUnavailable
from models.families import variant_names
from pipeline.common.feature_cache import FeatureCacheError
from pipeline.common.files import CorruptFileError
from pipeline.common.logs import configure_logging
from pipeline.common.project_lock import ProjectBusyError, project_lock
from pipeline.common.signals import stop_on_signals
from pipeline.config import Config, ConfigError, load
from pipeline.data.classifier import ClassifierFileError
from pipeline.datasets import dataset_names
from pipeline.datasets.registry import DatasetError
from pipeline.data.store import PreparedDataError
from pipeline.scoring.evaluate import GeneratorFileError
from pipeline.tracking.store import TrackingError
from pipeline.training.checkpoint import CheckpointMismatchError
from pipeline.training.ray_train import TrainingFailed, TrainingInterrupted
from pipeline.cluster.jobs import RemoteJobError, Submission
from pipeline.cluster.probe import ClusterError
from pipeline.cluster.session import ClusterUnreachable, ResourceError, prefer_loopback
from pipeline.cluster.shipping import CodeMismatchError
from pipeline.cluster.storage import StorageError
from pipeline.tuning.errors import SweepFailed, SweepInterrupted, TrialsLost

USER_ERRORS = (ConfigError, DatasetError, PreparedDataError, ClassifierFileError, FeatureCacheError, TrackingError,
               CheckpointMismatchError, GeneratorFileError, FileNotFoundError, TrainingFailed, ExtractorUnavailable,
               FeatureInputError, SweepInterrupted, SweepFailed, ResourceError, CorruptFileError, TrainingInterrupted,
               StorageError, ClusterError, CodeMismatchError, RemoteJobError, TrialsLost, ProjectBusyError,
               ClusterUnreachable)
#: Commands that only read the project, so they may run beside another (every other one holds the project lock).
READ_ONLY = ("ui",)
#: Commands whose checkpoints let a re-run resume where a stopped one ended.
RESUMABLE = ("train", "tune", "study")


def _selection(config: Config, args: argparse.Namespace, with_variants: bool) -> list[tuple]:
    """The datasets (``prepare``, ``features``: ``data.datasets``) or the runs (every running suite's) that the
    command's ``--dataset``/``--variant``/``--seed`` select; all three name one run, in a suite or not."""
    if not with_variants:
        return [(args.dataset,)] if args.dataset else [(d,) for d in config.data.datasets]
    if args.dataset and args.variant and args.seed is not None:
        return [(args.dataset, args.variant, args.seed)]
    return [(d, v, s) for d, v, s in config.benchmark_runs()
            if args.dataset in (None, d) and args.variant in (None, v) and args.seed in (None, s)]


def _with_address(config: Config, args: argparse.Namespace) -> Config:
    """``--address`` (train, tune) wins over ``ray.address`` and ``RAY_ADDRESS``."""
    if not getattr(args, "address", None):
        return config
    return dataclasses.replace(config, ray=dataclasses.replace(config.ray, address=args.address))


def _cmd_prepare(config: Config, args: argparse.Namespace) -> None:
    from pipeline.common.timing import timed_stage
    from pipeline.data.stage import prepare

    for (dataset,) in _selection(config, args, with_variants=False):
        with timed_stage(dataset, "prepare"):
            prepare(config, dataset)


def _cmd_features(config: Config, args: argparse.Namespace) -> None:
    from pipeline.common.timing import timed_stage
    from pipeline.features.inception import compute_real_features

    for (dataset,) in _selection(config, args, with_variants=False):
        with timed_stage(dataset, "features"):
            compute_real_features(config, dataset)


def _cmd_train(config: Config, args: argparse.Namespace) -> None:
    from pipeline.training.stage import train_matrix

    train_matrix(config, _selection(config, args, with_variants=True))


def _cmd_evaluate(config: Config, args: argparse.Namespace) -> None:
    from pipeline.scoring.evaluate import evaluate_matrix

    evaluate_matrix(config, _selection(config, args, with_variants=True))


def _cmd_report(config: Config, args: argparse.Namespace) -> None:
    from pipeline.reporting.stage import report

    print(report(config))


def _cmd_tune(config: Config, args: argparse.Namespace) -> None:
    from pipeline.tuning.sweep import tune

    tune(config, restart=args.restart)


def _cmd_study(config: Config, args: argparse.Namespace) -> None:
    from pipeline.tuning.study import run_study

    run_study(config, restart=args.restart)


def _run_submitted(submission: Submission) -> None:
    """A submitted command, in the project :class:`pipeline.cluster.jobs.SubmittedCommand` set up."""
    config = load("params.yaml")
    prefer_loopback(config.ray)
    if submission.command == "train":
        from pipeline.training.stage import train_matrix

        train_matrix(config, [(str(d), str(v), int(s)) for d, v, s in submission.runs])
    else:
        COMMANDS[submission.command][0](config, argparse.Namespace(restart=submission.restart))


def _job_run(job_id: str) -> int:
    """``ganlab job-run``: what a Ray job submitted from outside the cluster runs (:mod:`pipeline.cluster.jobs`);
    its status is the submitted command's, which the submitting machine reads from the storage."""
    from pipeline.cluster.jobs import SubmittedCommand

    ended: list[tuple[int, str | None]] = []

    def run() -> None:
        with SubmittedCommand(job_id) as command:
            ended.append(_guarded(lambda: _run_submitted(command.submission), command.submission.command))
            command.finish(*ended[0])

    status, _ = _guarded(run, "job-run")  # the submission itself unreadable, or its outputs not uploadable
    return ended[0][0] if ended and status == 0 else status


def _cmd_ui(config: Config, args: argparse.Namespace) -> None:
    from pipeline.tracking.ui import serve

    serve(config, args.host, args.port)


COMMANDS: dict[str, tuple[Callable[[Config, argparse.Namespace], None], str, bool]] = {
    "prepare": (_cmd_prepare, "write data/prepared/<dataset>/ (arrays, manifest, domain classifier)", False),
    "features": (_cmd_features, "cache real-image Inception features in data/features/<dataset>/ (when eval.inception)", False),
    "train": (_cmd_train, "train GANs on Ray Train, tracked in MLflow; writes runs/<dataset>/<variant>/seed<k>/", True),
    "evaluate": (_cmd_evaluate, "score final and best generators; writes metrics/evaluate/<dataset>/<variant>/seed<k>.json", True),
    "report": (_cmd_report, "write reports/benchmark.md and reports/benchmark.html (with the study and the sweep, "
               "where they have run)", None),
    "tune": (_cmd_tune, "search tune.space with Ray Tune (trials are MLflow child runs); writes tune/", None),
    "study": (_cmd_study, "the equal-budget study: study.num_samples random trials per variant (Lucic et al. 2018); "
              "writes study/ (the report shows it)", None),
    "ui": (_cmd_ui, "serve the MLflow UI on the project's tracking store (127.0.0.1 by default)", None),
    "job-run": (None, "(run by Ray on the cluster) a command submitted from outside it, by id", None),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganlab", description="Reproducible, distributed GAN benchmarks (DVC + Ray + MLflow).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text, selects) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        if selects is not None:
            command.add_argument("--dataset", choices=dataset_names(), help="one dataset (default: every dataset the command covers)")
        if selects:
            command.add_argument("--variant", choices=sorted(variant_names()), help="one variant (default: every running suite's)")
            command.add_argument("--seed", type=int, help="one seed (default: every running suite's)")
        if name in ("train", "tune", "study"):
            command.add_argument("--address", help="join this Ray cluster (overrides ray.address and RAY_ADDRESS)")
        if name in ("tune", "study"):
            command.add_argument("--restart", action="store_true",
                                 help="start a new sweep even if a stopped one with the same settings can be resumed")
        if name == "job-run":
            command.add_argument("job_id", help="the submission id (jobs/<id> in the run storage)")
        if name == "ui":
            command.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
            command.add_argument("--port", type=int, help="port (default: a free one)")
    return parser


def _guarded(action: Callable[[], None], command: str) -> tuple[int, str | None]:
    """Run ``action`` of ``ganlab <command>``; an error a user can fix is one ``ganlab: error:`` line and status 2,
    Ctrl-C (or SIGTERM, SIGHUP) status 130. Returns (status, the error's message or None)."""
    try:
        action()
    except USER_ERRORS as err:
        print(f"ganlab: error: {err}", file=sys.stderr)
        return 2, str(err)
    except KeyboardInterrupt as stopped:
        reason = str(stopped) or "Ctrl-C"
        again = ("checkpoints are kept: run the command again to resume" if command in RESUMABLE
                 else "run the command again to redo it")
        print(f"ganlab: stopped ({reason}); {again}", file=sys.stderr)
        return 130, f"stopped ({reason})"
    return 0, None


def _run(args: argparse.Namespace) -> None:
    config = _with_address(load(args.params), args)
    prefer_loopback(config.ray)  # before any command imports Ray
    if args.command in READ_ONLY:
        COMMANDS[args.command][0](config, args)
        return
    with project_lock(args.command):
        COMMANDS[args.command][0](config, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    stop_on_signals()
    if args.command == "job-run":
        return _job_run(args.job_id)
    return _guarded(lambda: _run(args), args.command)[0]


if __name__ == "__main__":
    sys.exit(main())
