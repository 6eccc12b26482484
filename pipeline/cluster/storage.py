"""The run storage: where Ray Train and Ray Tune keep checkpoints and where each run's outputs travel back to the
driver (DESIGN.md, "A cluster is not one disk").

One setting, ``GANLAB_STORAGE`` (environment) over ``ray.storage`` (params) over ``<project>/.ganlab`` (one
machine). It is a local path -- this machine, or a folder every node mounts (NFS) -- or a URI that pyarrow's
filesystems understand: ``s3://bucket/prefix`` (AWS S3, and MinIO or any S3-compatible store with
``?endpoint_override=host:port&scheme=http``), ``gs://bucket/prefix``. Credentials come from the environment
(``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...), which ganlab hands to every Ray process
(:mod:`pipeline.cluster.shipping`); they are never part of a path that is logged.

A :class:`StoragePath` is a file or folder in it, small enough to pickle into a Ray task: a pyarrow filesystem
and a path on it. Layout under the root (:func:`storage_root`): ``ray/<run>/`` Ray Train's run folders,
``resume/<run>/`` an interrupted run's checkpoint, ``outputs/<run>/`` a finished run's files on their way to the
driver, ``spool/`` metric rows a tracking outage held back, ``matrix/`` and ``tune/`` Ray Tune's experiments,
``jobs/`` submissions from outside the cluster, ``probe/`` the markers that show every node sees the storage.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from pipeline.cluster.failures import no_space_left
from pipeline.common.files import reason
from pipeline.common.layout import SCRATCH

#: The environment variable that overrides ``ray.storage`` (and reaches every Ray process of a run).
STORAGE_ENV = "GANLAB_STORAGE"


class StorageError(RuntimeError):
    """The storage cannot be opened, read or written; the message names it and says what to check."""


def _filesystem_error(location: str, action: str, err: BaseException) -> StorageError:
    if no_space_left(err):
        return StorageError(f"ray.storage {location}: cannot {action}: a disk is full ({reason(err)}); free space "
                            "(on the storage's disk, or on the project's for runs/), or set ray.storage to another "
                            "disk, then run the command again -- finished runs and written checkpoints are kept")
    return StorageError(f"ray.storage {location}: cannot {action} ({reason(err)}); check the path or URI, the "
                        "endpoint and the credentials in the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS)")


def display(location: str) -> str:
    """A location as messages show it: a URI without its query (endpoint options) or credentials."""
    if "://" not in location:
        return location
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


@dataclass(frozen=True)
class StoragePath:
    """A file or folder of the storage (see the module docstring)."""

    filesystem: Any  # pyarrow.fs.FileSystem
    path: str  # a path on that filesystem (prefix-stripped, as pyarrow's from_uri returns it)
    location: str  # how messages name it (no query, no credentials)

    def __truediv__(self, name: str) -> StoragePath:
        return StoragePath(self.filesystem, f"{self.path.rstrip('/')}/{name}", f"{self.location.rstrip('/')}/{name}")

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def local(self) -> bool:
        """Whether this is a path of the machine's own filesystem (which may still be an NFS mount)."""
        from pyarrow.fs import LocalFileSystem

        return isinstance(self.filesystem, LocalFileSystem)

    def _call(self, action: str, call: Any) -> Any:
        try:
            return call()
        except OSError as err:
            raise _filesystem_error(self.location, action, err) from err

    def _type(self) -> Any:
        return self._call("read", lambda: self.filesystem.get_file_info(self.path).type)

    def exists(self) -> bool:
        from pyarrow.fs import FileType

        return self._type() != FileType.NotFound

    def is_file(self) -> bool:
        from pyarrow.fs import FileType

        return self._type() == FileType.File

    def read_bytes(self) -> bytes:
        def read() -> bytes:
            with self.filesystem.open_input_stream(self.path) as stream:
                return stream.read()

        return self._call("read", read)

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        """Write the file whole: on a local filesystem through a temporary file and a rename, on an object store
        as one object (a reader sees the old or the new file, never a part)."""
        if self.local:
            target = Path(self.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
            return

        def write() -> None:
            with self.filesystem.open_output_stream(self.path) as stream:
                stream.write(data)

        self._call("write", write)

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def touch(self) -> None:
        self.write_bytes(b"")

    def unlink(self, missing_ok: bool = True) -> None:
        if missing_ok and not self.exists():
            return
        self._call("delete", lambda: self.filesystem.delete_file(self.path))

    def rmtree(self) -> None:
        """Delete this folder and everything in it (nothing when it does not exist)."""
        from pyarrow.fs import FileType

        kind = self._type()
        if kind == FileType.Directory:
            self._call("delete", lambda: self.filesystem.delete_dir(self.path))
        elif kind == FileType.File:
            self.unlink()

    def children(self) -> list[StoragePath]:
        """The entries directly in this folder (none when it does not exist), sorted by name."""
        from pyarrow.fs import FileSelector

        infos = self._call("list", lambda: self.filesystem.get_file_info(FileSelector(self.path, allow_not_found=True)))
        return [self / info.base_name for info in sorted(infos, key=lambda info: info.base_name)]

    def upload(self, folder: Path) -> None:
        """Copy the local ``folder`` here (replacing what was here)."""
        from pyarrow.fs import LocalFileSystem, copy_files

        self.rmtree()
        self._call("write", lambda: self.filesystem.create_dir(self.path, recursive=True))
        self._call("write", lambda: copy_files(str(folder), self.path, source_filesystem=LocalFileSystem(),
                                               destination_filesystem=self.filesystem))

    def download(self, folder: Path) -> None:
        """Copy this folder into the local ``folder`` (created; files already there are overwritten)."""
        from pyarrow.fs import LocalFileSystem, copy_files

        folder.mkdir(parents=True, exist_ok=True)
        self._call("read", lambda: copy_files(self.path, str(folder), source_filesystem=self.filesystem,
                                              destination_filesystem=LocalFileSystem()))

    def copy_to(self, target: StoragePath) -> None:
        """Copy this folder to ``target`` on the same storage (replacing what was there)."""
        from pyarrow.fs import copy_files

        target.rmtree()
        self._call("write", lambda: self.filesystem.create_dir(target.path, recursive=True))
        self._call("write", lambda: copy_files(self.path, target.path, source_filesystem=self.filesystem,
                                               destination_filesystem=target.filesystem))

    @contextmanager
    def as_local(self) -> Iterator[Path]:
        """This folder as a local path: itself on a local filesystem, else a temporary download (removed after)."""
        if self.local:
            yield Path(self.path)
            return
        folder = Path(tempfile.mkdtemp(prefix="ganlab-storage-"))
        try:
            self.download(folder)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def ray_options(self) -> dict[str, Any]:
        """``storage_path`` and ``storage_filesystem`` of a Ray Train or Ray Tune ``RunConfig`` for this folder."""
        return {"storage_path": self.path, "storage_filesystem": self.filesystem}


def open_storage(location: str) -> StoragePath:
    """The storage at ``location`` (a local path, absolute or relative to the working directory, or a URI)."""
    if "://" not in location:
        from pyarrow.fs import LocalFileSystem

        path = str(Path(location).expanduser().resolve())
        return StoragePath(LocalFileSystem(), path, path)
    from pyarrow.fs import FileSystem

    try:
        filesystem, path = FileSystem.from_uri(location)
    except (OSError, ValueError) as err:
        raise StorageError(f"ray.storage {display(location)} is not a storage pyarrow can open ({reason(err)}); give a "
                           "local path, a folder every node mounts, or an s3:// or gs:// URI") from err
    return StoragePath(filesystem, path.rstrip("/"), display(location))


def storage_location(configured: str | None, project: Path | None = None) -> str:
    """``GANLAB_STORAGE``, else ``ray.storage`` (``configured``), else ``<project>/.ganlab``; a local path made
    absolute (it travels to processes with other working directories)."""
    location = os.environ.get(STORAGE_ENV) or configured or str((project or Path.cwd()) / SCRATCH)
    return location if "://" in location else str(Path(location).expanduser().resolve())


def storage_root(configured: str | None, project: Path | None = None) -> StoragePath:
    """The storage a command uses (see :func:`storage_location`)."""
    return open_storage(storage_location(configured, project))


def new_token() -> str:
    return uuid.uuid4().hex
