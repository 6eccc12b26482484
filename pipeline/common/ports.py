"""A free TCP port, for the servers ganlab starts (the MLflow UI, a local Ray instance's GCS)."""

from __future__ import annotations

import socket


def free_port(host: str) -> int:
    """A port on ``host`` nothing listens on now (the OS picks it; another program may take it before use)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
