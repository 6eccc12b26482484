"""Inception's passes as Ray tasks on a real local Ray (nothing mocked): the ``features`` stage and the Inception
scorer get the driver's numbers, in the driver's order; a weights file of ``eval.inception_weights`` travels
through the object store, and bytes that arrive with another sha256 are refused in one line.

Tolerance: the tasks run 1 torch thread, the driver (this test process) its own count, so sums are ordered
differently; on the same CPU the features differ by at most 1e-4 (measured: 3e-6 on values up to ~5).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from analysis.features import stream_features
from analysis.inception import ExtractorUnavailable, InceptionFeatures
from pipeline.cluster.session import ray_session
from pipeline.common.layout import reference_dir
from pipeline.config import RayConfig
from pipeline.data.store import load_prepared
from pipeline.features.inception import build_extractor, compute_real_features, inception_cache, real_protocol
from pipeline.features.passes import NODE_WEIGHTS, NodeWeights, Placement, feature_passes, gather, remote_features
from pipeline.scoring.scorers.inception import InceptionScorer
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow

TOLERANCE = 1e-4
#: Tasks of 5 images round up to 6 (three forward batches of 2): 16 images make 3 tasks, the last one short.
TASKS = {"scoring": "tasks", "scoring_images": 5}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (ganlab's own session; the passes join it)."""
    with ray_session(RayConfig()):
        yield


def inception_config(ray: dict, **eval_values):
    return tiny_config(ray=ray, eval={"inception": True, "inception_samples": 16, "inception_batch_size": 2,
                                      "kid_subsets": 5, "kid_subset_size": 6, **eval_values})


def real_features(config) -> np.ndarray:
    cfg = config.for_dataset("digits")
    protocol = real_protocol(load_prepared("digits"), cfg.eval, build_extractor(cfg.eval))
    return inception_cache("digits").load(protocol)["features"]


def test_real_features_as_ray_tasks_are_the_drivers_in_the_same_order_and_file(prepared):
    driver_path = compute_real_features(inception_config({"scoring": "driver"}), "digits")
    on_driver = real_features(inception_config({"scoring": "driver"}))
    driver_path.unlink()
    assert compute_real_features(inception_config(TASKS), "digits") == driver_path  # the same protocol, same key
    on_tasks = real_features(inception_config(TASKS))
    assert on_tasks.shape == on_driver.shape == (16, 2048)
    assert np.abs(on_tasks - on_driver).max() <= TOLERANCE  # row by row: the order is kept


def test_the_inception_scorer_on_ray_tasks_gives_the_drivers_metrics(prepared):
    config = inception_config(TASKS)
    compute_real_features(config, "digits")
    cfg = config.for_dataset("digits").eval
    scorer = InceptionScorer.build(load_prepared("digits"), reference_dir("digits"), cfg, cfg.inception_samples)
    generated = load_prepared("digits").test_x[:16]
    on_driver = scorer.score(generated, {}, "driver")
    with feature_passes(config.ray) as passes:
        scorer.use_passes(passes)
        on_tasks = scorer.score(generated, {}, "tasks")
    assert on_tasks.keys() == on_driver.keys()
    for name, value in on_driver.items():
        assert on_tasks[name] == (None if value is None else pytest.approx(value, rel=1e-3, abs=1e-6)), name


class StandIn(nn.Module):
    """A small TorchScript extractor with Inception's interface: (N, 3, 299, 299) → (N, 48) pooled pixels."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(pixels, 4).flatten(1)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_a_weights_file_travels_to_the_tasks_and_other_bytes_are_refused_in_one_line(tmp_path: Path):
    path = tmp_path / "stand-in.pt"
    torch.jit.script(StandIn()).save(str(path))
    extractor = InceptionFeatures(path)
    images = (torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    with feature_passes(RayConfig(**TASKS)) as passes:
        on_tasks = passes.features(extractor, images, 2, "stand-in")
    assert np.abs(on_tasks - stream_features(extractor, images, len(images), 2).features).max() <= TOLERANCE
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (Path(tempfile.gettempdir()) / NODE_WEIGHTS / f"{sha256}.pt").read_bytes() == path.read_bytes()  # travelled

    import ray

    placement = Placement(tasks=True)
    task = remote_features(placement).remote(images.numpy(), NodeWeights(path.name, "0" * 64, ray.put(b"other")),
                                             "fp32", "cpu", 2, 1)
    with pytest.raises(ExtractorUnavailable, match="arrived on this node with another sha256") as refused:
        gather([task], [len(images)], "refused")
    assert "\n" not in str(refused.value)
