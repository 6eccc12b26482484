"""The family interface serves more than the built-in ``gan``: a class-conditional toy family, registered by this
test (tests/families/toy_conditional.py), trains through the real loop with checkpoints, resume and scoring."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import tests.families.toy_conditional  # noqa: F401  (registers the toy-cgan family and its variant)
from models.families import get_family, get_variant
from pipeline.common.layout import reference_dir
from pipeline.data.shipping import DatasetFolders
from pipeline.config import ConfigError
from pipeline.data.store import data_spec, load_prepared
from pipeline.scoring.scorers.conditional import ConditionalScorer
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.sampling import Sampler
from pipeline.training.job import resolve_job
from pipeline.training.loop import Hooks, TrainingLoop
from tests.conftest import tiny_config

TOY = tiny_config(benchmark={"datasets": ["digits"], "variants": ["toy-cgan"]},
                  train={"steps": 20, "log_every": 5, "eval_every": 10, "checkpoint_every": 10, "eval_samples": 200})


def _toy_training(config=TOY) -> TrainingLoop:
    job = resolve_job(config, "digits", "toy-cgan", 0, data_spec(load_prepared("digits")))
    return TrainingLoop(job, DatasetFolders.of_project("digits"))


def test_the_toy_family_is_registered_as_a_class_conditional_family():
    family = get_family(get_variant("toy-cgan").family)
    assert family.task == "class-conditional" and family.name == "toy-cgan"
    assert TOY.benchmark.variants == ("toy-cgan",), "params accept a variant registered outside models/"


def test_a_class_conditional_family_refuses_unlabelled_data(prepared):
    with pytest.raises(ConfigError, match=r"ring8 × toy-cgan: family toy-cgan is class-conditional and needs labelled"):
        resolve_job(TOY, "ring8", "toy-cgan", 0, data_spec(load_prepared("ring8")))


def test_the_toy_trains_20_steps_scores_itself_and_resumes_exactly(prepared, tmp_path):
    straight = _toy_training()
    history = straight.run()
    assert [row["step"] for row in history] == [5, 10, 15, 20]
    assert "intra_fid_clf200" in history[1] and "intra_fid_clf200" in history[3], "class-conditional runs rank by intra-FID"
    assert straight.best is not None and straight.best.step in (10, 20)

    def crash_after_checkpoint(metrics, directory):
        shutil.copytree(directory, tmp_path / "ckpt")
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        _toy_training().run(Hooks(report=crash_after_checkpoint))
    resumed = _toy_training()
    resumed.restore(tmp_path / "ckpt")
    assert resumed.step == 10 and resumed.resumed_from == [10]
    resumed.run()
    for name, module in straight.model.modules().items():
        for key, value in module.state_dict().items():
            assert torch.equal(value, resumed.model.modules()[name].state_dict()[key]), f"{name}.{key}"


def test_the_conditional_scorer_asks_for_every_class_and_checks_what_it_got(digits_with_a_real_classifier, caplog):
    """class_acc of real images labelled with their own class is the classifier's accuracy on them; relabelled by one,
    it collapses; intra-class FID needs more samples per class than the classifier's 32 feature dimensions."""
    prepared_digits = load_prepared("digits")
    config = digits_with_a_real_classifier.for_dataset("digits").eval
    scorer = ConditionalScorer.build(prepared_digits, reference_dir("digits"), config, 500)
    images, labels = prepared_digits.test_x[:350], prepared_digits.test_y[:350]
    images, labels = np.concatenate([images, images[:150]]), np.concatenate([labels, labels[:150]])
    own = scorer.score(images, {"y": labels}, "real")
    shifted = scorer.score(images, {"y": (labels + 1) % 10}, "real, wrong labels")
    with torch.no_grad():
        predictions = scorer.reference.model(torch.as_tensor(images)).argmax(1).numpy()
    assert own["class_acc500"] == pytest.approx(float((predictions == labels).mean())) and own["class_acc500"] > 0.6
    assert shifted["class_acc500"] < 0.2
    assert 0.0 <= own["intra_fid_clf500"] < shifted["intra_fid_clf500"] or shifted["intra_fid_clf500"] is None
    few = ConditionalScorer.build(prepared_digits, reference_dir("digits"), config, 300)
    with caplog.at_level("WARNING", logger="ganlab"):
        assert few.score(images, {"y": labels}, "300 real")["intra_fid_clf300"] is None, "30 per class ≤ 32 dimensions"
    assert "intra-class FID not computed" in caplog.text
    assert list(conditions_for("class-conditional", prepared_digits, 12)["y"]) == [0, 1, 2, 3, 4, 5, 6, 7, 8,
                                                                                             9, 0, 1]

def test_the_toy_samples_the_class_it_is_given(prepared):
    training = _toy_training()
    sampler = Sampler(training.family, training.sampling_generator(), 8)
    samples = sampler.draw(20, 0, conditions=conditions_for("class-conditional", load_prepared("digits"), 20))
    assert samples.shape == (20, 1, 8, 8) and np.abs(samples).max() <= 1.0
