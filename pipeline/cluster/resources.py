"""What one run asks Ray for, how many runs a cluster holds at once, and the demand an autoscaler is shown.

A run is a Ray Train run of ``ray.num_workers`` workers. Each worker asks (Ray 2.60, ``ray.train.ScalingConfig``:
``resources_per_worker``, ``use_gpu``, ``accelerator_type``) for ``ray.cpus_per_worker`` CPUs, the custom resources
of ``ray.resources_per_worker``, one GPU with ``ray.use_gpu`` and, with ``ray.accelerator_type``, 0.001 of the
node resource ``accelerator_type:<type>`` that Ray gives every node with that GPU model. :class:`RunDemand` is
that request, written once: the Ray Train run is built from it (:meth:`RunDemand.scaling_options`), the fan-out
counts with it, and the autoscaler is asked for it.

Counting is by totals (a run fits when every resource it names has that much left in the cluster): it does not
see how resources split over nodes, so a fragmented cluster may queue a run Tune started -- Ray then waits for room
while the run holds no MLflow run yet (its trial only starts when counted in, :mod:`pipeline.training.run_queue`).
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from pipeline.cluster.session import ResourceError
from pipeline.config import RayConfig

log = logging.getLogger("ganlab.ray")

ACCELERATOR_PREFIX = "accelerator_type:"
#: What Ray Train asks of the ``accelerator_type:<type>`` node resource per worker (``ray.air.config``).
ACCELERATOR_SHARE = 0.001
#: Seconds between the progress lines of a wait for resources.
PROGRESS_EVERY_S = 30.0


@dataclass(frozen=True)
class RunDemand:
    """``workers`` bundles of ``per_worker`` resources; ``one_node_each``: placement STRICT_SPREAD."""

    per_worker: Mapping[str, float]
    workers: int
    one_node_each: bool = False
    custom: Mapping[str, float] = field(default_factory=dict)  # ``ray.resources_per_worker`` as given

    @classmethod
    def of(cls, ray: RayConfig) -> RunDemand:
        custom = dict(ray.resources_per_worker)
        per_worker = {"CPU": ray.cpus_per_worker, **custom}
        if ray.use_gpu:
            per_worker.setdefault("GPU", 1.0)
        if ray.accelerator_type:
            per_worker[f"{ACCELERATOR_PREFIX}{ray.accelerator_type}"] = ACCELERATOR_SHARE
        return cls({name: float(amount) for name, amount in per_worker.items() if amount},
                   ray.num_workers, ray.placement_strategy == "STRICT_SPREAD", custom)

    def total(self) -> dict[str, float]:
        """What one run holds in all."""
        return {name: amount * self.workers for name, amount in self.per_worker.items()}

    def bundles(self, runs: int = 1) -> list[dict[str, float]]:
        """The resource shapes of ``runs`` runs, one bundle per worker (what the autoscaler is asked to fit)."""
        return [dict(self.per_worker) for _ in range(self.workers * runs)]

    def describe(self) -> str:
        """``2 worker(s) × (1 CPU, 1 GPU)``."""
        shown = ", ".join(f"{amount:g} {name}" for name, amount in self.per_worker.items())
        return f"{self.workers} worker(s) × ({shown})"

    def runs_that_fit(self, resources: Mapping[str, float]) -> int:
        """How many runs ``resources`` (a cluster's totals) hold at once: every resource a run names counts."""
        total = self.total()
        return min((math.floor(resources.get(name, 0.0) / amount + 1e-9) for name, amount in total.items()),
                   default=0)

    def missing(self, resources: Mapping[str, float], alive_nodes: int) -> list[str]:
        """What one run needs beyond ``resources``, each as ``2 GPU (the cluster has 0)``."""
        absent = [f"{amount:g} {name} (the cluster has {resources.get(name, 0.0):g})"
                  for name, amount in self.total().items() if amount > resources.get(name, 0.0) + 1e-9]
        if self.one_node_each and self.workers > alive_nodes:
            absent.append(f"{self.workers} nodes for one worker each (the cluster has {alive_nodes})")
        return absent

    def scaling_options(self, ray: RayConfig) -> dict[str, Any]:
        """The keyword arguments of Ray Train's ``ScalingConfig`` that ask for exactly :attr:`per_worker`."""
        return {"num_workers": self.workers, "use_gpu": ray.use_gpu,
                "resources_per_worker": {"CPU": ray.cpus_per_worker, **self.custom},
                "accelerator_type": ray.accelerator_type, "placement_strategy": ray.placement_strategy}


def cluster_totals() -> dict[str, float]:
    import ray

    return ray.cluster_resources()


def alive_nodes() -> int:
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


@contextmanager
def autoscaler_demand(bundles: list[dict[str, float]], local: bool) -> Iterator[None]:
    """Show a cluster's autoscaler a demand for ``bundles`` while the block runs, and withdraw it after.

    ``ray.autoscaler.sdk.request_resources``: the autoscaler scales up until the bundles fit -- even from a node
    group at 0, or under a head with ``--num-cpus=0`` -- and holds them until the next request, which replaces it
    (one request per cluster: the driver that asked last is the one served). Nothing is asked of a local
    instance, which has no autoscaler."""
    if local:
        yield
        return
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)
    log.info("asked the cluster's autoscaler for %d bundle(s) of %s", len(bundles),
             ", ".join(f"{amount:g} {name}" for name, amount in (bundles[0] if bundles else {}).items()))
    try:
        yield
    finally:
        request_resources(bundles=[])


def require_resources(what: str, demand: RunDemand, timeout_s: float, local: bool,
                      clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
    """Fail before any compute when one run of ``demand`` cannot fit: at once on a local instance; on a cluster
    after ``timeout_s`` of waiting (polled every 5 s, a progress line every :data:`PROGRESS_EVERY_S` seconds) for
    the nodes that :func:`autoscaler_demand` asked for, or that someone adds. The message names what is missing."""
    missing = demand.missing(cluster_totals(), alive_nodes())
    if missing and not local:
        log.info("%s waits for %s on the cluster (up to %.0fs, ray.resource_timeout_s)", what, ", ".join(missing),
                 timeout_s)
        started = shown = clock()
        while missing and clock() - started < timeout_s:
            sleep(min(5.0, max(timeout_s - (clock() - started), 0.1)))
            missing = demand.missing(cluster_totals(), alive_nodes())
            if missing and clock() - shown >= PROGRESS_EVERY_S:
                shown = clock()
                log.info("%s still waits for %s (%.0fs of %.0fs)", what, ", ".join(missing), shown - started,
                         timeout_s)
    if missing:
        where = "this machine" if local else f"the cluster after waiting {timeout_s:.0f}s (ray.resource_timeout_s)"
        raise ResourceError(f"{what} needs {', '.join(missing)}: not available on {where}; lower ray.num_workers, "
                            "ray.cpus_per_worker, ray.resources_per_worker or the sweep's cpus_per_trial, or join a "
                            "larger cluster (RAY_ADDRESS)")
