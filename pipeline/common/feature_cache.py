"""One cache for every statistic of real data that an extractor produces (the domain classifier's feature
mean/covariance, Inception's features): arrays in ``<folder>/<extractor>-<key>.npz``, ``key`` the hash of the
protocol that made them (extractor and its weights' sha256, preprocessing, the data's sha256, N, seeds), the
protocol stored inside (StyleGAN2-ADA's ``metric_utils`` keys its cache the same way).

Reading asks for a protocol and gets arrays of exactly that protocol or an error that says how to rebuild
them: stale statistics cannot be read.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pipeline.common.digest import fingerprint
from pipeline.common.files import atomic_path, reason

PROTOCOL_ARRAY = "protocol"


class FeatureCacheError(RuntimeError):
    """Cached statistics that are missing, unreadable or of another protocol; the message says how to rebuild."""


def protocol_key(protocol: Mapping[str, Any]) -> str:
    """The 16-hex-digit hash that names a protocol's file (the ``key`` entry itself left out)."""
    return fingerprint({k: v for k, v in protocol.items() if k != "key"})[:16]


class FeatureCache:
    """The cached statistics of one extractor (``name``) in one folder; ``rebuild`` is the command that makes them."""

    def __init__(self, folder: Path, name: str, rebuild: str) -> None:
        self.folder, self.name, self.rebuild = Path(folder), name, rebuild

    def path(self, protocol: Mapping[str, Any]) -> Path:
        return self.folder / f"{self.name}-{protocol_key(protocol)}.npz"

    def save(self, protocol: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path:
        """Write the arrays of ``protocol`` (atomically) and remove this extractor's files of other protocols."""
        target = self.path(protocol)
        self.clear(keep=target)
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays, **{PROTOCOL_ARRAY: json.dumps(dict(protocol), sort_keys=True)})
        return target

    def clear(self, keep: Path | None = None) -> None:
        for stale in self.folder.glob(f"{self.name}-*.npz"):
            if stale != keep:
                stale.unlink()

    def holds(self, protocol: Mapping[str, Any]) -> bool:
        return self.path(protocol).is_file()

    def load(self, protocol: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The arrays cached under exactly ``protocol``."""
        path = self.path(protocol)
        if not path.is_file():
            raise FeatureCacheError(f"no {self.name} statistics for protocol {protocol_key(protocol)} in {self.folder} "
                                    f"(the params, data or extractor changed since they were computed); {self.rebuild}")
        try:
            with np.load(path) as stored:
                arrays = {name: stored[name] for name in stored.files}
            stored_protocol = json.loads(str(arrays.pop(PROTOCOL_ARRAY)))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise FeatureCacheError(f"{path} is unreadable ({reason(err)}); {self.rebuild}") from err
        if stored_protocol != json.loads(json.dumps(dict(protocol), sort_keys=True)):
            raise FeatureCacheError(f"{path} was computed under another protocol; {self.rebuild}")
        return arrays
