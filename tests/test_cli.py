"""The command line: help, and user errors as one clear line with exit status 2."""

from __future__ import annotations

import signal
from pathlib import Path

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


def test_ctrl_c_reaches_a_command_started_with_sigint_ignored(in_tmp):
    """A background job of a shell script starts with SIGINT ignored; a ganlab command still stops on it."""
    (in_tmp / "params.yaml").write_text("{}\n")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main(["train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"]) == 2
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


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


def test_a_second_command_on_the_project_is_refused_naming_the_one_running(in_tmp, capsys):
    """`ganlab train` beside `dvc repro`'s would train the same runs at once: the second gets one line."""
    from pipeline.common.project_lock import project_lock

    (in_tmp / "params.yaml").write_text("{}\n")
    with project_lock("train"):
        assert main(["evaluate"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("ganlab: error: `ganlab train` (pid ") and "run `ganlab evaluate` again" in line
    assert main(["evaluate"]) == 2 and "is running in this project" not in capsys.readouterr().err, "released"


def test_the_project_lock_goes_with_a_killed_command(in_tmp):
    import signal
    import subprocess
    import sys

    from tests.conftest import PROJECT

    holder = subprocess.Popen([sys.executable, "-c", "from pipeline.common.project_lock import project_lock\n"
                               "with project_lock('train'):\n    print('held', flush=True)\n    input()"],
                              cwd=in_tmp, env={"PYTHONPATH": str(PROJECT)}, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    from pipeline.common.project_lock import ProjectBusyError, project_lock

    with pytest.raises(ProjectBusyError, match=rf"`ganlab train` \(pid {holder.pid}, started .*\) is running"):
        with project_lock("report"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with project_lock("report"):
        pass


def test_a_ray_address_where_nothing_answers_fails_in_seconds_naming_it(prepared, capsys, monkeypatch):
    """Ray itself retries such an address for minutes, printing only its C++ warnings."""
    import time

    import yaml

    from pipeline.cluster import session

    Path("params.yaml").write_text(yaml.safe_dump(prepared.to_dict()))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    monkeypatch.setattr(session, "REACH_TIMEOUT_S", 2.0)
    started = time.monotonic()
    assert main(["train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"]) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ganlab")]
    assert line.startswith("ganlab: error: no Ray cluster answers at 127.0.0.1:9 (the environment variable "
                           "RAY_ADDRESS; Connection refused for 2 s): start the cluster's head there")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("command", "raised", "line"), [
    ("evaluate", KeyboardInterrupt(), "ganlab: stopped (Ctrl-C); run the command again to redo it"),
    ("train", KeyboardInterrupt("SIGTERM"), "ganlab: stopped (SIGTERM); checkpoints are kept: run the command again "
                                            "to resume"),
])
def test_a_stopped_command_says_why_and_what_a_rerun_does(capsys, command, raised, line):
    from pipeline.cli import _guarded

    def stopped() -> None:
        raise raised

    assert _guarded(stopped, command)[0] == 130
    assert capsys.readouterr().err.strip() == line
