"""torch.distributed on a local Ray instance, on the loopback interface only.

Ray Train's ``TorchConfig`` starts torch.distributed's rendezvous store (``TCPStore``) on worker 0, and the store's
server listens on every interface (``::`` / ``0.0.0.0``) whatever ``MASTER_ADDR`` says -- even for one worker. On a
local instance every worker runs on this machine, so :class:`LoopbackTorchConfig` opens the store's listening socket
itself, on 127.0.0.1, and hands it to the store (``TCPStore(master_listen_fd=...)``); gloo's and NCCL's own
sockets go to the loopback interface (``GLOO_SOCKET_IFNAME``, ``NCCL_SOCKET_IFNAME``, unless already set). On a
cluster the workers must reach one another, and Ray Train's own set-up runs unchanged.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ray.train.torch import TorchConfig
from ray.train.torch.config import _set_torch_distributed_env_vars, _TorchBackend

LOOPBACK = "127.0.0.1"

#: In worker 0's process: the store's listening socket, from :func:`listen_on_loopback` until the store takes it.
_listener: socket.socket | None = None


def loopback_interface() -> str | None:
    """The name of the network interface holding 127.0.0.1 (``lo`` on Linux, ``lo0`` on macOS), if any."""
    import psutil

    for name, addresses in psutil.net_if_addrs().items():
        if any(address.family == socket.AF_INET and address.address == LOOPBACK for address in addresses):
            return name
    return None


def listen_on_loopback() -> int:
    """Open the store's listening socket on 127.0.0.1 (a free port) in this worker; returns the port."""
    global _listener
    _listener = socket.create_server((LOOPBACK, 0), backlog=128)
    return _listener.getsockname()[1]


def join_process_group(backend: str, world_rank: int, world_size: int, port: int, timeout_s: float) -> None:
    """``init_process_group`` through a store on 127.0.0.1:``port``; worker 0 serves it on its loopback socket."""
    import torch.distributed as dist

    global _listener
    interface = loopback_interface()
    if interface is not None:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
        os.environ.setdefault("NCCL_SOCKET_IFNAME", interface)
    if backend == "nccl":  # as Ray Train does: a timed-out collective fails instead of hanging
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    os.environ.update(MASTER_ADDR=LOOPBACK, MASTER_PORT=str(port))
    listen_fd = None
    if world_rank == 0:
        if _listener is None:
            raise RuntimeError("worker 0 joins the process group before listen_on_loopback opened its socket")
        listen_fd, _listener = _listener.detach(), None
    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(LOOPBACK, port, world_size, is_master=world_rank == 0, timeout=timeout,
                           master_listen_fd=listen_fd)
    dist.init_process_group(backend, store=store, rank=world_rank, world_size=world_size, timeout=timeout)


class LoopbackTorchBackend(_TorchBackend):
    """Ray Train's torch backend with the process group set up by :func:`join_process_group`."""

    def on_start(self, worker_group: Any, backend_config: TorchConfig) -> None:
        import ray

        port = worker_group.execute_single(0, listen_on_loopback)
        worker_group.execute(_set_torch_distributed_env_vars)
        ray.get([worker_group.execute_single_async(rank, join_process_group, backend=backend_config.backend,
                                                   world_rank=rank, world_size=len(worker_group), port=port,
                                                   timeout_s=backend_config.timeout_s)
                 for rank in range(len(worker_group))])


@dataclass
class LoopbackTorchConfig(TorchConfig):
    """``TorchConfig`` for a local instance: its rendezvous and collectives never leave the loopback interface."""

    @property
    def backend_cls(self) -> type[LoopbackTorchBackend]:
        return LoopbackTorchBackend


def torch_config(backend: str, local: bool) -> TorchConfig:
    """The process-group settings of a Ray Train run: on the loopback interface on a local instance."""
    return (LoopbackTorchConfig if local else TorchConfig)(backend=backend)
