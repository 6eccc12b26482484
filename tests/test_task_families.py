"""The house is open for every task: a toy family of each (tests/families/: toy-gan, toy-pix2pix, toy-cycle, toy-sr;
class-conditional has toy-cgan) trains through the real loop on its task's data with its task's in-training
metric, resumes exactly, is exported and scored by its task's scorers (toy-cycle's B→A too, with the cycle error of
the round trip), and params refuse it on data of another task in one line."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import tests.families.toy_cycle  # noqa: F401  (each import registers its family and variant)
import tests.families.toy_gan  # noqa: F401
import tests.families.toy_pix2pix  # noqa: F401
import tests.families.toy_sr  # noqa: F401
from pipeline.config import ConfigError, parse
from pipeline.data.stage import prepare
from pipeline.data.store import load_prepared
from pipeline.training.loop import Hooks, TrainingLoop
from tests.conftest import tiny_config
from tests.test_step import _training

#: variant → (its dataset, the in-training metric its history carries with train.eval_samples 100).
TOYS = {"toy-gan": ("digits", "fid_clf100"), "toy-pix2pix": ("edges2digits", "l1_error100"),
        "toy-cycle": ("digits2bold", "label_preservation100"), "toy-sr": ("digits-sr2", "psnr100")}
CONFIG = tiny_config()


@pytest.fixture(scope="module")
def prepared_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every toy's dataset prepared once with the tiny config (each test works in a copy)."""
    root = tmp_path_factory.mktemp("task-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for dataset, _ in TOYS.values():
            prepare(CONFIG, dataset)
    return root


@pytest.fixture
def project(prepared_tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(prepared_tasks, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tensors(state, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a (nested) state dict by its path: networks, optimiser moments and step counts."""
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    return {path: value for key, item in items for path, value in _tensors(item, f"{prefix}.{key}").items()}


class Stopped(RuntimeError):
    pass


def _stopped_and_resumed(variant: str, dataset: str, folder: Path) -> TrainingLoop:
    """A run stopped right after its step-3 checkpoint, resumed from it and run to the end."""
    def stop_after_checkpoint(metrics, directory):
        shutil.copytree(directory, folder)
        raise Stopped

    with pytest.raises(Stopped):
        _training(CONFIG, variant, dataset).run(Hooks(report=stop_after_checkpoint))
    resumed = _training(CONFIG, variant, dataset)
    resumed.restore(folder)
    assert resumed.step == 3 and resumed.resumed_from == [3]
    resumed.run()
    return resumed


@pytest.mark.parametrize("variant", list(TOYS))
def test_each_toy_trains_on_its_task_with_its_metric_and_resumes_exactly(project, tmp_path, variant):
    dataset, metric = TOYS[variant]
    straight = _training(CONFIG, variant, dataset)
    history = straight.run()
    assert [row["step"] for row in history] == [2, 3, 4, 6]
    assert all(math.isfinite(row[metric]) for row in history if row["step"] in (3, 6)), metric
    resumed = _stopped_and_resumed(variant, dataset, tmp_path / "ckpt")
    expected = _tensors(straight.model.state_dict())
    observed = _tensors(resumed.model.state_dict())
    assert set(observed) == set(expected) and len(expected) > 8, "every network and optimiser is checkpointed"
    for key, value in observed.items():
        assert torch.equal(value, expected[key]), key
    timeless = [[{k: v for k, v in row.items() if k != "steps_per_s"} for row in run.history] for run in (straight, resumed)]
    assert timeless[0] == timeless[1]
