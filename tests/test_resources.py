"""What a run asks Ray for and how many runs a cluster holds: every resource counted, as Ray Train asks for them."""

from __future__ import annotations

import logging

import pytest

from pipeline.cluster.resources import RunDemand, require_resources
from pipeline.cluster.session import ResourceError
from pipeline.training.run_queue import RunQueue
from tests.conftest import tiny_config

SETUPS = [
    {},
    {"cpus_per_worker": 0.5, "num_workers": 3},
    {"use_gpu": True, "num_workers": 2},
    {"use_gpu": True, "accelerator_type": "H100", "cpus_per_worker": 4},
    {"resources_per_worker": {"fast_disk": 1, "licence": 0.25}, "num_workers": 2},
]


@pytest.mark.parametrize("ray", SETUPS)
def test_a_runs_demand_is_what_ray_train_asks_for(ray):
    """The oracle is Ray Train's own ScalingConfig, built from the options ganlab gives it."""
    from ray.train import ScalingConfig

    config = tiny_config(ray=ray).ray
    demand = RunDemand.of(config)
    scaling = ScalingConfig(**demand.scaling_options(config))
    assert dict(demand.per_worker) == scaling._resources_per_worker_not_none
    assert demand.total() == {name: amount * config.num_workers for name, amount in demand.per_worker.items()}
    assert demand.bundles(runs=3) == [dict(demand.per_worker)] * (3 * config.num_workers)


def test_the_capacity_counts_gpus_not_only_cpus():
    """The issue's cluster: 4 nodes × 32 CPUs × 8 GPUs holds 32 one-GPU runs, not 128 (its CPUs / 1)."""
    cluster = {"CPU": 128.0, "GPU": 32.0, "memory": 1e12}
    assert RunDemand.of(tiny_config().ray).runs_that_fit(cluster) == 128
    assert RunDemand.of(tiny_config(ray={"use_gpu": True}).ray).runs_that_fit(cluster) == 32
    assert RunDemand.of(tiny_config(ray={"use_gpu": True, "num_workers": 8}).ray).runs_that_fit(cluster) == 4
    assert RunDemand.of(tiny_config(ray={"use_gpu": True, "accelerator_type": "A100"}).ray).runs_that_fit(cluster) == 0
    with_a100 = {**cluster, "accelerator_type:A100": 4.0}  # Ray: 1 per node with that model
    assert RunDemand.of(tiny_config(ray={"use_gpu": True, "accelerator_type": "A100"}).ray).runs_that_fit(with_a100) == 32
    licensed = RunDemand.of(tiny_config(ray={"resources_per_worker": {"licence": 1}, "cpus_per_worker": 0.5}).ray)
    assert licensed.runs_that_fit({"CPU": 128.0, "licence": 3.0}) == 3
    assert RunDemand.of(tiny_config(ray={"cpus_per_worker": 0.5}).ray).runs_that_fit({"CPU": 1.5}) == 3


def test_what_is_missing_is_named_with_what_the_cluster_has():
    demand = RunDemand.of(tiny_config(ray={"use_gpu": True, "num_workers": 2, "placement_strategy": "STRICT_SPREAD"}).ray)
    assert demand.describe() == "2 worker(s) × (1 CPU, 1 GPU)"
    assert demand.missing({"CPU": 8.0}, alive_nodes=1) == ["2 GPU (the cluster has 0)",
                                                          "2 nodes for one worker each (the cluster has 1)"]
    assert demand.missing({"CPU": 8.0, "GPU": 2.0}, alive_nodes=2) == []


def test_a_local_instance_that_cannot_hold_a_run_fails_at_once_in_one_line(monkeypatch):
    monkeypatch.setattr("pipeline.cluster.resources.cluster_totals", lambda: {"CPU": 2.0})
    monkeypatch.setattr("pipeline.cluster.resources.alive_nodes", lambda: 1)
    demand = RunDemand.of(tiny_config(ray={"use_gpu": True}).ray)
    with pytest.raises(ResourceError, match=r"^a run needs 1 GPU \(the cluster has 0\): not available on this "
                                            r"machine; lower ray\.num_workers, .*\(RAY_ADDRESS\)$"):
        require_resources("a run", demand, 120.0, local=True, sleep=pytest.fail)


def test_a_cluster_run_waits_with_progress_until_its_resources_arrive(monkeypatch, caplog):
    """Polled every 5 s with a progress line every 30 s; the GPU node arrives after 40 s (a fake clock)."""
    now = [0.0]
    monkeypatch.setattr("pipeline.cluster.resources.cluster_totals",
                        lambda: {"CPU": 4.0, **({"GPU": 1.0} if now[0] >= 40 else {})})
    monkeypatch.setattr("pipeline.cluster.resources.alive_nodes", lambda: 1)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    demand = RunDemand.of(tiny_config(ray={"use_gpu": True}).ray)
    with caplog.at_level(logging.INFO, logger="ganlab.ray"):
        require_resources("a run", demand, 120.0, local=False, clock=lambda: now[0], sleep=sleep)
    assert now[0] == 40.0
    assert [record.getMessage() for record in caplog.records] == [
        "a run waits for 1 GPU (the cluster has 0) on the cluster (up to 120s, ray.resource_timeout_s)",
        "a run still waits for 1 GPU (the cluster has 0) (30s of 120s)"]
    now[0] = 0.0
    monkeypatch.setattr("pipeline.cluster.resources.cluster_totals", lambda: {"CPU": 4.0})
    with pytest.raises(ResourceError, match=r"not available on the cluster after waiting 120s"):
        require_resources("a run", demand, 120.0, local=False, clock=lambda: now[0], sleep=sleep)


def test_the_run_queue_starts_a_run_only_when_one_more_fits_now():
    """Tune asks the searcher for the next trial; it gets one while fewer than room() run, None while the cluster is
    full (Tune asks again later), FINISHED when every run has started. A cluster that grows lets more start."""
    from ray.tune.search import Searcher

    room = [1]
    queue = RunQueue(["a", "b", "c", "d"], lambda: room[0])
    assert queue.suggest("t1") == {"run": "a"}
    assert queue.suggest("t2") is None
    queue.on_trial_complete("t1")
    assert queue.suggest("t2") == {"run": "b"}
    room[0] = 3  # the autoscaler added nodes
    assert [queue.suggest("t3"), queue.suggest("t4")] == [{"run": "c"}, {"run": "d"}]
    assert queue.suggest("t5") == Searcher.FINISHED
    room[0] = 0
    assert RunQueue(["x"], lambda: room[0]).suggest("t1") == {"run": "x"}, "at least one run at a time"
