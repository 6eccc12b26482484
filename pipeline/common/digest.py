"""Content hashes: of files (sha256 of the bytes) and of settings (sha256 of canonical JSON)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

#: The project root (where models/, analysis/ and pipeline/ live).
PROJECT = Path(__file__).resolve().parents[2]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_root(package: str) -> Path:
    """The folder that holds the top-level ``package`` this process imports: the project on a developer's machine,
    the unpacked copy Ray ships to a worker (``runtime_env`` ``py_modules``, one folder per package)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"package {package!r} cannot be imported here")
    return Path(spec.origin).resolve().parents[1]


def source_files(paths: Iterable[str]) -> dict[str, Path]:
    """The Python sources under ``paths`` (``models``, ``pipeline/training``, ``models/losses.py``: relative to the
    folder holding their top-level package, wherever this process imports it from), by that relative name."""
    files = {}
    for path in paths:
        root = package_root(path.split("/")[0])
        files |= {f.relative_to(root).as_posix(): f for f in
                  ([root / path] if (root / path).is_file() else (root / path).rglob("*.py"))}
    return files


def source_digest(paths: Iterable[str]) -> str:
    """sha256 over the Python sources under ``paths`` (:func:`source_files`): each file's relative name and bytes,
    sorted by name."""
    digest = hashlib.sha256()
    for name, file in sorted(source_files(paths).items()):
        digest.update(name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def fingerprint(payload: Mapping[str, Any]) -> str:
    """sha256 of a canonical JSON dump: equal settings ⇔ equal fingerprints."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
