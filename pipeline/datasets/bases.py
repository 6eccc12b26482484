"""The labelled image datasets that task datasets are made from (edges, inpainting, super-resolution, unpaired
domains): scikit-learn's ``digits`` (embedded) and ``mnist`` / ``fashion-mnist`` (their IDX files, read from
``data.paths.<base>``, else ``data.root/<base>``), each read by its own catalogue loader.

:func:`read_base` is the one place a derived dataset reads its base: a base that cannot be read fails naming the
derived dataset, the base, the cause and the ``data.paths`` key of the base's files (a user who asked for
``inpaint-mnist`` sets ``data.paths.mnist``, not ``data.paths.inpaint-mnist``).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from pipeline.datasets.catalogue.digits import load_digits
from pipeline.datasets.catalogue.idx import load_idx_dataset
from pipeline.datasets.registry import DatasetError, DataSettings, RawDataset

#: Each base by name, with its loader.
IMAGE_BASES: dict[str, Callable[[DataSettings], RawDataset]] = {
    "digits": load_digits,
    "mnist": partial(load_idx_dataset, "mnist"),
    "fashion-mnist": partial(load_idx_dataset, "fashion-mnist"),
}


def read_base(dataset: str, base: str, data: DataSettings) -> RawDataset:
    """The base ``base`` of ``dataset`` at ``data.image_size``; a base that cannot be read raises
    :class:`DatasetError` in one line naming both and where the base's files are looked for."""
    try:
        return IMAGE_BASES[base](data)
    except DatasetError as err:
        raise DatasetError(f"{dataset} is made from {base}, which cannot be read: {err} ({dataset} reads the files "
                           f"of {base} from data.paths.{base}, else data.root/{base})") from None
