"""The signals that end a ganlab command as Ctrl-C does: the command's ``finally`` blocks and handlers run (runs are
closed, Ray and every process it started stop, checkpoints stay for a resume, ``ganlab ui`` stops its server group).
"""

from __future__ import annotations

import signal

#: Besides Ctrl-C: SIGTERM (``timeout``, a service manager) and SIGHUP (a closed terminal).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (named after the signal, Ctrl-C's unnamed). SIGINT gets
    Python's own handler even where the process started with it ignored (a background job of a script inherits
    that, and Python then leaves it ignored)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _stop)
