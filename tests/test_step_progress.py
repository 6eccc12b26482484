"""The driver's training bar follows the step count that rank 0 writes."""

from __future__ import annotations

import time

from pipeline.training.step_progress import StepFile, follow_steps


def test_step_file_is_written_at_most_once_per_interval_and_always_at_the_end(tmp_path):
    path = tmp_path / "job.step"
    step_file = StepFile(path, total=5, interval_s=3600.0)
    step_file(1)
    assert path.read_text() == "1"
    step_file(4)
    assert path.read_text() == "1", "within the interval nothing is written"
    step_file(5)
    assert path.read_text() == "5", "the last step is always written"


def test_the_bar_reaches_the_last_written_step(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANLAB_PROGRESS", "1")
    monkeypatch.setenv("GANLAB_PROGRESS_INTERVAL", "0")
    path = tmp_path / "job.step"
    printed = ""

    def wait_for(text: str) -> None:
        nonlocal printed
        deadline = time.monotonic() + 30
        while text not in printed:
            assert time.monotonic() < deadline, f"the bar never showed {text!r}: {printed!r}"
            time.sleep(0.05)
            printed += capsys.readouterr().err

    with follow_steps(path, total=10, description="job"):
        path.write_text("4")
        wait_for("4/10")
        path.write_text("10")
    printed += capsys.readouterr().err
    assert "10/10" in printed
