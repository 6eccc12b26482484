"""The cause of a failure that reached the driver through Ray, as one line.

Ray wraps what a remote process raised: a task's exception in ``RayTaskError`` (whose text starts with the
process header ``ray::ImplicitFunc.train() (pid=…, ip=…)`` and a traceback), a Ray Train run's in
``WorkerGroupError`` (one exception per failed worker rank) or ``ControllerError``, and code raises one error
``from`` another. :func:`failure_cause` unwraps all of them to the innermost exception and returns its type
and first line -- what the stage's error and ``trials.csv`` show.
"""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path

from pipeline.common.files import reason

#: What Ray appends to an error's text (its log context), not part of the cause.
RAY_CONTEXT = re.compile(r"\s*job_id=\S+ worker_id=\S+ node_id=\S+ timestamp_ns=\d+")


def chain(error: BaseException, context: bool = False) -> list[BaseException]:
    """``error`` and what it wraps, outermost first: Ray's wrappers, ``raise … from`` (and, with ``context``,
    the exception being handled when it was raised)."""
    errors: list[BaseException] = []
    while isinstance(error, BaseException) and id(error) not in {id(e) for e in errors}:
        errors.append(error)
        error = (getattr(error, "cause", None) or getattr(error, "controller_failure", None)
                 or next(iter((getattr(error, "worker_failures", None) or {}).values()), None)
                 or error.__cause__ or (error.__context__ if context else None))
    return errors


def innermost(error: BaseException) -> BaseException:
    """The exception at the bottom of Ray's wrappers and ``raise … from`` chains."""
    return chain(error)[-1]


def failure_cause(error: BaseException) -> str:
    """``RuntimeError: fault injected at step 5`` for whatever Ray wrapped around it."""
    cause = innermost(error)
    text = RAY_CONTEXT.sub("", str(cause)).strip()
    if text.startswith("ray::") or "Traceback (most recent call last)" in text:  # a header and a traceback
        return text.splitlines()[-1].strip()[:300]
    return RAY_CONTEXT.sub("", reason(cause))


def no_space_left(error: BaseException) -> bool:
    """Whether ``error`` itself says a disk is full (``ENOSPC``, or its text when Ray or pyarrow re-raised it)."""
    return getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error)


#: Below this much free space a local disk counts as full (Ray and Tune write small state files on every report).
FULL_DISK_BYTES = 16 * 1024**2


def full_disk(error: BaseException, folders: list[Path]) -> str | None:
    """When ``error`` comes from a full disk (``ENOSPC`` anywhere in what Ray wrapped, or one of the local
    ``folders`` with less than :data:`FULL_DISK_BYTES` free -- Tune's own errors then hide the cause), one line
    naming the folder, the space left and the fix; else None."""
    no_space = any(no_space_left(e) for e in chain(error, context=True))
    measured = []
    for folder in folders:
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None:
            measured.append((shutil.disk_usage(existing).free, str(folder)))
    if measured and (no_space or min(measured)[0] < FULL_DISK_BYTES):
        free, folder = min(measured)
        return (f"the disk holding {folder} is full ({free / 1024**2:.1f} MiB free): free space there, or move "
                f"it to another disk (ray.storage / GANLAB_STORAGE for the run storage), then run the command "
                f"again -- finished runs and written checkpoints are kept")
    return "a disk is full (No space left on device): free space, then run the command again" if no_space else None
