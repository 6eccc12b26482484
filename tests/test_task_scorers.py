"""Each task's scorer on data with a known answer: paired translation, super-resolution, unpaired translation, and the
class-conditional in-training metric that tells a label-following generator from one that ignores its labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from analysis.pixel_error import PSNR_CAP_DB, psnr_per_image
from analysis.ssim import ssim_per_image
from pipeline.common.layout import reference_dir
from pipeline.data.store import load_prepared
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.registry import in_training_scorer
from pipeline.scoring.scorers.classifier import ClassifierScorer
from pipeline.scoring.scorers.paired import PairedTranslationScorer
from pipeline.scoring.scorers.super_resolution import SuperResolutionScorer
from pipeline.scoring.scorers.unpaired import UnpairedTranslationScorer
from tests.prepared_sources import with_sources, without_sources
from tests.test_image_similarity import keys_bicubic

N = 500  # more than the 360 test images: sources repeat


def _eval(config):
    return config.for_dataset("digits").eval


def _predicted(scorer, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return scorer.reference.model(torch.as_tensor(images)).argmax(1).numpy()


def test_paired_translation_scores_an_identity_generator_and_a_perfect_one(prepared):
    """Source = the digit shifted by one pixel: the identity generator's L1 is the source-target difference; outputs
    equal to the targets give L1 0, SSIM 1 and the capped PSNR."""
    digits = load_prepared("digits")
    data = with_sources(digits, "paired", np.roll(digits.test_x, 1, axis=3))
    scorer = PairedTranslationScorer.build(data, reference_dir("digits"), _eval(prepared), N)
    sources = conditions_for("paired-translation", data, N)["source"]
    targets = digits.test_x[np.arange(N) % len(digits.test_x)]
    identity = scorer.score(sources, {"source": sources}, "identity")
    assert identity["l1_error500"] == pytest.approx(float(np.abs(sources - targets).mean()), rel=1e-6)
    assert identity["psnr500"] == pytest.approx(float(psnr_per_image(sources, targets).mean()), rel=1e-6)
    perfect = scorer.score(targets, {"source": sources}, "perfect")
    assert (perfect["l1_error500"], perfect["ssim500"], perfect["psnr500"]) == (0.0, pytest.approx(1.0), PSNR_CAP_DB)
    assert identity["ssim500"] < 1.0 and 0.0 <= perfect["fid_clf500"] < identity["fid_clf500"]
    assert scorer.rank_key(perfect) > scorer.rank_key(identity) and scorer.tune_metric == "l1_error500"
    assert scorer.metric_names() == ["l1_error500", "psnr500", "ssim500", "fid_clf500"]
    assert scorer.protocol()["n_test"] == len(digits.test_x)


def test_paired_translation_without_a_domain_classifier_has_no_fid(prepared):
    digits = load_prepared("digits")
    manifest = {k: v for k, v in digits.manifest.items() if k != "classifier"}
    data = with_sources(dataclasses.replace(digits, manifest=manifest), "paired", -digits.test_x)
    scorer = PairedTranslationScorer.build(data, reference_dir("digits"), _eval(prepared), 100)
    assert scorer.metric_names() == ["l1_error100", "psnr100", "ssim100"]
    assert set(scorer.score(digits.test_x[:100], {}, "perfect")) == {"l1_error100", "psnr100", "ssim100"}


def test_super_resolution_records_the_bicubic_baseline_of_the_same_inputs(prepared):
    digits = load_prepared("digits")
    low = digits.test_x.reshape(-1, 1, 4, 2, 4, 2).mean(axis=(3, 5))  # 2 × 2 box downsampling
    data = with_sources(digits, "paired", low, scale=2)
    scorer = SuperResolutionScorer.build(data, reference_dir("digits"), _eval(prepared), N)
    index = np.arange(N) % len(low)
    bicubic, targets = keys_bicubic(low[index], 2), digits.test_x[index]
    perfect = scorer.score(targets, {}, "perfect")
    assert perfect["psnr_bicubic500"] == pytest.approx(float(psnr_per_image(bicubic, targets).mean()), abs=1e-4)
    assert perfect["ssim_bicubic500"] == pytest.approx(float(ssim_per_image(bicubic, targets).mean()), abs=1e-5)
    assert (perfect["psnr500"], perfect["ssim500"]) == (PSNR_CAP_DB, pytest.approx(1.0))
    as_bicubic = scorer.score(bicubic.astype(np.float32), {}, "bicubic")
    assert as_bicubic["psnr500"] == pytest.approx(as_bicubic["psnr_bicubic500"], abs=1e-3)
    assert scorer.rank_key(perfect) > scorer.rank_key(as_bicubic) and scorer.tune_metric == "psnr500"
    assert scorer.protocol()["scale"] == 2


def test_unpaired_translation_counts_kept_labels_and_ranks_translation_above_ignoring_the_input(
        digits_with_a_real_classifier):
    """Domain A: inverted digits; a translator that undoes the inversion keeps every label the classifier reads
    (by hand below); one that returns the same B images whatever its input keeps about a tenth."""
    digits = load_prepared("digits")
    n = 600  # 60 distinct sources per class > 32 feature dimensions
    data = with_sources(digits, "unpaired", -digits.train_x[:n], digits.train_y[:n])
    scorer = in_training_scorer("unpaired-translation", data, reference_dir("digits"), _eval(digits_with_a_real_classifier), n)
    assert isinstance(scorer, UnpairedTranslationScorer) and scorer.rank_base == "intra_fid_clf"
    translated, ignoring = digits.train_x[:n], np.roll(digits.train_x[:n], 1, axis=0)
    good, bad = scorer.score(translated, {}, "translates"), scorer.score(ignoring, {}, "ignores its input")
    assert good[f"label_preservation{n}"] == pytest.approx(float((_predicted(scorer, translated) == digits.train_y[:n]).mean()))
    assert bad[f"label_preservation{n}"] < 0.3 < 0.6 < good[f"label_preservation{n}"]
    assert scorer.rank_key(good) > scorer.rank_key(bad)
    assert abs(good[f"fid_clf{n}"] - bad[f"fid_clf{n}"]) < 1e-9, "the same images: fid_clf cannot tell them apart"


def test_unpaired_translation_with_few_sources_per_class_ranks_by_label_preservation(digits_with_a_real_classifier, caplog):
    digits = load_prepared("digits")
    data = with_sources(digits, "unpaired", -digits.test_x[:100], digits.test_y[:100])
    with caplog.at_level("WARNING", logger="ganlab"):
        scorer = UnpairedTranslationScorer.build(data, reference_dir("digits"), _eval(digits_with_a_real_classifier), N)
    assert scorer.rank_base == "label_preservation" and scorer.tune_metric == "label_preservation500"
    assert "ranked by label_preservation, not intra_fid_clf" in caplog.text
    assert scorer.protocol()["ranked_by"].startswith("label_preservation (intra-FID not computable")


def _following_and_ignoring(digits, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Real training digits: the class each sample asks for (i mod 10), or the dataset's order whatever was asked."""
    requested = np.arange(n) % 10
    by_class = {label: digits.train_x[digits.train_y == label] for label in range(10)}
    following = np.stack([by_class[label][i // 10] for i, label in enumerate(requested)])
    return following, digits.train_x[:n]


def test_the_class_conditional_metric_ranks_a_label_ignoring_generator_below_a_following_one(
        digits_with_a_real_classifier):
    """With train.eval_samples 1000 (100 per class > 32 feature dimensions) class-conditional runs rank by intra-FID;
    the unconditional fid_clf barely separates the two generators (both make real digits)."""
    config = _eval(digits_with_a_real_classifier)
    digits = without_sources(load_prepared("digits"))
    scorer = in_training_scorer("class-conditional", digits, reference_dir("digits"), config, 1000)
    assert scorer.name == "class-conditional" and scorer.tune_metric == "intra_fid_clf1k"
    conditions = conditions_for("class-conditional", digits, 1000)
    following, ignoring = _following_and_ignoring(digits, 1000)
    good, bad = scorer.score(following, conditions, "follows"), scorer.score(ignoring, conditions, "ignores")
    assert scorer.rank_key(good) > scorer.rank_key(bad)
    assert good["intra_fid_clf1k"] * 3 < bad["intra_fid_clf1k"] and good["class_acc1k"] > 0.6 > 0.2 > bad["class_acc1k"]
    unconditional = ClassifierScorer.build(digits, reference_dir("digits"), config, 1000)
    fid_good, fid_bad = (unconditional.score(images, conditions, "")["fid_clf1k"] for images in (following, ignoring))
    assert abs(fid_good - fid_bad) < 0.2 * max(fid_good, fid_bad)


def test_the_class_conditional_metric_falls_back_to_class_accuracy_when_intra_fid_is_not_computable(
        digits_with_a_real_classifier, caplog):
    digits = without_sources(load_prepared("digits"))
    with caplog.at_level("WARNING", logger="ganlab"):
        scorer = in_training_scorer("class-conditional", digits, reference_dir("digits"), _eval(digits_with_a_real_classifier), 300)
    assert scorer.rank_base == "class_acc" and scorer.tune_metric == "class_acc300", "30 per class ≤ 32 dimensions"
    assert "ranked by class_acc, not intra_fid_clf" in caplog.text
    following, ignoring = _following_and_ignoring(digits, 300)
    conditions = conditions_for("class-conditional", digits, 300)
    assert scorer.rank_key(scorer.score(following, conditions, "")) > scorer.rank_key(scorer.score(ignoring, conditions, ""))
