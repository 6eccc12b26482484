"""A run's checkpoints in the cases between "interrupted" and "finished", on real Ray and MLflow: a run whose export
failed after its last checkpoint is finished by the next call (not trained again, not stuck); a finished run given
more steps goes on from its final checkpoint; the checkpoints of an interrupted run whose settings then changed are
moved aside with a warning, not deleted."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from pipeline.common.layout import model_dir, run_dir
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def config_of(steps: int, **train):
    return tiny_config(train={"steps": steps, "log_every": 5, "eval_every": 10, "checkpoint_every": 10, **train},
                       ray={"cpus_per_worker": 1})


def places_of(config, name: str):
    from pipeline.cluster.storage import storage_root
    from pipeline.training.places import RunPlaces

    return RunPlaces(storage_root(config.ray.storage), name)


def test_a_run_whose_export_failed_after_its_last_checkpoint_is_finished_not_retrained(prepared):
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.training.stage import train

    config = config_of(20)
    first = train(config, "ring8", "hinge", 0)
    places = places_of(config, "ring8-hinge-seed0")
    places.resume.upload(model_dir("ring8", "hinge", 0))  # the final checkpoint, as a failed export leaves it
    shutil.rmtree(run_dir("ring8", "hinge", 0))           # and no outputs
    again = train(config, "ring8", "hinge", 0)
    assert again["run_id"] == first["run_id"] and again["steps"] == 20 and again["resumed_from"] == [], \
        "exported from the checkpoint into the same MLflow run, not trained again"
    client = MlflowClient(resolve_tracking_uri(config))
    assert [m.step for m in client.get_metric_history(first["run_id"], "loss/d")] == [5, 10, 15, 20]
    assert client.get_run(first["run_id"]).info.status == "FINISHED"
    assert (model_dir("ring8", "hinge", 0) / "generators.pt").is_file() and not places.resume.exists()


def test_a_finished_run_given_more_steps_goes_on_from_its_final_checkpoint(prepared):
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.training.stage import train

    first = train(config_of(20), "ring8", "hinge", 0)
    longer = train(config_of(30), "ring8", "hinge", 0)
    assert longer["steps"] == 30 and longer["resumed_from"] == [20], "went on from step 20, not from 0"
    history = pd.read_csv(run_dir("ring8", "hinge", 0) / "history.csv")
    assert history["step"].tolist() == [5, 10, 15, 20, 25, 30]
    client = MlflowClient(resolve_tracking_uri(config_of(30)))
    run = client.get_run(longer["run_id"])
    assert longer["run_id"] != first["run_id"] and run.data.tags["ganlab.extends"] == first["run_id"]
    assert run.data.params["train.steps"] == "30" and client.get_run(first["run_id"]).data.params["train.steps"] == "20"
    assert [m.step for m in client.get_metric_history(longer["run_id"], "loss/d")] == [25, 30]


def test_an_interrupted_runs_checkpoints_survive_a_change_of_its_settings(prepared, capfd):
    from pipeline.training.ray_train import TrainingFailed
    from pipeline.training.stage import train

    failing = tiny_config(train={"steps": 40, "log_every": 5, "eval_every": 10, "checkpoint_every": 10},
                          ray={"cpus_per_worker": 1, "fail_at_step": 25})
    with pytest.raises(TrainingFailed):
        train(failing, "ring8", "hinge", 0)
    places = places_of(failing, "ring8-hinge-seed0")
    capfd.readouterr()
    changed = train(config_of(40, lr_g=1e-3), "ring8", "hinge", 0)
    assert changed["resumed_from"] == [] and changed["steps"] == 40, "another config: trained from 0"
    (kept,) = places.superseded.children()
    saved = [folder.name for folder in kept.children()]
    assert saved and all(name.startswith("checkpoint_") or name == "ring8-hinge-seed0" for name in saved), saved
    printed = "".join(capfd.readouterr())  # the trial's WARNING line, as Ray forwards it to the driver
    assert "WARNING: ring8-hinge-seed0: 2 checkpoint(s) an interrupted run of other settings left do not fit this " \
           "run; moved to" in printed, printed[-3000:]
