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
from pipeline.scoring.conditions import held_out_index
from pipeline.data.store import load_prepared
from pipeline.training.loop import Hooks, TrainingLoop
from tests.conftest import export_finished, prepare_once, tiny_config, work_in_copy
from tests.test_step import _training

#: variant → (its dataset, the in-training metric its history carries with train.eval_samples 100).
TOYS = {"toy-gan": ("digits", "fid_clf100"), "toy-pix2pix": ("edges2digits", "l1_error100"),
        "toy-cycle": ("digits2bold", "label_preservation100"), "toy-sr": ("digits-sr2", "psnr100")}
CONFIG = tiny_config()


@pytest.fixture(scope="module")
def prepared_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every toy's dataset prepared once with the tiny config (each test works in a copy)."""
    return prepare_once(tmp_path_factory.mktemp("task-data"), CONFIG, [dataset for dataset, _ in TOYS.values()])


@pytest.fixture
def project(prepared_tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_tasks, tmp_path, monkeypatch)


def _tensors(state, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a (nested) state dict by its path: networks, optimiser moments and step counts."""
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    return {path: value for key, item in items for path, value in _tensors(item, f"{prefix}.{key}").items()}


def assert_same_state(straight: TrainingLoop, resumed: TrainingLoop) -> set[str]:
    """Every tensor of the resumed run's state (networks, optimiser moments, step counts) equals the uninterrupted
    run's, bit for bit; returns the paths compared."""
    expected, observed = _tensors(straight.model.state_dict()), _tensors(resumed.model.state_dict())
    assert set(observed) == set(expected)
    for key, value in observed.items():
        assert torch.equal(value, expected[key]), key
    return set(expected)


def timeless(history: list[dict]) -> list[dict]:
    """A run's history without its timing column (the only one a resumed run may change)."""
    return [{k: v for k, v in row.items() if k != "steps_per_s"} for row in history]


class Stopped(RuntimeError):
    pass


def stopped_and_resumed(config, variant: str, dataset: str, folder: Path) -> TrainingLoop:
    """A run of ``config`` stopped right after its step-3 checkpoint, resumed from it and run to the end."""
    def stop_after_checkpoint(metrics, directory):
        shutil.copytree(directory, folder)
        raise Stopped

    with pytest.raises(Stopped):
        _training(config, variant, dataset).run(Hooks(report=stop_after_checkpoint))
    resumed = _training(config, variant, dataset)
    resumed.restore(folder)
    assert resumed.step == 3 and resumed.resumed_from == [3]
    resumed.run()
    return resumed


def test_an_unpaired_run_survives_its_in_training_metric(project):
    """The unpaired scorer cannot measure the cycle error in training (no round trip there): the row leaves it out
    rather than carrying None into the progress line and MLflow."""
    history = _training(CONFIG, "toy-cycle", "digits2bold").run()
    assert all(value is not None for row in history for value in row.values())
    assert any("label_preservation100" in row for row in history) and not any("cycle_error100" in row for row in history)


@pytest.mark.parametrize("variant", list(TOYS))
def test_each_toy_trains_on_its_task_with_its_metric_and_resumes_exactly(project, tmp_path, variant):
    dataset, metric = TOYS[variant]
    straight = _training(CONFIG, variant, dataset)
    history = straight.run()
    assert [row["step"] for row in history] == [2, 3, 4, 6]
    assert all(math.isfinite(row[metric]) for row in history if row["step"] in (3, 6)), metric
    resumed = stopped_and_resumed(CONFIG, variant, dataset, tmp_path / "ckpt")
    assert len(assert_same_state(straight, resumed)) > 8, "every network and optimiser is checkpointed"
    assert timeless(straight.history) == timeless(resumed.history)


#: variant → metrics its task's scorers give every evaluation (eval.n_samples 200).
SCORED = {"toy-gan": ("fid_clf200", "classes200"), "toy-pix2pix": ("l1_error200", "psnr200", "ssim200"),
          "toy-cycle": ("label_preservation200", "fid_clf200", "cycle_error200"),
          "toy-sr": ("psnr200", "ssim200", "psnr_bicubic200")}


@pytest.mark.parametrize("variant", list(TOYS))
def test_each_toy_is_exported_and_scored_by_its_tasks_scorers(project, tmp_path, variant):
    from pipeline.scoring.evaluate import evaluate

    dataset = TOYS[variant][0]
    training = _training(CONFIG, variant, dataset)
    training.run()
    export_finished(training, tmp_path / "ckpt", CONFIG)
    result = evaluate(CONFIG, dataset, variant, 0)
    for which in ("final", "best"):
        assert result[which]["status"] == "ok"
        for metric in SCORED[variant]:
            assert math.isfinite(result[which][metric]), f"{which}/{metric}"


def test_the_cycle_toys_b_to_a_sampler_is_scored_and_its_round_trip_gives_the_cycle_error(project, tmp_path,
                                                                                          monkeypatch):
    """BtoA is scored on the data with its domains swapped; the main sampler's cycle error is the mean L1 of each
    held-out A image and F(G(a)), recomputed here from the generator file."""
    from pipeline.scoring.conditions import conditions_for
    from pipeline.scoring.evaluate import evaluate, load_generators
    from pipeline.scoring.sampling import EVAL_SEED, load_sampler
    from pipeline.tracking.store import client_for, resolve_tracking_uri

    training = _training(CONFIG, "toy-cycle", "digits2bold")
    training.run()
    run_id = export_finished(training, tmp_path / "ckpt", CONFIG)
    result = evaluate(CONFIG, "digits2bold", "toy-cycle", 0)
    reverse = result["samplers"]["BtoA"]["final"]
    assert math.isfinite(reverse["label_preservation200"]) and reverse["cycle_error200"] is None
    assert reverse["fid_clf200"] != result["final"]["fid_clf200"], "scored against domain A's real images"

    generators = load_generators("digits2bold", "toy-cycle", 0)
    sources = conditions_for("unpaired-translation", load_prepared("digits2bold"), 200)["source"]
    translated = load_sampler(generators, "final").draw(200, EVAL_SEED, conditions={"source": sources})
    back = load_sampler(generators, "final", "BtoA").draw(200, EVAL_SEED, conditions={"source": translated})
    assert result["final"]["cycle_error200"] == pytest.approx(float(np.abs(back - sources).mean()), rel=1e-5)
    logged = client_for(resolve_tracking_uri(CONFIG)).get_run(run_id).data.metrics
    assert logged["BtoA/final/label_preservation200"] == reverse["label_preservation200"]
    assert logged["final/cycle_error200"] == result["final"]["cycle_error200"]


#: (dataset, variant) → why params refuse it: data of another task, or of a shape the family cannot take.
REFUSED = {
    ("digits", "toy-pix2pix"): "family toy-pix2pix serves paired-translation and needs input images, which this "
                               "dataset does not provide",
    ("digits2bold", "toy-pix2pix"): "family toy-pix2pix serves paired-translation and needs input images paired row by "
                                    "row with x, of x's size (8, 8); this dataset's are unpaired, of size (8, 8)",
    ("digits-sr2", "toy-pix2pix"): "family toy-pix2pix serves paired-translation and needs input images paired row by "
                                   "row with x, of x's size (8, 8); this dataset's are paired, of size (4, 4)",
    ("ring8", "toy-cycle"): "family toy-cycle serves unpaired-translation and needs input images, which this dataset "
                            "does not provide",
    ("edges2digits", "toy-cycle"): "family toy-cycle serves unpaired-translation and needs two image domains drawn "
                                   "independently; this dataset's are paired",
    ("digits", "toy-sr"): "family toy-sr serves super-resolution and needs input images, which this dataset does not "
                          "provide",
    ("digits2bold", "toy-sr"): "family toy-sr serves super-resolution and needs low-resolution inputs paired with x, "
                               "smaller than (8, 8); this dataset's are unpaired, of size (8, 8)",
    ("edges2digits", "toy-sr"): "family toy-sr serves super-resolution and needs low-resolution inputs paired with x, "
                                "smaller than (8, 8); this dataset's are paired, of size (8, 8)",
}


def _params(dataset: str, variants: list[str]) -> dict:
    """A benchmark of ``variants`` on ``dataset`` at 8×8 (data.datasets lists it beside tune's and study's ring8 and
    digits)."""
    return {"data": {"image_size": 8, "datasets": list(dict.fromkeys(["ring8", "digits", dataset]))},
            "benchmark": {"datasets": [dataset], "variants": variants}}


@pytest.mark.parametrize("dataset, variant", list(REFUSED))
def test_params_refuse_a_toy_on_data_it_cannot_train_on_in_one_line(dataset, variant):
    """Before any data is prepared, naming the dataset, the variant and why."""
    with pytest.raises(ConfigError) as refused:
        parse(_params(dataset, [variant]))
    assert str(refused.value) == f"params.yaml: {dataset} × {variant}: {REFUSED[dataset, variant]}"


@pytest.mark.parametrize("dataset", ["ring8", "digits", "edges2digits", "digits2bold", "digits-sr2"])
def test_the_unconditional_toy_takes_any_data_and_each_translation_toy_its_own(dataset):
    variants = ["toy-gan"] + [variant for variant, (own, _) in TOYS.items() if own == dataset and variant != "toy-gan"]
    assert parse(_params(dataset, variants)).benchmark.variants == tuple(variants)


def test_the_identity_loss_of_the_cycle_toy_is_refused_for_domains_of_two_shapes():
    from models.families import get_family, get_variant
    from models.family import DataSpec, FamilyError, Hyperparameters

    family = get_family("toy-cycle")
    shapes = DataSpec("images", (1, 8, 8), 10, (1, 4, 4), "unpaired")
    with pytest.raises(FamilyError, match=r"identity_factor 0.5 .* A is \(1, 4, 4\), B \(1, 8, 8\): set it to 0"):
        family.resolve(get_variant("toy-cycle"), Hyperparameters(), shapes, 1)
    without = Hyperparameters(options=family.options(identity_factor=0.0))
    assert family.resolve(get_variant("toy-cycle"), without, shapes, 1).identity_weight == 0.0


LEARNING = tiny_config(model={"width": 64}, train={"steps": 600, "batch_size": 64, "log_every": 600,
                                                    "eval_every": 600, "checkpoint_every": 600})


def test_the_pix2pix_toy_learns_the_translation(project):
    """After 600 steps on edges2digits its L1 on held-out pairs is well below returning the input and below the mean
    training digit, the best image that ignores its input (both computed on the same held-out rows)."""
    training = _training(LEARNING, "toy-pix2pix", "edges2digits")
    l1 = training.run()[-1]["l1_error100"]
    data = load_prepared("edges2digits")
    rows = held_out_index(100, len(data.test_x))
    targets = data.test_x[rows]
    identity = float(np.abs(data.test_source[rows] - targets).mean())
    mean_image = float(np.abs(data.train_x.mean(axis=0) - targets).mean())
    assert l1 < 0.5 * identity and l1 < 0.8 * mean_image, (l1, identity, mean_image)


def test_the_super_resolution_toy_beats_bicubic_upsampling(project):
    """After 600 steps on digits-sr2 its PSNR on held-out images exceeds the bicubic baseline's (the same inputs)."""
    row = _training(LEARNING, "toy-sr", "digits-sr2").run()[-1]
    assert row["psnr100"] > row["psnr_bicubic100"] + 0.5, row
