"""Every file ganlab reads, damaged: one `ganlab: error:` line naming the file, what is wrong and the command that
rebuilds it -- never a traceback (issue: hardening)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.common.layout import (generators_file, metrics_file, model_dir, reference_dir, run_dir, train_summary_file)
from tests.conftest import export_finished, tiny_config


@pytest.fixture
def finished_run(prepared, tmp_path):
    """ring8 × hinge × seed 0 trained (bare loop, no Ray) and exported as the train stage exports it; params.yaml."""
    import yaml

    from tests.test_step import _training

    training = _training(prepared, "hinge", "ring8")
    training.run()
    export_finished(training, tmp_path / "ckpt", prepared)
    Path("params.yaml").write_text(yaml.safe_dump(tiny_config(benchmark={"variants": ["hinge"], "datasets": ["ring8"]},
                                                              tune={"dataset": "ring8"}).to_dict()))
    return training.job


def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ganlab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _truncate(path: Path, keep: int = 40) -> None:
    path.write_bytes(path.read_bytes()[:keep])


EVALUATE = ["evaluate", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"]


def test_a_truncated_generator_file(finished_run, capsys):
    _truncate(generators_file("ring8", "hinge", 0))
    assert main(EVALUATE) == 2
    _one_error_line(capsys, "generators.pt cannot be read", "dvc repro train")


def test_a_corrupt_training_summary(finished_run, capsys):
    train_summary_file("ring8", "hinge", 0).write_text('{"run_id": ')
    assert main(EVALUATE) == 2
    _one_error_line(capsys, "train_summary.json is corrupt", "dvc repro train")


def test_truncated_prepared_arrays(finished_run, capsys):
    _truncate(Path("data/prepared/ring8/train.npz"))
    assert main(EVALUATE) == 2
    _one_error_line(capsys, "train.npz", "dvc repro prepare@ring8")


def test_damaged_classifier_and_its_statistics_stop_a_training_before_ray(prepared, capsys):
    (stats,) = reference_dir("digits").glob("classifier-*.npz")
    _truncate(stats)
    Path("params.yaml").write_text("{}\n")
    assert main(["train", "--dataset", "digits", "--variant", "hinge", "--seed", "0"]) == 2
    _one_error_line(capsys, stats.name, "is unreadable", "dvc repro prepare@digits")
    _truncate(Path("data/prepared/digits/classifier.pt"))
    assert main(["train", "--dataset", "digits", "--variant", "hinge", "--seed", "0"]) == 2
    _one_error_line(capsys, "classifier.pt", "dvc repro prepare@digits")


def test_damaged_files_the_report_reads(finished_run, capsys):
    from pipeline.scoring.evaluate import evaluate
    from pipeline.config import load

    evaluate(load("params.yaml"), "ring8", "hinge", 0)
    assert metrics_file("ring8", "hinge", 0).is_file()
    (run_dir("ring8", "hinge", 0) / "history.csv").write_text('step,loss_d\n"1,2\n')
    assert main(["report"]) == 2
    _one_error_line(capsys, "history.csv is corrupt", "dvc repro train")
    metrics_file("ring8", "hinge", 0).write_text("{not json")
    assert main(["report"]) == 2
    _one_error_line(capsys, "seed0.json is corrupt", "dvc repro evaluate")


def test_a_damaged_checkpoint_names_itself_and_how_to_start_over(finished_run, tmp_path):
    from pipeline.training.checkpoint import CheckpointMismatchError, load_checkpoint

    state = model_dir("ring8", "hinge", 0) / "state.pt"
    _truncate(state, 100)
    with pytest.raises(CheckpointMismatchError, match=r"state\.pt cannot be read \(.*\); delete it to start over"):
        load_checkpoint(state.parent)


def test_an_evaluation_mlflow_did_not_take_is_scored_again_not_kept(finished_run, capsys):
    """The result file is what a re-run keeps: it must not exist before the MLflow run has the metrics."""
    from pipeline.tracking.store import client_for, resolve_tracking_uri

    client = client_for(resolve_tracking_uri(tiny_config()))
    run_id = (run_dir("ring8", "hinge", 0) / "train_summary.json").read_text().split('"run_id": "')[1].split('"')[0]
    client.delete_run(run_id)
    assert main(EVALUATE) == 2
    _one_error_line(capsys, f"MLflow run {run_id} refused the metrics")
    assert not metrics_file("ring8", "hinge", 0).exists(), "no result file a re-run would keep"
    client.restore_run(run_id)
    assert main(EVALUATE) == 0
    assert metrics_file("ring8", "hinge", 0).is_file()
    assert "evaluation kept" not in capsys.readouterr().err
    assert any(name.startswith("final/") for name in client.get_run(run_id).data.metrics)


def test_damaged_dataset_files_stop_prepare_with_one_line(in_tmp, capsys):
    """An interrupted download or a web page saved as an IDX file: `ganlab prepare` names the user's file and
    the fix, and keeps the prepared data of an earlier run."""
    from tests.test_datasets import write_idx

    folder = Path("data/raw/mnist")
    write_idx(folder)
    Path("params.yaml").write_text("{}\n")
    earlier = Path("data/prepared/mnist/manifest.json")
    earlier.parent.mkdir(parents=True)
    earlier.write_text("{}\n")
    archive = folder / "train-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:200])
    assert main(["prepare", "--dataset", "mnist"]) == 2
    _one_error_line(capsys, f"MNIST file {archive} cannot be decompressed", "download it again")
    archive.unlink()
    (folder / "train-images-idx3-ubyte").write_text("<html><body>404 Not Found</body></html>\n")
    assert main(["prepare", "--dataset", "mnist"]) == 2
    _one_error_line(capsys, f"{folder / 'train-images-idx3-ubyte'} is not an IDX file", "download it again")
    assert earlier.is_file()
