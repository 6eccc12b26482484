"""A sweep over each task toy's own option (tests/families/: toy-gan, toy-pix2pix, toy-cycle, toy-sr) under a real
local Ray with a sqlite MLflow store, as `ganlab tune` runs it: each trial trains with the value it sampled, which its
MLflow params show resolved into the family's settings."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.data.stage import prepare
from tests.conftest import PROJECT, tiny_config
from tests.integration.test_tune import runs_of

pytestmark = pytest.mark.slow

#: variant → (its dataset, its option, the 2-point grid, the settings field the option resolves into).
SWEEPS = {
    "toy-gan": ("digits", "k", [1, 2], "k"),
    "toy-pix2pix": ("edges2digits", "l1_weight", [10.0, 100.0], "l1_weight"),
    "toy-cycle": ("digits2bold", "cycle_weight", [5.0, 10.0], "cycle_weight"),
    "toy-sr": ("digits-sr2", "adversarial_weight", [1.0e-3, 1.0e-2], "adversarial_weight"),
}


@pytest.mark.parametrize("variant", [
    "toy-gan", "toy-pix2pix", "toy-sr",
    "toy-cycle",
])
def test_a_sweep_over_each_toys_own_option_trains_each_trial_with_its_sample(in_tmp, monkeypatch, variant):
    from pipeline.tuning.sweep import tune

    import tests.families.toy_cycle  # noqa: F401  (each import registers its family here)
    import tests.families.toy_gan  # noqa: F401
    import tests.families.toy_pix2pix  # noqa: F401
    import tests.families.toy_sr  # noqa: F401

    # Ray's processes find the test family where this one does: the options in params (an instance of the family's
    # options dataclass) import its module when they are unpickled there, as in tests/integration/test_tune.py.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    dataset, name, grid, field = SWEEPS[variant]
    option = f"families.{variant}.{name}"
    config = tiny_config(data={"datasets": list(dict.fromkeys(["ring8", "digits", dataset]))},
                         benchmark={"datasets": [dataset], "variants": [variant]}, families={variant: {name: grid[-1]}},
                         tune={"dataset": dataset, "variants": [variant], "search": "grid", "scheduler": "fifo",
                               "steps": 10, "eval_every": 10, "grace_period": 10, "eval_samples": 100,
                               "stop_after_step": 10**6, "space": {option: ["choice", grid]}})
    prepare(config, dataset)
    tune(config)
    trials = pd.read_csv("tune/trials.csv")
    assert sorted(trials[option]) == grid and (trials["steps"] == 10).all()
    _, _, children = runs_of(config)
    by_id = {child.info.run_id: child for child in children}
    for _, row in trials.iterrows():
        params = by_id[row["mlflow_run_id"]].data.params
        assert float(params[field]) == pytest.approx(float(row[option])), "the trial trained with its sample"
