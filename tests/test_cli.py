"""The command line: help, and user errors as one clear line with exit status 2."""

from __future__ import annotations

import pytest

from pipeline.cli import main


def test_help_lists_the_stages(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("prepare", "train", "evaluate", "report"):
        assert command in out


def test_bad_params_exit_with_a_message(in_tmp, capsys):
    (in_tmp / "params.yaml").write_text("train:\n  lr_g: -3\n")
    assert main(["train"]) == 2
    assert "ganlab: error: params.yaml: train.lr_g = -3.0 is out of range" in capsys.readouterr().err


def test_training_before_prepare_says_what_to_run(in_tmp, capsys):
    (in_tmp / "params.yaml").write_text("{}\n")
    assert main(["train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"]) == 2
    assert "dvc repro prepare@ring8" in capsys.readouterr().err


def test_unreachable_tracking_server_fails_fast(prepared, capsys):
    from pathlib import Path

    Path("params.yaml").write_text("mlflow:\n  tracking_uri: http://127.0.0.1:9\n")
    assert main(["train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"]) == 2
    assert "MLflow tracking server at http://127.0.0.1:9 is unreachable" in capsys.readouterr().err


def test_evaluate_before_train_says_what_to_run(prepared, capsys):
    from pathlib import Path

    Path("params.yaml").write_text("{}\n")
    assert main(["evaluate", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"]) == 2
    assert "dvc repro train" in capsys.readouterr().err
