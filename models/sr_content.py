"""SRGAN's content losses (Ledig et al. 2017, Sec. 2.2.1, Eq. 4-5): what G's output must share with the original x.

* ``mse`` -- Eq. 4, the pixel-wise MSE ``‖x − G(s)‖² / (r² W H)`` (SRResNet-MSE, SRGAN-MSE), on images in [-1, 1]
  (Sec. 3.2).
* ``mse+classifier`` -- the pixel MSE plus ``w · MSE(φ(G(s)), φ(x))`` with φ the dataset's domain classifier's feature
  layer (the frozen feature network the pipeline hands a family that asks for it): Eq. 5's form with a network that
  can be had here in place of VGG19. The pixel term stays because the classifier's features are one global vector
  per image (Eq. 5's VGG maps keep a spatial grid), which alone does not pin an image down. ``w`` defaults to 0.1:
  the paper rescales VGG features "to obtain VGG losses of a scale that is comparable to the MSE loss" (Sec. 3.2), and
  with the pipeline's default classifier on digits-sr2/-sr4 (params ``classifier``: width 32, 64 features, 20 epochs)
  the feature MSE of bicubic upsampling is 10-11 times its pixel MSE (2.05 vs 0.200 at ×2, 6.16 vs 0.540 at ×4).
* ``vgg19`` -- Eq. 5, ``l_VGG/5,4``: the MSE of VGG19's φ5,4 (the 4th convolution before the 5th max-pooling, after its
  ReLU; torchvision's ``vgg19().features[:36]``) on images mapped from [-1, 1] to ImageNet's normalisation (grey
  images repeated to 3 channels), the feature maps rescaled by 1/12.75 (Sec. 3.2). Its weights come from a local
  torchvision ``vgg19`` state-dict file (read with ``torch.load(weights_only=True)``; nothing is downloaded). Only the
  loading path is tested here, with random weights: the paper's loss with the real ImageNet weights is untested.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: The content losses a run may choose (params ``families.<family>.content``).
CONTENTS = ("mse", "mse+classifier", "vgg19")
CLASSIFIER_CONTENT = "mse+classifier"
VGG_CONTENT = "vgg19"
#: torchvision's ``vgg19`` (configuration "E", Simonyan & Zisserman 2015) up to φ5,4: conv widths, "M" a 2×2 max-pool.
VGG19_TO_PHI54 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
#: Sec. 3.2: "VGG feature maps were also rescaled by a factor of 1/12.75".
VGG_FEATURE_SCALE = 1.0 / 12.75
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The smallest image side φ5,4 takes (four 2×2 max-poolings before it).
VGG_MIN_SIDE = 16


class VGGWeightsError(ValueError):
    """A VGG19 weights file that cannot be read or lacks φ5,4's layers."""


@dataclass(frozen=True)
class FeatureContent:
    """``pixel_weight · MSE(G(s), x) + feature_weight · MSE(φ(G(s)), φ(x))``; φ(x) needs no gradient."""

    features: nn.Module
    feature_weight: float
    pixel_weight: float

    def __call__(self, fake: Tensor, real: Tensor) -> Tensor:
        with torch.no_grad():
            target = self.features(real)
        feature_loss = self.feature_weight * F.mse_loss(self.features(fake), target)
        return feature_loss + self.pixel_weight * F.mse_loss(fake, real) if self.pixel_weight else feature_loss


class VGG19Features(nn.Module):
    """Images in [-1, 1] (1 or 3 channels) → VGG19's φ5,4 / 12.75 (the module docstring); frozen. Its ``features``
    holds torchvision's ``vgg19().features[:36]`` under the same indices, so a torchvision state dict loads into it."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG19_TO_PHI54:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        rgb = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        return self.features(((rgb + 1.0) / 2.0 - self.mean) / self.std) * VGG_FEATURE_SCALE

    def train(self, mode: bool = True) -> VGG19Features:
        return super().train(False)  # frozen: a fixed feature extractor


def load_vgg19_features(path: str) -> VGG19Features:
    """:class:`VGG19Features` with the ``features.*`` weights of the torchvision ``vgg19`` state dict in ``path`` (its
    classifier's keys are ignored); raises :class:`VGGWeightsError` naming what is wrong."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises OSError, RuntimeError, UnpicklingError… for missing or damaged files
        raise VGGWeightsError(f"{path} cannot be read as a torchvision vgg19 state dict ({err})") from err
    network = VGG19Features()
    wanted = network.features.state_dict()
    if not isinstance(state, dict) or any(f"features.{key}" not in state for key in wanted):
        raise VGGWeightsError(f"{path} is not a torchvision vgg19 state dict: it lacks the features.* weights up to "
                              "conv5_4 (features.34)")
    shapes = {key: tuple(state[f"features.{key}"].shape) for key in wanted}
    if any(shapes[key] != tuple(value.shape) for key, value in wanted.items()):
        raise VGGWeightsError(f"{path}'s features.* weights have shapes other than vgg19's (another VGG?)")
    network.features.load_state_dict({key: state[f"features.{key}"] for key in wanted})
    return network
