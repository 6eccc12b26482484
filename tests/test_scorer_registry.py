"""The scorer registry: scorers are found as modules of pipeline/scoring/scorers, kept in their explicit order, and
each task's in-training scorer and evaluation conditions come from one place."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import textwrap

import numpy as np
import pytest

import pipeline.scoring.final_scorers as final_scorers_package
import pipeline.scoring.scorers as scorers_package
from models.family import TASKS
from pipeline.common.layout import reference_dir
from pipeline.data.store import load_prepared
from pipeline.scoring import registry
from pipeline.scoring.conditions import TASK_CONDITIONS, conditions_for
from pipeline.scoring.final_scorers import load_final_scorers
from pipeline.scoring.registry import SCORERS, direction, in_training_scorer, metric_base, metric_order, register_scorer
from pipeline.scoring.scorers.classifier import ClassifierScorer
from tests.prepared_sources import with_sources, without_sources


def test_every_module_of_the_scorers_package_registers_a_scorer_and_the_order_is_explicit():
    load_final_scorers()
    modules = {f"{package.__name__}.{m.name}" for package in (scorers_package, final_scorers_package)
               for m in pkgutil.iter_modules(package.__path__)}
    assert {cls.__module__ for cls in SCORERS} == modules
    assert [cls.name for cls in SCORERS] == ["classifier", "class-conditional", "paired-translation", "super-resolution",
                                            "luminance", "unpaired-translation", "inception", "modes", "stacked-modes",
                                            "swd", "ms_ssim"]
    assert [cls.order for cls in SCORERS] == sorted(cls.order for cls in SCORERS)


def test_a_new_module_in_the_package_is_a_new_scorer(tmp_path, monkeypatch):
    """Dropping one module into the package is all a new scorer needs; it lands at its order, not its file name."""
    (tmp_path / "aaa_tiny.py").write_text(textwrap.dedent('''
        from pipeline.scoring.registry import MetricSpec, register_scorer
        from pipeline.scoring.scorers.classifier import ClassifierScorer

        @register_scorer
        class TinyScorer(ClassifierScorer):
            name, order, tasks, metrics, in_training = "tiny", 650, ("unconditional",), (MetricSpec("tiny", "max"),), ()
    '''))
    monkeypatch.setattr(scorers_package, "__path__", [*scorers_package.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "SCORERS", list(SCORERS))
    try:
        scorers_package.load_builtin_scorers()
        names = [cls.name for cls in registry.SCORERS]
        assert names[names.index("inception"):names.index("modes") + 1] == ["inception", "tiny", "modes"]
        assert direction("tiny1k") == "max" and metric_order("tiny1k") < metric_order("modes1k")
    finally:
        sys.modules.pop(f"{scorers_package.__name__}.aaa_tiny", None)
    importlib.invalidate_caches()


def test_a_clashing_name_or_order_is_refused():
    class SameOrder(ClassifierScorer):
        name, order = "another", ClassifierScorer.order

    with pytest.raises(ValueError, match=r"scorer 'another' \(order 100\) clashes with the registered scorer 'classifier'"):
        register_scorer(SameOrder)
    assert SameOrder not in SCORERS


def test_todays_metric_order_and_directions_are_kept_and_new_metrics_have_theirs():
    today = ["fid_clf", "classes", "class_kl", "is_clf", "class_acc", "intra_fid_clf", "fid", "kid", "precision", "recall",
             "density", "coverage", "is", "modes_strict", "modes", "hq", "mode_kl", "modes_hq"]
    positions = [metric_order(name + "1k") for name in today]
    assert positions == sorted(positions)
    assert {name: direction(name + "1k") for name in ("l1_error", "psnr", "ssim", "psnr_bicubic", "ssim_bicubic",
                                                      "label_preservation", "intra_fid_clf")} == {
        "l1_error": "min", "psnr": "max", "ssim": "max", "psnr_bicubic": "max", "ssim_bicubic": "max",
        "label_preservation": "max", "intra_fid_clf": "min"}
    assert metric_base("l1_error1k") == "l1_error" and metric_base("psnr_bicubic2500") == "psnr_bicubic"


def _task_data(prepared_digits):
    test = prepared_digits.test_x
    return {"paired-translation": with_sources(prepared_digits, "paired", -test),
            "super-resolution": with_sources(prepared_digits, "paired", test[:, :, ::2, ::2], scale=2),
            "unpaired-translation": with_sources(prepared_digits, "unpaired", -test, prepared_digits.test_y)}


def test_each_task_has_its_in_training_scorer(prepared):
    """Unconditional: fid_clf (images) or modes (2-D); class-conditional: the label-aware scorer; each source task:
    its own scorer."""
    eval_config = prepared.for_dataset("digits").eval
    digits = without_sources(load_prepared("digits"))
    ring = without_sources(load_prepared("ring8"))
    chosen = {"unconditional": in_training_scorer("unconditional", digits, reference_dir("digits"), eval_config, 200),
              "class-conditional": in_training_scorer("class-conditional", digits, reference_dir("digits"), eval_config,
                                                      200),
              **{task: in_training_scorer(task, data, reference_dir("digits"), eval_config, 200)
                 for task, data in _task_data(digits).items()}}
    assert {task: scorer.name for task, scorer in chosen.items()} == {
        "unconditional": "classifier", "class-conditional": "class-conditional", "paired-translation": "paired-translation",
        "super-resolution": "super-resolution", "unpaired-translation": "unpaired-translation"}
    assert {task: scorer.tune_metric for task, scorer in chosen.items()} == {
        "unconditional": "fid_clf200", "class-conditional": "intra_fid_clf200", "paired-translation": "l1_error200",
        "super-resolution": "psnr200", "unpaired-translation": "intra_fid_clf200"}
    assert in_training_scorer("unconditional", ring, reference_dir("ring8"), eval_config, 200).name == "modes"


def test_every_task_has_its_conditions_and_each_rule_is_a_prefix_rule(prepared):
    digits = without_sources(load_prepared("digits"))
    assert set(TASK_CONDITIONS) == set(TASKS)
    assert conditions_for("unconditional", digits, 5) == {}
    assert list(conditions_for("class-conditional", digits, 12)["y"]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    for task, data in _task_data(digits).items():
        sources = data.test_source
        drawn = conditions_for(task, data, len(sources) + 3)
        assert set(drawn) == {"source"}, "G is given the source images only"
        assert np.array_equal(drawn["source"], np.concatenate([sources, sources[:3]])), "in order, then repeated"
        assert np.array_equal(conditions_for(task, data, 7)["source"], drawn["source"][:7]), task
    with pytest.raises(ValueError, match="digits has no test-split source images to translate"):
        conditions_for("paired-translation", digits, 4)
    with pytest.raises(KeyError, match="unknown task 'colourise'"):
        conditions_for("colourise", digits, 4)
