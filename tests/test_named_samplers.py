"""A family with several named samplers (tests/families/toy_two_samplers.py: the EMA of G and the raw G): the best
checkpoint keeps every sampler's weights, the generator file holds them by name, and the evaluation scores each."""

from __future__ import annotations

import torch

import tests.families.toy_two_samplers  # noqa: F401  (registers the family)
from pipeline.training.export import final_and_best
from tests.conftest import export_finished, tiny_config
from tests.test_step import _training


def test_every_sampler_is_kept_at_its_best_exported_and_scored(prepared, tmp_path):
    from pipeline.scoring.evaluate import evaluate
    from pipeline.scoring.evaluate import load_generators
    from pipeline.tracking.store import client_for, resolve_tracking_uri

    config = tiny_config(benchmark={"datasets": ["digits"], "variants": ["toy-two-samplers"]},
                         train={"ema_decay": 0.9})
    training = _training(config, "toy-two-samplers", "digits")
    training.run()
    assert set(training.best.samplers) == {"generator", "raw"}
    weights = final_and_best(training.job, training.state_dict())
    ema, raw = weights["final"]["generator"], weights["final"]["raw"]
    assert any(not torch.equal(ema[key], raw[key]) for key in ema), "the EMA is not the raw G"
    for key, value in training.model.modules()["generator"].state_dict().items():
        assert torch.equal(raw[key], value), key

    run_id = export_finished(training, tmp_path / "ckpt", config)
    job = training.job
    generators = load_generators(job.dataset, job.variant, job.seed)
    assert set(generators["final"]) == set(generators["best"]) == {"generator", "raw"}

    result = evaluate(config, "digits", "toy-two-samplers", 0)
    assert set(result["samplers"]) == {"raw"}
    main, other = result["final"], result["samplers"]["raw"]["final"]
    assert main["step"] == other["step"] == 6 and set(main) == set(other)
    assert main != other, "two samplers, two sets of samples"
    logged = client_for(resolve_tracking_uri(config)).get_run(run_id).data.metrics
    for name, value in other.items():
        if isinstance(value, float):
            assert logged[f"raw/final/{name}"] == value and logged[f"final/{name}"] == main[name]
