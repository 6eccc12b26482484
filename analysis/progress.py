"""Progress bars for long work (feature extraction, training, sweeps) that stay quiet in CI logs.

On a terminal a normal ``tqdm`` bar; when stderr is not a terminal (CI,
DVC, Ray worker logs) at most one line every ``GANLAB_PROGRESS_INTERVAL``
seconds (default 30); ``GANLAB_PROGRESS=0`` turns bars off.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


def progress(total: int, description: str, unit: str = "it", initial: int = 0, enabled: bool = True) -> tqdm:
    interactive = sys.stderr.isatty()
    interval = 0.1 if interactive else float(os.environ.get("GANLAB_PROGRESS_INTERVAL", "30"))
    return tqdm(total=total, initial=initial, desc=description, unit=unit, mininterval=interval,
                disable=not enabled or os.environ.get("GANLAB_PROGRESS", "1") == "0", dynamic_ncols=interactive,
                file=sys.stderr, leave=interactive)
