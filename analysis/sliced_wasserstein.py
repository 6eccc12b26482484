"""Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches (Karras et al. 2018, "Progressive
Growing of GANs", Sec. 5; the protocol of their ``metrics/sliced_wasserstein.py``).

Each image set is decomposed into a Laplacian pyramid (Burt & Adelson 1983) with the 5-tap binomial filter
``[1, 4, 6, 4, 1] / 16`` (separable 5 × 5, borders mirrored without repeating the edge pixel, as ``cv2.pyrDown``):
level ``k`` is ``g_k - up(g_{k+1})``, the coarsest level the Gaussian residual ``g_K`` itself, so the levels sum back
to the image exactly (:func:`reconstruct`). From every level of every image 128 neighbourhoods of 7 × 7 pixels are
cut at uniformly random positions; each set's descriptors are normalised per channel (its own mean and standard
deviation over all its neighbourhoods and their pixels, as the reference does) and flattened to ``C·49`` numbers.
The distance of one level is the sliced Wasserstein-1 distance (Rabin et al. 2011) of the two descriptor sets,
``SWD = mean over 4 repeats × 128 random unit directions θ of W1(θ·A, θ·B)``, where for two equal-size sets of
projections W1 is the mean absolute difference of their sorted values. Distances are reported ×10³, as the
paper's tables; the set's SWD is the mean over levels.

Levels: the paper's pyramid runs from the full resolution down to 16 × 16. Our images are 8 × 8 to 64 × 64, so the
pyramid runs down to 8 × 8 instead -- the smallest level that holds a 7 × 7 neighbourhood at more than one position
(a 4 × 4 level holds none): 32 × 32 images give the levels 32, 16 and 8 (8 the residual), 16 × 16 images 16 and 8,
8 × 8 images the image itself alone. The levels of side ≥ 16 are the paper's; the 8 × 8 level is ours, so the mean
over levels is comparable only among sets of the same image size.

Departures from the reference, none of which changes a distance on the same data: images are the pipeline's
floats in [-1, 1], not rounded to uint8 (an affine change of intensities cancels in the per-channel normalisation
because the pyramid is linear); any channel count, not only 3; a channel with no variation in one set (std 0)
stays 0 after centring instead of turning into NaN. Randomness comes from one seed, so every generator is scored
with the same neighbourhood positions and directions; and both sets of a comparison take their neighbourhoods at
the same positions (common random numbers, where the reference draws each set's anew): two identical sets are
exactly 0 apart, not a sampling floor apart.

Cost: every level holds 128 descriptors per image whatever its side, and each of the 4 × 128 directions sorts
both sets' projections, so the time grows with the image count × the level count (numpy; rows sorted in place).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

BINOMIAL_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)
NEIGHBOURHOOD = 7
NEIGHBOURHOODS_PER_IMAGE = 128
REPEATS = 4
DIRECTIONS_PER_REPEAT = 128
#: The smallest level side kept: the smallest power of two holding a 7 × 7 neighbourhood at more than one position.
MIN_LEVEL_SIDE = 8
#: The factor the reported distances carry (the paper's tables: SWD ×10³).
SCALE = 1e3


def _blur(images: np.ndarray, gain: float) -> np.ndarray:
    """Each image convolved with the separable 5 × 5 binomial filter times ``gain``, borders mirrored without
    repeating the edge pixel (scipy's "mirror", numpy's "reflect")."""
    taps = np.asarray(BINOMIAL_TAPS, dtype=np.float32) / 16.0
    rows = scipy.ndimage.convolve1d(images, taps * np.float32(gain), axis=-1, mode="mirror")
    return scipy.ndimage.convolve1d(rows, taps, axis=-2, mode="mirror")


def pyr_down(images: np.ndarray) -> np.ndarray:
    """Blur with the binomial filter, keep every second row and column (``cv2.pyrDown``)."""
    return _blur(images, 1.0)[:, :, ::2, ::2]


def pyr_up(images: np.ndarray) -> np.ndarray:
    """Insert zeros between rows and columns, blur with 4 × the binomial filter (``cv2.pyrUp``)."""
    n, c, h, w = images.shape
    spread = np.zeros((n, c, 2 * h, 2 * w), dtype=images.dtype)
    spread[:, :, ::2, ::2] = images
    return _blur(spread, 4.0)


def level_sides(side: int) -> tuple[int, ...]:
    """The sides of the pyramid's levels of ``side`` × ``side`` images: halving down to :data:`MIN_LEVEL_SIDE`."""
    if side < MIN_LEVEL_SIDE or side & (side - 1):
        raise ValueError(f"images of side {side}: the Laplacian pyramid needs a power-of-two side of at least "
                         f"{MIN_LEVEL_SIDE}")
    sides = [side]
    while sides[-1] // 2 >= MIN_LEVEL_SIDE:
        sides.append(sides[-1] // 2)
    return tuple(sides)


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` levels, finest first: band-pass ``g_k - pyr_up(g_{k+1})``, and the Gaussian residual last."""
    pyramid = [images]
    for _ in range(levels - 1):
        coarser = pyr_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - pyr_up(coarser)
        pyramid.append(coarser)
    return pyramid


def reconstruct(pyramid: list[np.ndarray]) -> np.ndarray:
    """The images back from their pyramid: ``g_k = level_k + pyr_up(g_{k+1})`` from the coarsest up."""
    images = pyramid[-1]
    for level in reversed(pyramid[:-1]):
        images = level + pyr_up(images)
    return images


def neighbourhoods(level: np.ndarray, per_image: int, rng: np.random.Generator) -> np.ndarray:
    """``per_image`` 7 × 7 neighbourhoods of every image at uniformly random positions: (N·per_image, C, 7, 7),
    image by image."""
    n, c, h, w = level.shape
    count = n * per_image
    rows = rng.integers(0, h - NEIGHBOURHOOD + 1, size=count)
    cols = rng.integers(0, w - NEIGHBOURHOOD + 1, size=count)
    offsets = np.arange(NEIGHBOURHOOD)
    image = (np.arange(count) // per_image).reshape(-1, 1, 1, 1)
    channel = np.arange(c).reshape(1, -1, 1, 1)
    row = (rows.reshape(-1, 1) + offsets).reshape(count, 1, NEIGHBOURHOOD, 1)
    col = (cols.reshape(-1, 1) + offsets).reshape(count, 1, 1, NEIGHBOURHOOD)
    return level[image, channel, row, col]


def normalised_descriptors(patches: np.ndarray) -> np.ndarray:
    """(M, C, 7, 7) neighbourhoods → (M, C·49) float32 descriptors, each channel centred and scaled by its own mean
    and standard deviation over the whole set (population moments; a constant channel stays 0)."""
    mean = patches.mean(axis=(0, 2, 3), keepdims=True)
    std = patches.std(axis=(0, 2, 3), keepdims=True)
    centred = patches - mean
    return (centred / np.where(std > 0, std, 1.0).astype(np.float32)).reshape(len(patches), -1)


def _sorted_projections(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(K, M): the projections of the M points onto each of the K directions, each row sorted (rows contiguous:
    numpy sorts those several times faster than columns or than torch.sort on a CPU)."""
    projections = directions.T @ points.T
    projections.sort(axis=1)
    return projections


def projected_distances(a: np.ndarray, b: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """W1 between the projections of two equal-size point sets (M, D) onto each column of ``directions`` (D, K):
    the mean absolute difference of the sorted projections, (K,)."""
    if a.shape != b.shape:
        raise ValueError(f"sliced Wasserstein needs equal-size sets: {a.shape} and {b.shape}")
    return np.abs(_sorted_projections(a, directions) - _sorted_projections(b, directions)).mean(axis=1)


def random_directions(dimension: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` float32 directions uniform on the unit sphere of R^dimension, as columns (dimension, count)."""
    directions = rng.standard_normal((dimension, count))
    return (directions / np.linalg.norm(directions, axis=0, keepdims=True)).astype(np.float32)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, repeats: int = REPEATS,
                       per_repeat: int = DIRECTIONS_PER_REPEAT) -> float:
    """The mean of :func:`projected_distances` over ``repeats`` × ``per_repeat`` random unit directions."""
    return float(np.mean([projected_distances(a, b, random_directions(a.shape[1], per_repeat, rng)).mean()
                          for _ in range(repeats)]))


@dataclass(frozen=True)
class SlicedWasserstein:
    """SWD ×10³ per pyramid level (keyed by the level's side) and their mean."""

    levels: dict[int, float]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.levels.values())))


def _pyramid(images: np.ndarray) -> list[np.ndarray]:
    batch = np.asarray(images, dtype=np.float32)
    return laplacian_pyramid(batch, len(level_sides(batch.shape[-1])))


def level_distance(real: np.ndarray, generated: np.ndarray, seed: int, index: int) -> float:
    """SWD ×10³ of one pyramid level of the two sets: neighbourhood positions from the stream ``(seed, index, 0)``,
    the same for both sets, directions from ``(seed, index, 1)``."""
    a, b = (normalised_descriptors(neighbourhoods(level, NEIGHBOURHOODS_PER_IMAGE,
                                                  np.random.default_rng([seed, index, 0])))
            for level in (real, generated))
    return SCALE * sliced_wasserstein(a, b, np.random.default_rng([seed, index, 1]))


def sliced_wasserstein_distance(real: np.ndarray, generated: np.ndarray, seed: int) -> SlicedWasserstein:
    """SWD ×10³ between two equal-size sets of square (N, C, H, W) images, per level and averaged (module
    docstring); the same ``seed`` gives the same neighbourhood positions and directions. Levels are measured one
    at a time, so memory holds one level's descriptors."""
    real, generated = np.asarray(real), np.asarray(generated)
    if real.shape != generated.shape or real.ndim != 4 or real.shape[-1] != real.shape[-2]:
        raise ValueError(f"real {real.shape} and generated {generated.shape} must be equal-shaped (N, C, H, W) "
                         f"batches of square images")
    sides = level_sides(real.shape[-1])
    levels = zip(_pyramid(real), _pyramid(generated))
    return SlicedWasserstein({side: level_distance(a, b, seed, index)
                              for index, (side, (a, b)) in enumerate(zip(sides, levels))})
