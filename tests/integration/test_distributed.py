"""Ray Train beyond one worker: DDP across two nodes, worker failure, interrupted stages."""

from __future__ import annotations

import shutil

import pytest
import torch

from pipeline.common.layout import SCRATCH, model_dir
from pipeline.training.ray_train import TrainingFailed
from pipeline.training.stage import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def _final_weights(dataset: str, variant: str) -> dict[str, torch.Tensor]:
    model = torch.load(model_dir(dataset, variant, 0) / "state.pt", weights_only=True)["model"]
    return {**{f"g.{k}": v for k, v in model["generator"].items()}, **{f"d.{k}": v for k, v in model["discriminator"].items()}}


def _metric_steps(summary: dict, key: str = "loss/d") -> list[int]:
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri

    client = MlflowClient(resolve_tracking_uri(tiny_config()))
    return sorted(m.step for m in client.get_metric_history(summary["run_id"], key))


def test_two_workers_on_two_nodes_match_two_workers_on_one_node(prepared):
    """A WGAN-GP step (gradient penalty with create_graph=True) under DDP, both nets via prepare_model."""
    import ray
    from ray.cluster_utils import Cluster

    config = tiny_config(train={"steps": 6, "batch_size": 16}, ray={"num_workers": 2, "cpus_per_worker": 1,
                                                                    "placement_strategy": "STRICT_SPREAD"})
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address)
        spread = train(config, "ring8", "wgan-gp", 0)
    finally:
        ray.shutdown()
        cluster.shutdown()
    nodes = {worker["node_id"] for worker in spread["workers"]}
    assert len(spread["workers"]) == 2 and len(nodes) == 2, spread["workers"]
    assert spread["global_batch_size"] == 32
    assert len(spread["replica_digests"]) == 2 and len(set(spread["replica_digests"])) == 1, \
        "both workers hold bit-identical G and D (DDP shared the gradients)"
    spread_weights = _final_weights("ring8", "wgan-gp")

    packed_config = tiny_config(train={"steps": 6, "batch_size": 16}, ray={"num_workers": 2, "cpus_per_worker": 1})
    shutil.rmtree("runs")  # the placement is not part of a run's key: the spread run would be kept
    packed = train(packed_config, "ring8", "wgan-gp", 0)
    assert len({worker["node_id"] for worker in packed["workers"]}) == 1
    assert len(set(packed["replica_digests"])) == 1 and packed["replica_digests"] == spread["replica_digests"]
    for key, value in _final_weights("ring8", "wgan-gp").items():
        torch.testing.assert_close(value, spread_weights[key], rtol=1e-5, atol=1e-6, msg=key)
    assert packed["steps"] == spread["steps"] == 6


def test_a_killed_worker_is_restarted_from_its_checkpoint(prepared):
    """Rank 0 dies at step 5; Ray restarts the group from the step-4 checkpoint. The run completes with
    exactly 10 steps, in the same MLflow run, each metric step logged once, and ends with the weights of
    a run that never failed."""
    common = {"train": {"steps": 10, "log_every": 1, "checkpoint_every": 4, "eval_every": 5}}
    faulty = tiny_config(**common, ray={"cpus_per_worker": 1, "max_failures": 1, "fail_at_step": 5})
    summary = train(faulty, "ring8", "non-saturating", 0)
    assert summary["steps"] == 10
    assert summary["resumed_from"] == [4], "the worker died once and the group restarted from the step-4 checkpoint"
    assert _metric_steps(summary) == list(range(1, 11))
    restarted = _final_weights("ring8", "non-saturating")

    shutil.rmtree("runs")  # fault injection is not part of a run's key: the restarted run would be kept
    clean = train(tiny_config(**common, ray={"cpus_per_worker": 1}), "ring8", "non-saturating", 0)
    assert clean["run_id"] != summary["run_id"] and clean["resumed_from"] == []
    for key, value in _final_weights("ring8", "non-saturating").items():
        assert torch.equal(value, restarted[key]), key


def test_an_interrupted_stage_resumes_instead_of_starting_over(prepared):
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri

    common = {"train": {"steps": 10, "log_every": 1, "checkpoint_every": 4, "eval_every": 5}}
    with pytest.raises(TrainingFailed):
        train(tiny_config(**common, ray={"cpus_per_worker": 1, "fail_at_step": 6}), "ring8", "hinge", 0)
    assert list((SCRATCH / "ray" / "ring8-hinge-seed0").glob("checkpoint_*")), "the interrupted run left checkpoints"
    client = MlflowClient(resolve_tracking_uri(tiny_config()))
    (failed,) = client.search_runs(client.get_experiment_by_name("ganlab").experiment_id)
    assert failed.info.status == "FAILED"

    summary = train(tiny_config(**common, ray={"cpus_per_worker": 1}), "ring8", "hinge", 0)
    assert summary["run_id"] == failed.info.run_id, "the interrupted run continued"
    assert client.get_run(summary["run_id"]).info.status == "FINISHED"
    assert summary["steps"] == 10 and summary["resumed_from"] == [4], "continued from step 4, not from 0"
    assert _metric_steps(summary) == list(range(1, 11))
    assert not (SCRATCH / "ray" / "ring8-hinge-seed0").exists(), "a finished run leaves nothing to resume"
