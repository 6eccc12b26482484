"""Standard dataset files read offline: MNIST's IDX format staged and checked for torchvision, torchvision's
readers with errors that name the user's folder, and the opt-in download.

A missing file is reported with its name and the folder it is expected in, a damaged one (truncated, not an IDX
file) with its name and the fix; nothing downloads unless ``data.download: true`` *and* a network exists.
"""

from __future__ import annotations

import gzip
import math
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

from pipeline.common.files import reason
from pipeline.datasets.registry import DatasetError

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_REPLACE_IDX = "replace it with a complete copy of the standard file (download it again)"


def _unzip_idx(found: Path, staged: Path, dataset: str) -> None:
    """Decompress ``found`` to ``staged``; a damaged archive raises :class:`DatasetError` naming ``found``."""
    try:
        with gzip.open(found) as src, open(staged, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DatasetError(f"{dataset} file {found} cannot be decompressed ({reason(err)}); it is damaged or "
                           f"incomplete: {_REPLACE_IDX}") from err


def _check_idx(found: Path, staged: Path, dataset: str) -> None:
    """Refuse an IDX file whose magic number is not that of its name (``idx3``: 0x00000803, ``idx1``: 0x00000801:
    unsigned bytes in 3 or 1 dimensions) or whose length differs from what its header announces.

    ``staged`` is the file as torchvision will read it; errors name ``found``, the user's file.
    """
    dims = 3 if "-idx3-" in staged.name else 1
    header_size = 4 * (1 + dims)
    with open(staged, "rb") as handle:
        header = handle.read(header_size)
    after = " after decompression" if found.suffix == ".gz" else ""
    if len(header) < 4 or struct.unpack(">I", header[:4])[0] != 0x800 + dims:
        raise DatasetError(f"{dataset} file {found} is not an IDX file (it starts with {header[:8]!r}{after}, not the "
                           f"magic number 0x0000080{dims}; a web page saved in its place?); {_REPLACE_IDX}")
    size = staged.stat().st_size
    expected = header_size + math.prod(struct.unpack(f">{dims}I", header[4:])) if len(header) == header_size else None
    if size != expected:
        announced = f"{expected:,}" if expected is not None else f"at least {header_size}"
        raise DatasetError(f"{dataset} file {found} holds {size:,} bytes{after} where its IDX header announces "
                           f"{announced} (an interrupted download?); {_REPLACE_IDX}")


def stage_idx_files(folder: Path, torchvision_name: str, staging: Path) -> Path:
    """Lay the four IDX files out as torchvision expects (``<root>/<Class>/raw/<file>``, unzipped), each checked.

    Accepts ``folder/<file>[.gz]``, ``folder/raw/<file>[.gz]`` and the
    torchvision layout ``folder/<Class>/raw/<file>[.gz]``. A missing, damaged or
    wrong file raises :class:`DatasetError` naming it and the fix.
    """
    raw = staging / torchvision_name / "raw"
    raw.mkdir(parents=True)
    searched = [folder, folder / "raw", folder / torchvision_name / "raw"]
    for name in _IDX_FILES:
        found = next((d / (name + ext) for d in searched for ext in ("", ".gz") if (d / (name + ext)).is_file()), None)
        if found is None:
            raise DatasetError(
                f"{name}[.gz] not found in {folder} (also looked in raw/ and {torchvision_name}/raw/). "
                f"Put the four standard IDX files ({', '.join(_IDX_FILES)}, gzipped or not) there, "
                f"set data.paths.<dataset> to the folder that has them, or set data.download: true where a network exists."
            )
        if found.suffix == ".gz":
            _unzip_idx(found, raw / name, torchvision_name)
        else:
            (raw / name).symlink_to(found.resolve())
        _check_idx(found, raw / name, torchvision_name)
    return staging


def read_torchvision_pair(cls: type, root: Path, shown: Path | None = None) -> tuple[Any, Any]:
    """The train and test splits of ``cls`` read from ``root``; errors name ``shown`` (default ``root``), the
    folder the user gave when ``root`` is a staging copy of it."""
    try:
        return cls(root=str(root), train=True, download=False), cls(root=str(root), train=False, download=False)
    except (RuntimeError, ValueError, OSError, EOFError) as err:
        raise DatasetError(f"{cls.__name__} files under {shown or root} could not be read ({reason(err)}); "
                           "are they complete and uncorrupted?") from err


def download_files(cls: type, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except Exception as err:  # torchvision raises URLError, RuntimeError, OSError… offline
        raise DatasetError(
            f"downloading {cls.__name__} into {root} failed ({type(err).__name__}: {err}). "
            "Without a network, copy the standard files there yourself and keep data.download: false."
        ) from err
