"""Paired translation data, masked image → image: ``inpaint-digits`` (scikit-learn's digits), ``inpaint-mnist`` and
``inpaint-fashion-mnist`` (the IDX files of ``mnist`` / ``fashion-mnist``, read from their own folders) -- the
inpainting task of Context Encoders (Pathak et al. 2016, "Context Encoders: Feature Learning by Inpainting",
Sec. 3.3), which pix2pix (Isola et al. 2017, Sec. 1) lists among the image-to-image problems.

``x`` is each image at ``data.image_size`` with its label ``y``; ``source`` is the same image with its central
square (:func:`centre_block`: side ``S // 2``, starting at row and column ``(S - S // 2) // 2``; rows and columns
2-5 of an 8 × 8 image) replaced by the mean value of each channel over the base's training images -- Pathak et al.'s
"central region", the middle 64 × 64 of a 128 × 128 image (a quarter of its area), filled in their
reference implementation (pathak22/context-encoder ``train.lua``) with the mean pixel of ImageNet. The same block and
the same fill serve every image of both splits, so the mask is fixed and needs no seed. On digits, whose background
is -1, the mean (-0.39 for scikit-learn's digits, -0.74 for MNIST) shows the block as a grey square over the
background and over the strokes alike. ``info["inpainting"]`` records the block and the fill.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from pipeline.datasets.bases import read_base
from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import fill_square
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset

#: Each dataset and the base (:data:`pipeline.datasets.bases.IMAGE_BASES`) it is made from.
BASES = {"inpaint-digits": "digits", "inpaint-mnist": "mnist", "inpaint-fashion-mnist": "fashion-mnist"}
REFERENCE = "central-region inpainting as Context Encoders (Pathak et al. 2016, Sec. 3.3)"


def centre_block(size: int) -> tuple[int, int]:
    """The first row (and column) and the side of the masked square of a ``size`` × ``size`` image: side
    ``size // 2`` centred (Pathak et al.'s 64 of 128, from row 32)."""
    side = size // 2
    return (size - side) // 2, side


def load_inpainting(name: str, data: DataSettings) -> RawDataset:
    """The base dataset of ``name`` with every image's central block filled with the training mean as ``source``."""
    base = read_base(name, BASES[name], data)
    start, side = centre_block(base.train_x.shape[-1])
    fill = base.train_x.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
    mask = {"top": start, "left": start, "side": side, "fill": [float(value) for value in fill],
            "fill_rule": "per-channel mean of the base's training images (Pathak et al. 2016)"}
    info = {**base.info, "inpainting": mask,
            "source": f"{BASES[name]} ({base.info['source']}) with the central {side}×{side} block filled with "
                      f"the training mean"}
    return RawDataset(name, "images", base.train_x, base.train_y, base.test_x, base.test_y, info=info,
                      train_source=fill_square(base.train_x, start, start, side, fill),
                      test_source=fill_square(base.test_x, start, start, side, fill))


for _name in BASES:
    register_dataset(Dataset(_name, "images", CONDITIONAL + ("paired-translation",), partial(load_inpainting, _name),
                             provides=("x", "y", "source"), pairing="paired", n_classes=10, reference=REFERENCE))
