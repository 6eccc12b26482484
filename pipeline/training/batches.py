"""Minibatches of one worker's shard of the training data, reshuffled every epoch; the two domains of unpaired
data are drawn independently."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: The arrays that travel with each domain of unpaired data (the first key names the domain).
DOMAINS = (("x", "y"), ("source", "source_y"))


def permutation_seed(seed: int, domain: int, epoch: int) -> int:
    """The seed of domain ``domain``'s permutation in ``epoch``: ``seed · 1,000,003 + epoch`` for the first domain
    (the stream of paired data, unchanged by the second domain), a NumPy ``SeedSequence`` of
    ``(seed, domain, epoch)`` for the second, a stream independent of the first."""
    if domain == 0:
        return seed * 1_000_003 + epoch
    return int(np.random.SeedSequence((seed, domain, epoch)).generate_state(1, dtype=np.uint64)[0])


class ShardStream:
    """One domain's positions in one worker's shard: epoch ``e`` uses the permutation of ``size`` rows drawn from
    :func:`permutation_seed`; worker ``r`` of ``W`` takes positions ``r, r+W, r+2W, …`` of it, so shards are
    disjoint and all have ``size // W`` rows. The last partial batch of an epoch is dropped."""

    def __init__(self, size: int, batch_size: int, rank: int, world: int, seed: int, domain: int,
                 device: torch.device) -> None:
        self.shard_size = size // world
        if self.shard_size < batch_size:
            raise ValueError(f"{size} samples cannot fill a batch of {batch_size} on each of {world} worker(s)")
        self.size, self.batch_size, self.rank, self.world = size, batch_size, rank, world
        self.seed, self.domain, self.device = seed, domain, device
        self.epoch, self.position = 0, 0
        self._order = self._shard(0)

    def _shard(self, epoch: int) -> Tensor:
        rng = torch.Generator().manual_seed(permutation_seed(self.seed, self.domain, epoch))
        permutation = torch.randperm(self.size, generator=rng)
        return permutation[self.rank :: self.world][: self.shard_size].to(self.device)

    def next_rows(self) -> Tensor:
        """The row indices of the next batch."""
        if self.position + self.batch_size > self.shard_size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._shard(self.epoch)
        index = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return index

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._shard(self.epoch)


class ShardedBatches:
    """Batches (dicts of tensors: ``x``, and ``y``/``source``/``source_y`` as the task trains on them) of one
    worker's shard.

    Paired data (``pairing`` other than "unpaired") is one domain: every key is indexed by the same rows, so row i
    of ``source`` stays with row i of ``x``. Unpaired data is two domains (:data:`DOMAINS`): ``x`` (with ``y``) and
    ``source`` (with ``source_y``), each of its own length, shuffled and sharded by its own :class:`ShardStream`
    with its own permutation stream, so no pairing between the two exists in any batch. The state is each
    domain's ``(epoch, position)``: ``{"epoch", "position"}`` of the first domain, and under ``"source"`` those of
    the second; loading it resumes the same batches.
    """

    def __init__(self, data: dict[str, Tensor], batch_size: int, rank: int, world: int, seed: int,
                 pairing: str | None = None) -> None:
        if pairing == "unpaired":
            groups = [tuple(key for key in keys if key in data) for keys in DOMAINS]
            groups = [keys for keys in groups if keys]
        else:
            groups = [tuple(data)]
        device = data["x"].device
        self.data, self.batch_size = data, batch_size
        self.groups = tuple(groups)
        self.streams = [ShardStream(len(data[keys[0]]), batch_size, rank, world, seed, domain, device)
                        for domain, keys in enumerate(self.groups)]

    @property
    def shard_size(self) -> int:
        """Rows of the first domain in this worker's shard."""
        return self.streams[0].shard_size

    def __call__(self) -> dict[str, Tensor]:
        batch = {}
        for keys, stream in zip(self.groups, self.streams):
            index = stream.next_rows()
            batch |= {key: self.data[key][index] for key in keys}
        return batch

    def state_dict(self) -> dict[str, object]:
        state: dict[str, object] = dict(self.streams[0].state_dict())
        for keys, stream in zip(self.groups[1:], self.streams[1:]):
            state[keys[0]] = stream.state_dict()
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.streams[0].load_state_dict(state)  # type: ignore[arg-type]
        for keys, stream in zip(self.groups[1:], self.streams[1:]):
            stream.load_state_dict(state[keys[0]])  # type: ignore[arg-type]
