"""Resources asked for, not only polled: on a cluster whose autoscaler keeps a node group at 0 (Ray's fake multi-node
provider, :mod:`tests.integration.fake_autoscaler`), what ganlab asks for makes the autoscaler add the nodes, and the
demand is withdrawn when ganlab is done. Without the request the nodes would never come (the issue's report)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_config
from tests.integration.fake_autoscaler import autoscaling_cluster
from tests.integration.test_fan_out import matrix_config, training_runs

pytestmark = pytest.mark.slow

REQUEST_KEY = b"autoscaler_resource_request"  # where autoscaler v1 reads request_resources' bundles (Ray 2.60)


def _request() -> list[dict[str, float]]:
    from ray.experimental.internal_kv import _internal_kv_get

    return json.loads(_internal_kv_get(REQUEST_KEY) or b"[]")


def test_a_run_that_needs_a_gpu_scales_the_gpu_group_up_from_zero():
    import ray

    from pipeline.cluster.resources import RunDemand, autoscaler_demand, cluster_totals, require_resources

    demand = RunDemand.of(tiny_config(ray={"use_gpu": True}).ray)
    with autoscaling_cluster({"gpu_worker": {"resources": {"CPU": 1, "GPU": 1}}}, head_cpus=0) as address:
        ray.init(address=address, logging_level="ERROR")
        try:
            assert cluster_totals().get("GPU", 0) == 0, "the GPU group starts at 0 nodes"
            with autoscaler_demand(demand.bundles(runs=1), local=False):
                assert _request() == [{"CPU": 1.0, "GPU": 1.0}], "the autoscaler is shown the run's bundle"
                require_resources("a run", demand, 90.0, local=False)
                assert cluster_totals()["GPU"] == 1.0
            assert _request() == [], "the demand is withdrawn after use"
        finally:
            ray.shutdown()


def test_a_head_without_cpus_and_no_worker_yet_trains_the_matrix(prepared):
    """Ray's production advice (``ray start --head --num-cpus=0``) with a CPU group at 0: ``train`` asks for its runs,
    the autoscaler starts a worker, and both runs train on it."""
    import ray

    from pipeline.training.stage import train_matrix

    config = matrix_config(variants=("hinge",))
    with autoscaling_cluster({"cpu_worker": {"resources": {"CPU": 2}}}, head_cpus=0) as address:
        ray.init(address=address, logging_level="ERROR")
        try:
            summaries = train_matrix(config)
        finally:
            ray.shutdown()
    assert sorted(s["seed"] for s in summaries) == [0, 1] and all(s["steps"] == 40 for s in summaries)
    _, runs = training_runs(config)
    assert {run.info.status for run in runs} == {"FINISHED"} and len(runs) == 2
