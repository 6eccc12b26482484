"""A watchdog that stops the Ray processes of a local session when the session ends -- also when the driver is
killed (``kill -9``, an out-of-memory kill), which Ray's own fate-sharing does not cover: its dashboard and
runtime-env agents outlive the driver.

The watchdog is a separate process in its own session (so a signal to the driver's process group does
not reach it). Every half second it records the driver's descendants that are Ray processes; when its
stdin closes -- the driver stopped the session, or died, and the kernel closed the pipe -- it ends every
recorded process that still runs (SIGTERM, then SIGKILL after a grace period) and exits.

    python -m pipeline.cluster.watchdog <driver pid>
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil

POLL_S = 0.5
GRACE_S = 3.0


def is_ray_process(process: psutil.Process) -> bool:
    """Ray's servers, agents and workers (``gcs_server``, ``raylet``, ``ray::…``, Python under ``ray/``)."""
    try:
        name, command = process.name(), " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return name in ("gcs_server", "raylet") or name.startswith("ray::") or command.startswith("ray::") or "/ray/" in command


def ray_descendants(driver: psutil.Process, since: float) -> dict[int, float]:
    """pid → start time of the driver's Ray descendants started after ``since`` (start times also tell a reused
    pid apart)."""
    found = {}
    try:
        children = driver.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return found
    for child in children:
        try:
            started = child.create_time()
            if started >= since and is_ray_process(child):
                found[child.pid] = started
        except psutil.NoSuchProcess:
            continue
    return found


def still_running(recorded: dict[int, float]) -> list[psutil.Process]:
    alive = []
    for pid, started in recorded.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def end(processes: list[psutil.Process], grace_s: float = GRACE_S) -> None:
    """SIGTERM, then SIGKILL whatever is left after ``grace_s``."""
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, left = psutil.wait_procs(processes, timeout=grace_s)
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def watch(driver_pid: int) -> None:
    """Record the driver's Ray descendants until stdin closes, then end those still running."""
    driver, since = psutil.Process(driver_pid), time.time() - 1.0
    recorded: dict[int, float] = {}
    while True:
        recorded.update(ray_descendants(driver, since))
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready and not sys.stdin.buffer.read1(1):
            break
    end(still_running(recorded))


@dataclass
class Watchdog:
    """The driver's handle: start the watchdog before Ray starts, stop it after ``ray.shutdown``."""

    process: subprocess.Popen

    @classmethod
    def start(cls) -> Watchdog:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cluster.watchdog", str(os.getpid())],
                                   stdin=subprocess.PIPE, start_new_session=True)
        return cls(process)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Close the pipe (the watchdog ends the session's leftovers) and wait for it."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of the terminal is the driver's business
    watch(int(sys.argv[1]))
