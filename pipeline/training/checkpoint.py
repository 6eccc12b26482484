"""The one checkpoint format, in ``<dir>/state.pt``: the family's state (every module, optimiser, loss scaler,
EMA), the step, every worker's RNG state, the data position, history, best sampler and the job fingerprint.

Loaded with ``torch.load(weights_only=True)``: only tensors and plain
containers, never pickled code. A checkpoint written by a different job
configuration is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import torch

from pipeline.common.files import atomic_path, reason

STATE_FILE = "state.pt"
FORMAT_VERSION = 2


class CheckpointMismatchError(RuntimeError):
    """A checkpoint that belongs to another configuration or format."""


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a file object: the archive is not named after tmp
        torch.save({"format": FORMAT_VERSION, **state}, handle)
    return path


def load_checkpoint(directory: Path, expected_fingerprint: str | None = None,
                    expected_job: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint in ``directory``; with ``expected_fingerprint``, one of another configuration is refused,
    naming the settings that differ when ``expected_job`` (the job's flattened params) is given."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError… for damaged files
        raise CheckpointMismatchError(f"checkpoint {path} cannot be read ({reason(err)}); delete it "
                                      "to start over") from err
    if state.get("format") != FORMAT_VERSION:
        raise CheckpointMismatchError(f"checkpoint {path} has format {state.get('format')}, expected {FORMAT_VERSION}")
    if expected_fingerprint is not None and state.get("fingerprint") != expected_fingerprint:
        differing = settings_diff(state.get("job", {}), expected_job or {})
        raise CheckpointMismatchError(
            f"checkpoint {path} was written by a different configuration ("
            + (f"differs in {differing}" if differing else f"fingerprint {str(state.get('fingerprint'))[:12]}…, "
               f"this job {expected_fingerprint[:12]}…")
            + "). Restore the params it was trained with, or delete the checkpoint to start over."
        )
    return state


def settings_diff(stored: Mapping[str, Any], current: Mapping[str, Any], shown: int = 5) -> str:
    """``train.lr_d 0.0002 → 0.001, world_size 1 → 2`` for the keys whose values differ (at most ``shown``)."""
    keys = sorted(key for key in set(stored) | set(current) if stored.get(key) != current.get(key))
    parts = [f"{key} {stored.get(key, '(unset)')} → {current.get(key, '(unset)')}" for key in keys[:shown]]
    return ", ".join(parts) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def weights_digest(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    """sha256 over every tensor of the named state dicts (names and keys in sorted order, raw bytes).

    Equal digests mean bit-identical weights: how a checkpoint shows that every
    data-parallel worker holds the same networks, and that a PBT exploit copied
    its donor's weights.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dicts):
        for key in sorted(state_dicts[name]):
            tensor = state_dicts[name][key].detach().cpu().contiguous()
            digest.update(f"{name}.{key}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
