"""The untrained baselines ``identity`` (unpaired translation's "no translation" row) and ``bicubic`` (SRGAN's
Bicubic row): identity returns its input exactly both ways; bicubic is the scorers' bicubic bit for bit (×2, ×4, 1 and
3 channels); the step draws nothing and the state is empty; a suite's GAN settings (optimiser, lr decay, EMA,
precision) are accepted and the run is never wrapped; the refusals; and each through the real loop (resumed exactly,
exported, scored by its task's scorers: identity's cycle error 0, bicubic's PSNR/SSIM those of the bicubic row)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.bicubic import bicubic_upsample as scorers_bicubic
from models.families import get_family, get_variant
from models.family import (DataSpec, FamilyError, Hyperparameters, NetworkOptions, OptimiserOptions, Progress,
                           RunContext)
from pipeline.config import ConfigError
from pipeline.config.space import Dimension, check_reads
from tests.conftest import export_finished, prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import stopped_and_resumed, timeless

IDENTITY, BICUBIC = get_family("identity"), get_family("bicubic")
UNPAIRED = DataSpec("images", (1, 8, 8), 10, source_shape=(1, 8, 8), pairing="unpaired")
#: What a suite of GANs may set in ``train``: every key a baseline accepts and ignores.
GAN_TRAIN = {"optimiser": "rmsprop", "lr_g": 1.0e-3, "lr_d": 4.0e-3, "betas": [0.0, 0.9], "k_d_steps": 5,
             "lr_decay": "linear", "ema_decay": 0.999, "precision": "bf16"}
CONFIG = tiny_config(train=GAN_TRAIN)
#: variant → (its dataset, the in-training metric its history carries with train.eval_samples 100).
BASELINES = {"identity": ("digits2bold", "label_preservation100"), "bicubic": ("digits-sr2", "psnr100")}


def super_resolution(channels: int, side: int, scale: int) -> DataSpec:
    return DataSpec("images", (channels, side, side), 0, source_shape=(channels, side // scale, side // scale),
                    pairing="paired")


def created(family, data: DataSpec, hyper: Hyperparameters = Hyperparameters(), context: RunContext = RunContext()):
    family.check_data(data)
    settings = family.resolve(get_variant(family.name), hyper, data, 1)
    return family.create(settings, data, context), settings


def images(shape, seed=0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_identity_returns_its_input_both_ways_and_so_does_its_exported_sampler():
    run, settings = created(IDENTITY, UNPAIRED)
    source = images((5, 1, 8, 8))
    assert IDENTITY.sampler_names() == ("AtoB", "BtoA") and IDENTITY.samplers[1].reverse
    assert IDENTITY.latent_dim(settings) == 0
    for name in IDENTITY.sampler_names():
        assert torch.equal(IDENTITY.generate(run.sampler(name), torch.zeros(5, 0), {"source": source}), source)
        exported = IDENTITY.build_sampler(settings, UNPAIRED, name)
        exported.load_state_dict(IDENTITY.sampler_weights(run.state_dict(), name))
        assert torch.equal(IDENTITY.generate(exported, torch.zeros(5, 0), {"source": source}), source)


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_bicubic_is_the_scorers_bicubic_bit_for_bit(scale, channels):
    data = super_resolution(channels, 16, scale)
    run, settings = created(BICUBIC, data)
    assert settings.scale == scale and BICUBIC.latent_dim(settings) == 0
    source = images((6, channels, 16 // scale, 16 // scale))
    source[0] = torch.where(torch.arange(16 // scale) % 2 == 0, 1.0, -1.0)  # stripes overshoot: clipped
    with torch.no_grad():
        upsampled = BICUBIC.generate(run.sampler(), torch.zeros(6, 0), {"source": source})
    assert upsampled.shape == (6, channels, 16, 16) and upsampled.abs().max() == 1.0
    assert torch.equal(upsampled, torch.from_numpy(scorers_bicubic(source.numpy(), scale)))


def test_a_step_draws_nothing_and_the_state_is_empty():
    run, _ = created(BICUBIC, super_resolution(1, 8, 2))

    def no_batch():
        raise AssertionError("an untrained baseline draws no batch")

    assert run.step(no_batch, torch.Generator(), Progress(0, 10)) == {}
    assert run.state_dict() == {} and run.modules() == {} and BICUBIC.sampler_weights({}) == {}
    run.scale_learning_rates(0.5)  # train.lr_decay: nothing to scale
    run.load_state_dict({})
    with pytest.raises(ValueError, match="state is empty; this one holds networks"):
        run.load_state_dict({"networks": {}})


@pytest.mark.parametrize("family, data", [(IDENTITY, UNPAIRED), (BICUBIC, super_resolution(3, 16, 4))])
def test_a_suites_gan_settings_are_accepted_and_the_run_is_never_wrapped(family, data):
    """Optimiser keys, EMA and precision change nothing; DDP (context.wrap) would refuse a module without
    parameters, and there is nothing to synchronise."""
    def no_wrap(module):
        raise AssertionError("a module without parameters must not reach DDP")

    gan = Hyperparameters(NetworkOptions(width=8, z_dim=4),
                          optimiser=OptimiserOptions("rmsprop", 1e-3, 4e-3, (0.0, 0.9), 5, lr_factor=2.0))
    run, settings = created(family, data, gan, RunContext(wrap=no_wrap, ema_decay=0.999, precision="bf16"))
    assert settings == created(family, data)[1]
    source = images((3, *data.source_shape))
    assert torch.equal(family.generate(run.sampler(), torch.zeros(3, 0), {"source": source}),
                       family.generate(created(family, data)[0].sampler(), torch.zeros(3, 0), {"source": source}))


REFUSED = [
    (IDENTITY, DataSpec("images", (1, 8, 8), 10, source_shape=(3, 8, 8), pairing="unpaired"),
     r"family identity returns each image as it is, which needs domains of one shape; A is \(3, 8, 8\), B \(1, 8, 8\)"),
    (IDENTITY, DataSpec("images", (1, 8, 8), 10, source_shape=(1, 8, 8), pairing="paired"),
     "family identity serves unpaired-translation and needs two image domains drawn independently"),
    (BICUBIC, DataSpec("images", (1, 8, 8), 10, source_shape=(3, 4, 4), pairing="paired"),
     r"family bicubic upsamples its inputs and needs them with x's 1 channel\(s\), got 3"),
    (BICUBIC, DataSpec("images", (1, 16, 16), 10, source_shape=(1, 6, 6), pairing="paired"),
     r"family bicubic upsamples by one integer factor for height and width; inputs of size \(6, 6\) cannot become"),
    (BICUBIC, DataSpec("images", (1, 16, 16), 10, source_shape=(1, 8, 4), pairing="paired"),
     r"inputs of size \(8, 4\) cannot become x's \(16, 16\)"),
    (BICUBIC, DataSpec("images", (1, 8, 8), 10), "family bicubic serves super-resolution and needs input images"),
]


@pytest.mark.parametrize("family, data, message", REFUSED)
def test_data_a_baseline_cannot_take_is_refused_in_one_line(family, data, message):
    with pytest.raises(FamilyError, match=message):
        family.check_data(data)


def test_suites_list_the_baselines_beside_gans_with_their_train_settings():
    suites = {"sr": {"title": "SR", "task": "super-resolution", "datasets": ["digits-sr2", "digits-sr4", "photos-sr4"],
                     "variants": ["bicubic"], "seeds": [0], "train": GAN_TRAIN},
              "unpaired": {"title": "A ↔ B", "task": "unpaired-translation", "datasets": ["digits2bold"],
                           "variants": ["identity"], "seeds": [0], "train": GAN_TRAIN}}
    runs = tiny_config(suites=suites, benchmark={"suites": ["sr", "unpaired"]}).benchmark_runs()
    expected = {("digits-sr2", "bicubic", 0), ("digits-sr4", "bicubic", 0), ("photos-sr4", "bicubic", 0),
                ("digits2bold", "identity", 0)}
    assert {run for run in runs if run[1] in BASELINES} == expected


def test_a_search_over_a_baseline_is_refused():
    with pytest.raises(ConfigError, match="which family identity .* does not read; it reads no shared key"):
        check_reads((Dimension("lr_g", "loguniform", 1e-5, 1e-3),), ("identity",), "tune")


@pytest.fixture(scope="module")
def prepared_baselines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("baselines"), CONFIG, [dataset for dataset, _ in BASELINES.values()])


@pytest.fixture
def project(prepared_baselines: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_baselines, tmp_path, monkeypatch)


@pytest.mark.parametrize("variant", list(BASELINES))
def test_each_baseline_runs_through_the_loop_resumes_and_is_exported_as_it_ran(project, tmp_path, variant):
    from pipeline.data.store import load_prepared
    from pipeline.scoring.conditions import conditions_for
    from pipeline.scoring.evaluate import load_generators
    from pipeline.scoring.sampling import EVAL_SEED, load_sampler

    dataset, metric = BASELINES[variant]
    straight = _training(CONFIG, variant, dataset)
    history = straight.run()
    assert [row["step"] for row in history] == [2, 3, 4, 6] and straight.images_seen == 0, "no batch drawn"
    scores = [row[metric] for row in history if row["step"] in (3, 6)]
    assert math.isfinite(scores[0]) and scores[0] == scores[1], "untrained: every evaluation gives the same score"
    assert straight.best.step == 3, "ties keep the first"
    resumed = stopped_and_resumed(CONFIG, variant, dataset, tmp_path / "ckpt")
    assert resumed.model.state_dict() == {} and timeless(resumed.history) == timeless(history)

    export_finished(straight, tmp_path / "final", CONFIG)
    generators = load_generators(dataset, variant, 0)
    family = get_family(variant)
    sources = conditions_for(family.task, load_prepared(dataset), 50)["source"]
    for name in family.sampler_names():
        for which in ("final", "best"):
            drawn = load_sampler(generators, which, name).draw(50, EVAL_SEED, conditions={"source": sources})
            with torch.no_grad():
                ran = straight.model.sampler(name)(torch.as_tensor(sources)).numpy()
            assert np.array_equal(drawn, ran), (name, which)


def test_identity_is_scored_as_no_translation_with_a_cycle_error_of_zero(project, tmp_path):
    from pipeline.scoring.evaluate import evaluate

    training = _training(CONFIG, "identity", "digits2bold")
    training.run()
    export_finished(training, tmp_path / "ckpt", CONFIG)
    result = evaluate(CONFIG, "digits2bold", "identity", 0)
    reverse = result["samplers"]["BtoA"]
    for scored in (result["final"], result["best"], reverse["final"]):
        assert scored["status"] == "ok" and math.isfinite(scored["label_preservation200"])
        assert math.isfinite(scored["fid_clf200"]) and scored["fid_clf200"] > 0, "the domains differ"
    assert result["final"]["cycle_error200"] == 0.0


def test_bicubic_is_scored_as_the_bicubic_row(project, tmp_path):
    from pipeline.scoring.evaluate import evaluate

    training = _training(CONFIG, "bicubic", "digits-sr2")
    training.run()
    export_finished(training, tmp_path / "ckpt", CONFIG)
    result = evaluate(CONFIG, "digits-sr2", "bicubic", 0)
    for which in ("final", "best"):
        scored = result[which]
        assert scored["status"] == "ok" and math.isfinite(scored["fid_clf200"])
        assert (scored["psnr200"], scored["ssim200"]) == (scored["psnr_bicubic200"], scored["ssim_bicubic200"])
