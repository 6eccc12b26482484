"""One ganlab command at a time in a project.

Two commands on one project (``ganlab train`` started beside ``dvc repro``) would train the same runs at once and
clear each other's scratch folders under ``.ganlab/``. Every command that writes the project holds an exclusive
``flock`` on ``.ganlab/command.lock`` while it runs; the kernel releases it however the process ends (``kill -9``
included), so a crash never leaves the project locked. The file names the holder, for the loser's one line.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.common.layout import SCRATCH

LOCK_FILE = SCRATCH / "command.lock"


class ProjectBusyError(RuntimeError):
    """Another ganlab command holds the project."""


@contextmanager
def project_lock(command: str, path: Path = LOCK_FILE) -> Iterator[None]:
    """Hold the project for ``ganlab <command>``, or raise :class:`ProjectBusyError` naming the command that holds
    it (without waiting: a second command should not silently queue behind an hour of training)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another ganlab command"
            raise ProjectBusyError(
                f"{holder} is running in this project ({Path.cwd()}); wait for it to end (or stop it), then run "
                f"`ganlab {command}` again -- two commands at once would train and write the same runs "
                f"(lock: {path})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"`ganlab {command}` (pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
