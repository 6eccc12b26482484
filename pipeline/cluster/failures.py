"""The cause of a failure that reached the driver through Ray, as one line.

Ray wraps what a remote process raised: a task's exception in ``RayTaskError`` (whose text starts with the
process header ``ray::ImplicitFunc.train() (pid=…, ip=…)`` and a traceback), a Ray Train run's in
``WorkerGroupError`` (one exception per failed worker rank) or ``ControllerError``, and code raises one error
``from`` another. :func:`failure_cause` unwraps all of them to the innermost exception and returns its type
and first line -- what the stage's error and ``trials.csv`` show.
"""

from __future__ import annotations

import re

from pipeline.common.files import reason

#: What Ray appends to an error's text (its log context), not part of the cause.
RAY_CONTEXT = re.compile(r"\s*job_id=\S+ worker_id=\S+ node_id=\S+ timestamp_ns=\d+")


def innermost(error: BaseException) -> BaseException:
    """The exception at the bottom of Ray's wrappers and ``raise … from`` chains."""
    seen = {id(error)}
    while True:
        inner = (getattr(error, "cause", None) or getattr(error, "controller_failure", None)
                 or next(iter((getattr(error, "worker_failures", None) or {}).values()), None) or error.__cause__)
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return error
        seen.add(id(inner))
        error = inner


def failure_cause(error: BaseException) -> str:
    """``RuntimeError: fault injected at step 5`` for whatever Ray wrapped around it."""
    cause = innermost(error)
    text = RAY_CONTEXT.sub("", str(cause)).strip()
    if text.startswith("ray::") or "Traceback (most recent call last)" in text:  # a header and a traceback
        return text.splitlines()[-1].strip()[:300]
    return RAY_CONTEXT.sub("", reason(cause))
