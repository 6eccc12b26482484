"""The prepare stage's outputs and their integrity checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.common.layout import prepared_dir, reference_dir
from pipeline.data.store import PreparedDataError, load_prepared
from pipeline.common.feature_cache import FeatureCacheError
from pipeline.data.classifier import ClassifierFileError, load_classifier, load_classifier_reference


def test_manifest_describes_the_arrays(prepared):
    data = load_prepared("digits")
    manifest = data.manifest
    assert manifest["shape"] == [1, 8, 8] and manifest["kind"] == "images"
    assert manifest["label_count"] == 10
    assert manifest["range"][0] >= -1.0 and manifest["range"][1] <= 1.0
    assert manifest["splits"]["train"]["n"] == len(data.train_x)
    from analysis.classifier import accuracy

    recomputed = accuracy(load_classifier(prepared_dir("digits") / "classifier.pt", "digits"), data.test_x, data.test_y)
    assert manifest["classifier"]["test_accuracy"] == pytest.approx(recomputed)
    assert manifest["classifier"]["n_test"] == len(data.test_y) == 359
    # chance is 0.1 ± 0.016 (binomial std on 359 images): one epoch of a 4-channel classifier already beats it
    assert recomputed > 0.15
    ring = load_prepared("ring8")
    assert ring.manifest["std"] == 0.02 and len(ring.manifest["modes"]) == 8


def test_classifier_reference_loads(prepared):
    manifest = load_prepared("digits").manifest
    reference = load_classifier_reference(prepared_dir("digits"), reference_dir("digits"), "digits", manifest)
    assert reference.real.mu.shape == (8,)


def test_corrupt_array_is_refused_with_the_fix(prepared):
    path = prepared_dir("digits") / "train.npz"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(PreparedDataError, match=r"does not match the sha256 .*dvc repro prepare@digits"):
        load_prepared("digits")


def test_missing_manifest_is_refused(in_tmp):
    with pytest.raises(PreparedDataError, match=r"manifest .* is missing; rebuild it with `dvc repro prepare@ring8`"):
        load_prepared("ring8")


def test_unreadable_manifest_is_refused(prepared):
    (prepared_dir("ring8") / "manifest.json").write_text("{not json")
    with pytest.raises(PreparedDataError, match="corrupt"):
        load_prepared("ring8")


def test_statistics_of_another_classifier_cannot_be_read(prepared):
    """A classifier retrained without its statistics (here: the manifest names another file) finds no statistics of
    its protocol; a statistics file whose stored protocol was edited is refused too."""
    manifest = json.loads((prepared_dir("digits") / "manifest.json").read_text())
    reference = load_classifier_reference(prepared_dir("digits"), reference_dir("digits"), "digits", manifest)
    assert len(reference.per_class) == 10 and reference.real.n == manifest["splits"]["train"]["n"]
    (stats_file,) = reference_dir("digits").glob("classifier-*.npz")
    with np.load(stats_file) as stored:
        arrays = dict(stored)
    arrays["protocol"] = np.array(json.dumps({**json.loads(str(arrays["protocol"])), "n_real": 1}, sort_keys=True))
    with open(stats_file, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(FeatureCacheError, match=r"another protocol; rebuild with `dvc repro prepare@digits`"):
        load_classifier_reference(prepared_dir("digits"), reference_dir("digits"), "digits", manifest)
    (prepared_dir("digits") / "classifier.pt").write_bytes(b"not a classifier")
    with pytest.raises(ClassifierFileError, match="does not match its manifest"):
        load_classifier_reference(prepared_dir("digits"), reference_dir("digits"), "digits", manifest)
    with pytest.raises(ClassifierFileError, match=r"cannot be read .*dvc repro prepare@digits"):
        load_classifier(prepared_dir("digits") / "classifier.pt", "digits")


def test_prepare_is_deterministic_to_the_byte(in_tmp):
    """DVC caches prepare's outputs by content: the same params must give the same bytes (torch.save is given a
    file object, so the archive inside is not named after a random temporary file)."""
    import hashlib

    from pipeline.data.stage import prepare
    from tests.conftest import tiny_config

    def digests():
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(prepared_dir("digits").rglob("*")) + sorted(reference_dir("digits").rglob("*"))
                if p.is_file()}

    prepare(tiny_config(), "digits")
    first = digests()
    prepare(tiny_config(), "digits")
    assert digests() == first and any(name.endswith("classifier.pt") for name in first)
