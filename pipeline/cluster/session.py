"""Starting or joining Ray: one code path for a laptop and a cluster.

``ray.address`` in params, else ``RAY_ADDRESS``, joins an existing cluster;
neither starts a local instance sized to this machine (dashboard off,
loopback only).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

from pipeline.config import RayConfig

log = logging.getLogger("ganlab.ray")


@contextmanager
def ray_session(config: RayConfig) -> Iterator[None]:
    """``ray.init`` unless Ray is already initialised (then the caller's session is reused)."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = config.address or os.environ.get("RAY_ADDRESS") or None
    # Ray's own loggers in every process: errors only, so worker progress lines stay readable.
    quiet = {"logging_level": logging.ERROR, "logging_config": ray.LoggingConfig(log_level="ERROR"), "log_to_driver": True}
    if address:
        log.info("joining the Ray cluster at %s", address)
        ray.init(address=address, **quiet)
    else:
        # A laptop cannot be pre-empted; the watcher only adds a process and an error line.
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    try:
        yield
    finally:
        ray.shutdown()
