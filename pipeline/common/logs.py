"""ganlab's log lines: one handler on the ``ganlab`` logger, independent of Ray's logging setup.

Used by the CLI and inside Ray workers (whose stderr Ray forwards to the driver).
"""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    logger = logging.getLogger("ganlab")
    logger.setLevel(level or os.environ.get("GANLAB_LOG_LEVEL", "INFO"))
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.propagate = False
