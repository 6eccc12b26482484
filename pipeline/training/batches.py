"""Minibatches of one worker's shard of the training data, reshuffled every epoch."""

from __future__ import annotations

from torch import Tensor

import torch


class ShardedBatches:
    """Batches (dicts of tensors: ``x``, and ``y`` for conditional tasks) of one worker's shard.

    Epoch ``e`` uses the permutation drawn from seed ``(seed, e)``; worker ``r``
    of ``W`` takes positions ``r, r+W, r+2W, …`` of it, so shards are disjoint
    and all have ``N // W`` samples. The last partial batch of an epoch is
    dropped. The state is just ``(epoch, position)``.
    """

    def __init__(self, data: dict[str, Tensor], batch_size: int, rank: int, world: int, seed: int) -> None:
        size = len(data["x"])
        self.shard_size = size // world
        if self.shard_size < batch_size:
            raise ValueError(f"{size} samples cannot fill a batch of {batch_size} on each of {world} worker(s)")
        self.data, self.size, self.batch_size, self.rank, self.world, self.seed = data, size, batch_size, rank, world, seed
        self.epoch, self.position = 0, 0
        self._order = self._shard(0)

    def _shard(self, epoch: int) -> Tensor:
        rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        permutation = torch.randperm(self.size, generator=rng)
        return permutation[self.rank :: self.world][: self.shard_size].to(self.data["x"].device)

    def __call__(self) -> dict[str, Tensor]:
        if self.position + self.batch_size > self.shard_size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._shard(self.epoch)
        index = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return {key: values[index] for key, values in self.data.items()}

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._shard(self.epoch)
