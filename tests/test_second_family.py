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
from pipeline.config import ConfigError, parse
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


@pytest.mark.parametrize("section", ["benchmark", "tune", "study"])
def test_params_with_a_class_conditional_family_on_unlabelled_points_are_refused_at_once(section):
    """Before any data is prepared: one line naming the dataset, the variant and why."""
    sections = {"benchmark": {"benchmark": {"datasets": ["ring8"], "variants": ["toy-cgan"]}},
                "tune": {"tune": {"dataset": "ring8", "variants": ["toy-cgan"], "space": {"lr_g": ["choice", [1e-4]]}}},
                "study": {"study": {"dataset": "ring8", "variants": ["toy-cgan"], "space": {"lr_g": ["choice", [1e-4]]}}}}
    with pytest.raises(ConfigError) as refused:
        parse(sections[section])
    message = str(refused.value)
    assert message == ("params.yaml: ring8 × toy-cgan: family toy-cgan is class-conditional and needs labelled data "
                       "with at least 2 classes, got 0")


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


def test_sampling_options_are_checked_against_the_familys_dataclass():
    from pipeline.config import parse

    config = parse({"sampling": {"toy-cgan": {"psi": 0.5}}})
    family = get_family("toy-cgan")
    assert config.sampling_options(family).psi == 0.5
    assert parse({}).sampling_options(family).psi is None, "the family's defaults"
    assert parse({}).sampling_options(get_family("gan")) is None, "gan has no sampling options"
    assert parse(config.to_dict()) == config
    for raw, message in [({"toy-cgan": {"psi": -1}}, r"sampling.toy-cgan.*psi"),
                         ({"gan": {"psi": 1.0}}, r"sampling.gan: family gan takes no sampling options"),
                         ({"no-such": {}}, r"sampling.no-such names an unknown family")]:
        with pytest.raises(ConfigError, match=message):
            parse({"sampling": raw})


def test_truncation_reaches_the_noise_the_samples_are_drawn_from(prepared):
    training = _toy_training()
    sampler = Sampler(training.family, training.sampling_generator(), 8)
    family, options = training.family, family_options(psi=0.3)
    assert family.sample_noise(500, 8, torch.Generator().manual_seed(0), options).abs().max() <= 0.3
    conditions = conditions_for("class-conditional", training.job.data, 20)
    plain = sampler.draw(20, 0, conditions=conditions)
    assert np.array_equal(plain, sampler.draw(20, 0, conditions=conditions, options=family_options(psi=None)))
    assert not np.array_equal(plain, sampler.draw(20, 0, conditions=conditions, options=options))


def family_options(psi):
    return get_family("toy-cgan").sampling_options(psi=psi)
