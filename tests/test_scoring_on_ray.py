"""Where Inception's passes run (:mod:`pipeline.features.passes`), without starting Ray: the placement rule of
``ray.scoring``, what a task asks Ray for, how images split into tasks, and a task's work run in this process.

Ray tasks for real (features equal to the driver's, weights shipped and refused) are in
``tests/integration/test_scoring_tasks.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from analysis.features import stream_features
from analysis.inception import ExtractorUnavailable, InceptionFeatures, default_weights
from pipeline.common.digest import sha256_file
from pipeline.config import ConfigError, RayConfig
from pipeline.features.passes import FeaturePasses, NodeWeights, Placement, features_task, remote_features
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatures:
    return InceptionFeatures()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Six distinct 8-bit RGB images of 32×32."""
    return (torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)


def test_auto_runs_in_this_process_on_a_laptop_and_as_tasks_on_a_cluster_or_a_gpu(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not Placement.of(RayConfig()).tasks
    assert Placement.of(RayConfig(address="head:6379")).tasks
    assert Placement.of(RayConfig(use_gpu=True)).tasks
    assert Placement.of(RayConfig(scoring="tasks")).tasks
    assert not Placement.of(RayConfig(scoring="driver", use_gpu=True)).tasks
    laptop_submitting_jobs = RayConfig(address="http://head:8265", use_gpu=True)
    assert not Placement.of(laptop_submitting_jobs).tasks, "a laptop that submits Ray jobs evaluates on itself"
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert Placement.of(RayConfig()).tasks


def test_a_task_asks_one_gpu_with_use_gpu_and_the_workers_cpus_otherwise():
    gpu = Placement.of(RayConfig(use_gpu=True, cpus_per_worker=2.0))
    assert gpu.task_options() == {"num_cpus": 2.0, "num_gpus": 1.0} and gpu.device == "cuda" and gpu.threads == 2
    cpu = Placement.of(RayConfig(scoring="tasks", cpus_per_worker=0.5))
    assert cpu.task_options() == {"num_cpus": 0.5, "num_gpus": 0.0} and cpu.device == "cpu" and cpu.threads == 1
    # the remote function itself carries the request (built without a Ray instance)
    assert remote_features(gpu)._default_options["num_gpus"] == 1.0
    assert remote_features(cpu)._default_options["num_gpus"] == 0.0


def test_tasks_hold_whole_forward_batches_in_order():
    placement = Placement(tasks=True, images_per_task=10)
    assert placement.chunks(37, 8) == [(0, 16), (16, 32), (32, 37)]  # 10 → 16: two whole batches of 8
    assert Placement(tasks=True, images_per_task=4).chunks(8, 4) == [(0, 4), (4, 8)]


def test_scoring_keys_are_checked_and_are_in_no_key_of_a_run_or_an_evaluation():
    with pytest.raises(ConfigError, match=r"ray\.scoring"):
        tiny_config(ray={"scoring": "gpu"})
    with pytest.raises(ConfigError, match=r"ray\.scoring_images"):
        tiny_config(ray={"scoring_images": 0})
    config = tiny_config(ray={"scoring": "tasks", "scoring_images": 64})
    assert config.ray.scoring == "tasks" and config.ray.scoring_images == 64
    assert "scoring" not in dataclasses.asdict(config.eval)  # the eval section is in run and evaluation keys


def test_a_task_computes_what_the_driver_computes(extractor, images):
    weights = NodeWeights(default_weights().name, sha256_file(default_weights()))
    ours = features_task(images.numpy(), weights, "fp32", "cpu", 4, 1)
    assert np.abs(ours - stream_features(extractor, images, len(images), 4).features).max() <= 1e-4
    in_process = FeaturePasses.in_process().features(extractor, images, 4, "test")
    assert np.array_equal(in_process, stream_features(extractor, images, len(images), 4).features)


def test_a_node_refuses_weights_other_than_the_drivers_in_one_line(images):
    weights = NodeWeights("default_1.pt", "0" * 64)
    with pytest.raises(ExtractorUnavailable, match="not the driver's default_1.pt") as refused:
        features_task(images.numpy(), weights, "fp32", "cpu", 4, 1)
    assert "\n" not in str(refused.value)
