"""Content hashes: of files (sha256 of the bytes) and of settings (sha256 of canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

#: The project root (where models/, analysis/ and pipeline/ live).
PROJECT = Path(__file__).resolve().parents[2]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def source_digest(paths: tuple[str, ...], root: Path = PROJECT) -> str:
    """sha256 over the Python sources under ``paths`` (relative to ``root``): each file's path and bytes, sorted."""
    digest = hashlib.sha256()
    files = sorted({f for path in paths for f in ([root / path] if (root / path).is_file() else (root / path).rglob("*.py"))})
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def fingerprint(payload: Mapping[str, Any]) -> str:
    """sha256 of a canonical JSON dump: equal settings ⇔ equal fingerprints."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
