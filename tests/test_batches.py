"""Batches of unpaired data: the two domains are drawn independently (own length, own permutation stream, own
shards), labels follow their images, the paired stream is unchanged, and a resumed state gives the same batches."""

from __future__ import annotations

import torch

from pipeline.training.batches import ShardedBatches

N_X, N_SOURCE = 40, 26


def unpaired() -> dict[str, torch.Tensor]:
    """x rows 0…39 with y = x; source rows 1000…1025 with source_y = source - 1000."""
    x, source = torch.arange(N_X), 1000 + torch.arange(N_SOURCE)
    return {"x": x.float()[:, None], "y": x.clone(), "source": source.float()[:, None], "source_y": source - 1000}


def draw(batches: ShardedBatches, n: int) -> list[dict[str, torch.Tensor]]:
    return [batches() for _ in range(n)]


def rows(drawn: list[dict[str, torch.Tensor]], key: str) -> list[int]:
    return torch.cat([b[key] for b in drawn]).view(-1).long().tolist()


def test_each_domain_is_an_epoch_of_its_own_with_its_labels():
    batches = ShardedBatches(unpaired(), 4, rank=0, world=1, seed=3, pairing="unpaired")
    drawn = draw(batches, 10)  # 40 x rows: one x epoch; 40 source rows: six batches of 4 per source epoch (24 of 26)
    assert all(torch.equal(b["x"][:, 0].long(), b["y"]) for b in drawn), "y follows x"
    assert all(torch.equal(b["source"][:, 0].long() - 1000, b["source_y"]) for b in drawn), "source_y follows source"
    assert sorted(rows(drawn, "x")) == list(range(N_X))
    first_source_epoch = rows(drawn[:6], "source")
    assert len(set(first_source_epoch)) == 24 and set(first_source_epoch) <= set(range(1000, 1000 + N_SOURCE))
    assert batches.state_dict() == {"epoch": 0, "position": 40, "source": {"epoch": 1, "position": 16}}


def test_the_domains_are_shuffled_by_independent_streams():
    """The x stream is the stream of paired data (unchanged); the source stream is not the x stream's permutation
    cut to the source's length, nor the order the first stream would give the source alone."""
    data = unpaired()
    x_order = rows(draw(ShardedBatches(data, 4, 0, 1, seed=3, pairing="unpaired"), 10), "x")
    assert x_order == rows(draw(ShardedBatches({"x": data["x"]}, 4, 0, 1, seed=3), 10), "x")
    source_order = [r - 1000 for r in rows(draw(ShardedBatches(data, 2, 0, 1, seed=3, pairing="unpaired"), 13),
                                           "source")]
    alone = rows(draw(ShardedBatches({"x": data["source"] - 1000}, 2, 0, 1, seed=3), 13), "x")
    assert source_order != alone
    assert source_order != [r for r in torch.randperm(N_X, generator=torch.Generator().manual_seed(3 * 1_000_003))
                            .tolist() if r < N_SOURCE]


def test_unpaired_shards_are_disjoint_in_both_domains():
    shards = [ShardedBatches(unpaired(), 4, rank=rank, world=2, seed=5, pairing="unpaired") for rank in (0, 1)]
    drawn = [draw(shard, 3) for shard in shards]  # x: 20 per shard, source: 13 per shard (12 drawn)
    for key in ("x", "source"):
        assert not set(rows(drawn[0], key)) & set(rows(drawn[1], key))


def test_a_resumed_unpaired_state_gives_the_same_batches():
    original = ShardedBatches(unpaired(), 4, 0, 1, seed=7, pairing="unpaired")
    draw(original, 9)
    resumed = ShardedBatches(unpaired(), 4, 0, 1, seed=7, pairing="unpaired")
    resumed.load_state_dict(original.state_dict())
    for expected, got in zip(draw(original, 12), draw(resumed, 12)):
        assert all(torch.equal(expected[key], got[key]) for key in expected)


def test_paired_data_stays_row_aligned():
    data = {"x": torch.arange(30).float()[:, None], "source": -torch.arange(30).float()[:, None]}
    for b in draw(ShardedBatches(data, 4, 0, 1, seed=1, pairing="paired"), 12):
        assert torch.equal(b["source"], -b["x"])
