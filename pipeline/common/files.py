"""File helpers shared by the stages: atomic writes, strict JSON out and JSON in with the fix in its errors."""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds,
    so an interrupted stage never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def finite_or_none(value: Any) -> Any:
    """Recursively replace NaN and ±inf by None: strict JSON (which DVC and browsers parse) has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def reason(err: BaseException) -> str:
    """An exception as one short line (its type and the first line of its message), for one-line errors."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


def write_json(path: Path, payload: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(finite_or_none(payload), indent=2, sort_keys=True, allow_nan=False) + "\n")


class CorruptFileError(ValueError):
    """A file another stage wrote that cannot be parsed; the message names it and the command that rebuilds it."""


def read_json(path: Path, what: str, fix: str) -> Any:
    """Read a JSON file another stage wrote; a missing or corrupt one raises with ``fix`` in the message."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} is missing; {fix}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{what} {path} is corrupt ({reason(err)}); {fix}") from err


def read_table(path: Path, what: str, fix: str) -> Any:
    """Read a CSV table another stage wrote (a pandas DataFrame), with the same errors as :func:`read_json`."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} is missing; {fix}")
    try:
        return pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as err:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise CorruptFileError(f"{what} {path} is corrupt ({reason(err)}); {fix}") from err
