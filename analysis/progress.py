"""Progress bars for long work (feature extraction, training, sweeps) that stay quiet in CI logs.

On a terminal a normal ``tqdm`` bar; when stderr is not a terminal (CI,
DVC, Ray worker logs) at most one line every ``GANLAB_PROGRESS_INTERVAL``
seconds (default 30); ``GANLAB_PROGRESS=0`` turns bars off.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


def bars_on() -> bool:
    """Progress bars are wanted (``GANLAB_PROGRESS`` is not ``0``)."""
    return os.environ.get("GANLAB_PROGRESS", "1") != "0"


def interactive() -> bool:
    """A person watches a terminal: bars redraw in place rather than print lines."""
    return bars_on() and sys.stderr.isatty()


def progress(total: int, description: str, unit: str = "it", initial: int = 0, enabled: bool = True) -> tqdm:
    terminal = sys.stderr.isatty()
    interval = 0.1 if terminal else float(os.environ.get("GANLAB_PROGRESS_INTERVAL", "30"))
    return tqdm(total=total, initial=initial, desc=description, unit=unit, mininterval=interval,
                disable=not enabled or not bars_on(), dynamic_ncols=terminal, file=sys.stderr, leave=terminal)
