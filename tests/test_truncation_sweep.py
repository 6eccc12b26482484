"""The truncation sweep of the evaluate stage (pipeline/scoring/truncation_sweep.py; Brock et al. 2019, Sec. 3.1 /
Fig. 4): a tiny biggan run is scored at every ψ, its values move with ψ, precision and recall are those of
analysis.precision_recall on features computed here by hand, and the sweep is part of the evaluation's input key."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.frechet import FeatureStats, frechet_distance
from analysis.precision_recall import precision_recall
from models.families import get_family
from models.families.biggan import BigGANSampling
from pipeline.scoring.truncation_sweep import has_truncation
from tests.conftest import export_finished, tiny_config
from tests.test_step import _training


def _trained_biggan(tmp_path, **sections):
    config = tiny_config(benchmark={"datasets": ["digits"], "variants": ["biggan"]}, **sections)
    training = _training(config, "biggan", "digits")
    training.run()
    return config, export_finished(training, tmp_path / "ckpt", config)


def test_a_biggan_run_is_scored_at_every_psi_and_logged(prepared, tmp_path):
    from pipeline.scoring.evaluate import evaluate
    from pipeline.tracking.store import client_for, resolve_tracking_uri

    config, run_id = _trained_biggan(tmp_path)
    result = evaluate(config, "digits", "biggan", 0)
    rows = result["truncation"]
    assert [row["psi"] for row in rows] == [0.25, 0.5, 1.0, 1.5, 2.0] == list(config.eval.truncation_sweep)
    for row in rows:
        assert set(row) == {"psi", "fid_clf", "precision_clf", "recall_clf", "class_acc"}
        assert 0 <= row["precision_clf"] <= 1 and 0 <= row["recall_clf"] <= 1 and 0 <= row["class_acc"] <= 1
    assert len({row["fid_clf"] for row in rows}) == len(rows), "another ψ, other samples"
    assert result["truncation_protocol"]["n_generated"] == config.eval.n_samples == 200
    logged = client_for(resolve_tracking_uri(config)).get_run(run_id).data.metrics
    assert logged["truncation/psi_0.5/fid_clf"] == rows[1]["fid_clf"]
    assert logged["truncation/psi_2/recall_clf"] == rows[4]["recall_clf"]


def test_the_sweep_is_part_of_the_input_key_and_an_empty_one_switches_it_off(prepared, tmp_path):
    from pipeline.scoring.evaluate import evaluate

    config, _ = _trained_biggan(tmp_path, eval={"truncation_sweep": [0.5]})
    first = evaluate(config, "digits", "biggan", 0)
    assert [row["psi"] for row in first["truncation"]] == [0.5]
    off = evaluate(tiny_config(benchmark={"datasets": ["digits"], "variants": ["biggan"]},
                               eval={"truncation_sweep": []}), "digits", "biggan", 0)
    assert off["input_key"] != first["input_key"] and "truncation" not in off
    assert off["final"] == first["final"], "the normal evaluation does not depend on the sweep"


def test_precision_and_recall_are_those_of_the_reference_code_on_features_computed_by_hand(prepared, tmp_path):
    """eval.n_samples above the 1,438 digits training images: the real set is every training image."""
    from pipeline.common.layout import reference_dir
    from pipeline.data.store import load_prepared
    from pipeline.scoring.evaluate import evaluate, load_generators
    from pipeline.scoring.sampling import EVAL_SEED, load_sampler
    from pipeline.scoring.scorers.classifier import load_reference

    config, _ = _trained_biggan(tmp_path, eval={"n_samples": 1500, "batch_size": 500, "truncation_sweep": [0.5]})
    row, = evaluate(config, "digits", "biggan", 0)["truncation"]
    data = load_prepared("digits")
    assert len(data.train_x) < 1500
    model = load_reference(data, reference_dir("digits")).model
    labels = np.arange(1500) % data.n_classes
    samples = load_sampler(load_generators("digits", "biggan", 0), "final").draw(
        1500, EVAL_SEED, 500, conditions={"y": labels}, options=BigGANSampling(psi=0.5))
    with torch.no_grad():
        fake = model.features(torch.as_tensor(samples)).numpy()
        real = model.features(torch.as_tensor(data.train_x)).numpy()
        predicted = model(torch.as_tensor(samples)).argmax(dim=1).numpy()
    expected = precision_recall(real, fake, config.eval.nearest_k)
    assert row["precision_clf"] == pytest.approx(expected["precision"], abs=1e-3)
    assert row["recall_clf"] == pytest.approx(expected["recall"], abs=1e-3)
    assert row["class_acc"] == pytest.approx(float((predicted == labels).mean()), abs=1e-3)
    assert row["fid_clf"] == pytest.approx(frechet_distance(FeatureStats.of(fake), FeatureStats.of(real)), rel=1e-3)


@pytest.mark.parametrize("psi", [0.25, 1.0, 2.0])
def test_a_sampling_with_psi_draws_z_within_psi(psi):
    z = get_family("biggan").sample_noise(2000, 16, torch.Generator().manual_seed(0), BigGANSampling(psi=psi))
    assert z.abs().max() <= psi


def test_only_sampling_options_with_psi_have_a_sweep():
    assert has_truncation(BigGANSampling()) and not has_truncation(None)
