"""A prepared dataset on its way to the workers: its files travel through Ray's object store, never through a path
of the driver's disk (DESIGN.md, "A cluster is not one disk").

:class:`DatasetFolders` says where a prepared dataset lives on this machine: ``data/prepared/<dataset>/`` (arrays,
manifest, domain classifier) and ``data/reference/<dataset>/`` (the classifier's real statistics). On the driver,
:meth:`ShippedDataset.put` reads every file of both folders into one object of Ray's object store, with each
file's sha256; on a worker, :meth:`ShippedDataset.folders` writes them into a temporary folder of that node,
checks every sha256 (and :func:`pipeline.data.store.load_prepared` the manifest's), and removes them afterwards.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pipeline.common.layout import prepared_dir, reference_dir
from pipeline.data.store import PreparedData, PreparedDataError, load_prepared, rebuild_hint

FOLDERS = ("prepared", "reference")


@dataclass(frozen=True)
class DatasetFolders:
    """Where a prepared dataset's files are on this machine."""

    dataset: str
    prepared: Path
    reference: Path

    @classmethod
    def of_project(cls, dataset: str) -> DatasetFolders:
        """The project's own ``data/prepared/<dataset>`` and ``data/reference/<dataset>``."""
        return cls(dataset, prepared_dir(dataset).resolve(), reference_dir(dataset).resolve())

    def load(self) -> PreparedData:
        return load_prepared(self.dataset, self.prepared)

    def files(self) -> dict[str, Path]:
        """``prepared/train.npz`` → its path, for every file of both folders."""
        found = {}
        for name, folder in zip(FOLDERS, (self.prepared, self.reference)):
            if folder.is_dir():
                found |= {f"{name}/{path.relative_to(folder).as_posix()}": path
                          for path in sorted(folder.rglob("*")) if path.is_file()}
        return found


@dataclass(frozen=True)
class ShippedDataset:
    """A prepared dataset in Ray's object store (see the module docstring)."""

    dataset: str
    sha256: tuple[tuple[str, str], ...]  # (file, sha256), as the driver read them
    blob: Any  # ray.ObjectRef of {file: bytes}

    @classmethod
    def put(cls, folders: DatasetFolders) -> ShippedDataset:
        """Read the dataset's files on the driver (checked against its manifest first) into Ray's object store."""
        import ray

        folders.load()  # a missing, damaged or stale file is one clear error here, not a worker's traceback
        contents = {name: path.read_bytes() for name, path in folders.files().items()}
        digests = tuple((name, hashlib.sha256(data).hexdigest()) for name, data in contents.items())
        return cls(folders.dataset, digests, ray.put(contents))

    @contextmanager
    def folders(self) -> Iterator[DatasetFolders]:
        """The dataset in a temporary folder of this node, every file checked against its sha256; removed after."""
        import ray

        contents: dict[str, bytes] = ray.get(self.blob)
        root = Path(tempfile.mkdtemp(prefix=f"ganlab-{self.dataset}-"))
        try:
            for name, expected in self.sha256:
                data = contents[name]
                if hashlib.sha256(data).hexdigest() != expected:
                    raise PreparedDataError(f"{self.dataset}: {name} arrived on this node with another sha256 than "
                                            f"the driver read; {rebuild_hint(self.dataset)} and run again")
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            yield DatasetFolders(self.dataset, root / "prepared", root / "reference")
        finally:
            shutil.rmtree(root, ignore_errors=True)
