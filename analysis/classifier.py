"""The domain classifier: a small CNN trained on the real labelled images.

It is the feature extractor for datasets too small or too unlike ImageNet for
Inception to be meaningful (as Ray's PBT-DCGAN MNIST example scores its GAN
with an MNIST classifier): its ``feature_dim``-d penultimate layer (before the
ReLU, so the features are not rectified) is the space of classifier-FID, and
its predictions give class coverage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from analysis.features import stream_features


@dataclass(frozen=True)
class ClassifierSpec:
    image_shape: tuple[int, int, int]
    n_classes: int
    width: int = 32
    feature_dim: int = 64

    def as_dict(self) -> dict:
        return asdict(self)


class DomainClassifier(nn.Module):
    """[Conv3, ReLU, MaxPool2] × 2 → Linear(feature_dim) = features → ReLU → Linear(n_classes)."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        channels, height, width = spec.image_shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, spec.width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(spec.width, 2 * spec.width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * spec.width * (height // 4) * (width // 4), spec.feature_dim),
        )
        self.head = nn.Linear(spec.feature_dim, spec.n_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.body(x)))


def train_classifier(spec: ClassifierSpec, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
                     lr: float, seed: int = 0, log=print) -> DomainClassifier:
    """Adam on cross-entropy, with shuffled minibatches and light random translations (±1 px)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DomainClassifier(spec)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    images, labels = torch.as_tensor(x), torch.as_tensor(y)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
            batch = torch.roll(images[index], shifts=shift, dims=(2, 3))
            loss = F.cross_entropy(model(batch), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        log(f"classifier epoch {epoch + 1}/{epochs}: train loss {total / len(order):.4f}")
    return model.eval()


def accuracy(model: DomainClassifier, x: np.ndarray, y: np.ndarray) -> float:
    predictions = stream_features(model, x, len(x), 500).features.argmax(axis=1)
    return float((predictions == np.asarray(y)).mean())
