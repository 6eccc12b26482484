"""The tasks issue's acceptance test: a tiny test family of each of the five tasks (tests/families/: toy-gan,
toy-ttur, toy-pix2pix, toy-cycle, toy-sr) trains through the real loop on a local Ray, in one train stage with a
gan-family suite, is scored by its task's scorers and appears in the report beside the gan suite, one section each;
adding them retrains nothing of the gan suite. Each of these toys' search over its own option: the integration tests
test_task_families.py (toy-gan, toy-pix2pix, toy-cycle, toy-sr) and test_tune.py (toy-ttur's d_lr_factor)."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

import tests.families.toy_cycle  # noqa: F401  (each import registers a family; Ray's workers import them from
import tests.families.toy_ttur  # noqa: F401   the pickled settings, found through PYTHONPATH)
import tests.families.toy_gan  # noqa: F401
import tests.families.toy_pix2pix  # noqa: F401
import tests.families.toy_sr  # noqa: F401
from pipeline.common.layout import metrics_file, run_dir, stage_summary_file, train_summary_file
from tests.conftest import PROJECT, tiny_config

pytestmark = pytest.mark.slow

#: suite → (task, dataset, variant, a metric of its task's scorer that the evaluation must carry)
TOYS = {
    "unconditional": ("unconditional", "digits", "toy-gan", "fid_clf200"),
    "conditional": ("class-conditional", "digits", "toy-ttur", "class_acc200"),
    "paired": ("paired-translation", "edges2digits", "toy-pix2pix", "ssim200"),
    "unpaired": ("unpaired-translation", "digits2bold", "toy-cycle", "cycle_error200"),
    "superres": ("super-resolution", "digits-sr2", "toy-sr", "psnr_bicubic200"),
}


def _config(suites: list[str]):
    return tiny_config(
        data={"datasets": ["ring8", "digits", "edges2digits", "digits2bold", "digits-sr2"]},
        benchmark={"title": "GAN losses", "datasets": ["digits"], "variants": ["non-saturating"], "seeds": [0],
                   "suites": suites},
        suites={name: {"title": f"{task} toy", "task": task, "datasets": [dataset], "variants": [variant],
                       "seeds": [0], "train": {"steps": 10, "eval_every": 5, "checkpoint_every": 5}}
                for name, (task, dataset, variant, _) in TOYS.items()},
        train={"steps": 10, "log_every": 5, "eval_every": 5, "checkpoint_every": 5, "eval_samples": 100})


def test_a_family_of_every_task_is_trained_scored_and_reported_beside_the_gan_suite(in_tmp, monkeypatch):
    from pipeline.data.stage import prepare
    from pipeline.reporting.stage import report
    from pipeline.scoring.evaluate import evaluate_matrix
    from pipeline.training.stage import train_matrix

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]))
    alone = _config([])
    for dataset in alone.data.datasets:
        prepare(alone, dataset)
    train_matrix(alone)
    gan_summary = json.loads(train_summary_file("digits", "non-saturating", 0).read_text())

    config = _config(list(TOYS))
    train_matrix(config)
    stage = json.loads(stage_summary_file("train").read_text())
    assert (stage["runs"], stage["trained"], stage["kept"]) == (6, 5, 1), "the gan run is kept, the toys trained"
    assert json.loads(train_summary_file("digits", "non-saturating", 0).read_text()) == gan_summary

    evaluate_matrix(config)
    for _, dataset, variant, metric in TOYS.values():
        result = json.loads(metrics_file(dataset, variant, 0).read_text())
        assert result["final"]["status"] == "ok" and result["final"][metric] is not None, (variant, metric)
    cycle = json.loads(metrics_file("digits2bold", "toy-cycle", 0).read_text())
    assert cycle["samplers"]["BtoA"]["final"]["status"] == "ok", "the B→A sampler is scored too"

    report(config)
    markdown = open("reports/benchmark.md").read()
    headings = re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    expected = ["digits"] + [f"{dataset} · {task} toy" for task, dataset, _, _ in TOYS.values()]
    assert headings[: len(expected)] == expected
    assert "| toy-cycle · B→A |" in markdown and "| non-saturating |" in markdown

    # Back to the gan suite alone: the toys' suites stay in the report as committed results, even without runs/.
    shutil.rmtree(run_dir("digits2bold", "toy-cycle", 0))
    report(alone)
    markdown = open("reports/benchmark.md").read()
    assert re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)[: len(expected)] == expected
    unpaired = markdown.split("## digits2bold · unpaired-translation toy")[1].split("\n## ")[0]
    assert "**Committed results**: `dvc repro` does not run this suite" in unpaired
    assert "`dvc exp run -S 'benchmark.suites=[unpaired]'`" in unpaired
    assert "The runs' own files (samples, curves) are not in this checkout" in unpaired
