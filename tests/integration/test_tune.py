"""Real sweeps: a local Ray running Ray Tune, a sqlite MLflow store, the real `ganlab tune` command."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.config import load
from tests.conftest import tiny_config
from tests.integration.commands import command_env, run

pytestmark = pytest.mark.slow

HEALTHY, ABSURD = 2.0e-4, 1.0e6


def sweep_config(**tune):
    settings = {"dataset": "ring8", "variants": ["non-saturating"], "steps": 40, "eval_every": 10, "grace_period": 10,
                "eval_samples": 100, "stop_after_step": 10**6, "max_failures": 1, **tune}
    return tiny_config(tune=settings)


def runs_of(config):
    """(parent run, child runs) of the one sweep in the store."""
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri

    client = MlflowClient(resolve_tracking_uri(config))
    experiment = client.get_experiment_by_name(config.mlflow.experiment).experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags.get("stage") == "tune"]
    children = [r for r in runs if r.data.tags.get("stage") == "tune-trial"]
    assert len(parents) == 1 and len(runs) == 1 + len(children), "one parent per sweep, no stray runs"
    return client, parents[0], children


def steps_logged(client, run, key="loss/d"):
    return sorted(m.step for m in client.get_metric_history(run.info.run_id, key))


def test_asha_sweep_with_a_diverging_trial_and_crashing_trials(prepared):
    """4 trials (grid of lr_d × k); the absurd learning rate diverges and is stopped, every healthy
    trial crashes once at step 20 and is retried from its checkpoint without losing or repeating a step."""
    from pipeline.tuning.sweep import tune

    config = sweep_config(search="grid", scheduler="asha", reduction_factor=2,
                          space={"lr_d": ["choice", [HEALTHY, ABSURD]], "k_d_steps": ["choice", [1, 2]]})
    config = dataclasses.replace(config, ray=dataclasses.replace(config.ray, fail_at_step=20))
    summary = tune(config)

    trials = pd.read_csv("tune/trials.csv")
    assert len(trials) == summary["trials"] == 4
    diverged = trials[trials["lr_d"] == ABSURD]
    assert (diverged["stop_reason"] == "diverged").all() and (diverged["steps"] < 40).all()
    healthy = trials[trials["lr_d"] == HEALTHY]
    assert set(healthy["stop_reason"]) <= {"completed", "early-stopped"}
    assert (healthy.loc[healthy["stop_reason"] == "completed", "steps"] == 40).all()
    assert (healthy["stop_reason"] == "completed").any()

    crashed = healthy[healthy["steps"] >= 20]
    assert len(crashed) >= 1 and (crashed["failures"] == 1).all(), "Ray Tune recorded one failure of each"
    assert (healthy.loc[healthy["steps"] < 20, "failures"] == 0).all() and (diverged["failures"] == 0).all()

    client, parent, children = runs_of(config)
    assert parent.info.status == "FINISHED" and parent.data.tags["dataset"] == "ring8"
    assert parent.data.params["metric"] == "modes_hq100" and parent.data.metrics["trials"] == 4
    assert len(children) == 4, "a retried trial keeps its run"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    by_id = {c.info.run_id: c for c in children}
    for row in trials.itertuples():
        child = by_id[row.mlflow_run_id]
        assert float(child.data.params["tune.lr_d"]) == row.lr_d and int(child.data.params["tune.k_d_steps"]) == row.k_d_steps
        assert child.data.tags["stop_reason"] == row.stop_reason and child.info.status == "FINISHED"
        if row.steps >= 20:  # crashed at step 20, 5 s after its step-10 checkpoint: resumed from there, not from 0
            assert child.data.tags["ganlab.resumed_from"] == "10", child.data.tags
        if row.stop_reason == "completed":
            assert steps_logged(client, child) == list(range(2, 41, 2)), "no step lost or logged twice"
            assert steps_logged(client, child, "eval/modes100") == [10, 20, 30, 40]

    best = load("tune/best_params.yaml")
    assert best.benchmark.datasets == ("ring8",) and best.benchmark.variants == ("non-saturating",)
    tuned = dict(dict(best.overrides)["ring8"])["train"]
    assert dict(tuned)["lr_d"] == HEALTHY and summary["best"]["lr_d"] == HEALTHY
    assert json.loads(Path("tune/summary.json").read_text())["best"]["trial_id"] == parent.data.tags["best_trial"]
    assert not Path(".ganlab/tune/sweep-ring8").exists(), "a finished sweep leaves nothing to resume"


def test_pbt_exploits_the_better_trial(prepared):
    from pipeline.tuning.sweep import tune

    config = sweep_config(scheduler="pbt", search="random", num_samples=2, steps=1000, eval_every=200,
                          grace_period=200, perturbation_interval=200, quantile_fraction=0.5, metric="hq100",
                          space={"lr_g": ["loguniform", 1.0e-5, 1.0e-3], "lr_d": ["loguniform", 1.0e-5, 1.0e-3]})
    tune(config)
    client, _, children = runs_of(config)
    exploited = [c for c in children if "pbt.last_exploit" in c.data.tags]
    assert exploited, "with 2 trials and quantile 0.5 the worse one copies the better one"
    for child in exploited:
        lrs = [m.value for m in client.get_metric_history(child.info.run_id, "hparam/lr_g")]
        assert len(lrs) >= 2, "explore logged the trial's new learning rate"
        assert len(steps_logged(client, child)) == len(set(steps_logged(client, child)))
        tags = child.data.tags
        assert len(tags["pbt.donor_weights_sha256"]) == 64
        assert tags["pbt.adopted_weights_sha256"] == tags["pbt.donor_weights_sha256"], "exploit copied the donor's G and D"


def test_eight_concurrent_trials_lose_no_run_and_no_metric(prepared):
    """8 trials at 0.25 CPU each log into one sqlite store at the same time."""
    from pipeline.tuning.sweep import tune

    config = sweep_config(search="grid", scheduler="fifo", cpus_per_trial=0.25, steps=200, eval_every=50,
                          grace_period=50, space={"lr_g": ["choice", [1e-4 * (i + 1) for i in range(8)]]})
    tune(config)
    client, _, children = runs_of(config)
    assert len(children) == 8
    for child in children:
        assert steps_logged(client, child) == list(range(2, 201, 2))
        assert steps_logged(client, child, "eval/modes100") == [50, 100, 150, 200]
    spans = [(c.info.start_time, c.info.end_time) for c in children]
    overlap = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert overlap >= 2, f"trials ran one at a time ({overlap})"


def test_a_trial_can_be_a_two_worker_ray_train_run(prepared):
    from pipeline.tuning.sweep import tune

    config = sweep_config(search="grid", scheduler="asha", workers_per_trial=2, cpus_per_trial=2,
                          space={"lr_g": ["choice", [2.0e-4]]})
    tune(config)
    trials = pd.read_csv("tune/trials.csv")
    assert trials.loc[0, "stop_reason"] == "completed" and trials.loc[0, "steps"] == 40
    client, _, (child,) = runs_of(config)
    measured = {m.step: m.value for m in client.get_metric_history(child.info.run_id, "eval/modes_hq100")}
    assert sorted(measured) == [10, 20, 30, 40], "rank 0 of the Ray Train run measured the objective every R steps"
    assert trials.loc[0, "best_modes_hq100"] == max(measured.values())
    assert trials.loc[0, "best_step"] == min(step for step, value in measured.items() if value == max(measured.values()))
    assert child.data.params["world_size"] == "2" and child.data.params["tune.lr_g"] == "0.0002"
    assert child.data.tags["stop_reason"] == "completed" and child.info.status == "FINISHED"
    assert steps_logged(client, child) == list(range(2, 41, 2))


def test_optuna_search_runs_a_sweep(prepared):
    from pipeline.tuning.sweep import tune

    config = sweep_config(search="optuna", scheduler="asha", num_samples=3, steps=20,
                          space={"lr_g": ["loguniform", 1.0e-4, 1.0e-3], "batch_size": ["choice", [16, 32]]})
    summary = tune(config)
    trials = pd.read_csv("tune/trials.csv")
    assert len(trials) == 3 and trials["batch_size"].isin([16, 32]).all()
    assert trials["lr_g"].between(1.0e-4, 1.0e-3).all()
    winner = trials.loc[trials["best_modes_hq100"].idxmax()]
    assert summary["best"]["trial_id"] == winner["trial_id"] and summary["best"]["lr_g"] == winner["lr_g"]


def _interrupted_sweep(project: Path, steps: int) -> str:
    """Start `ganlab tune` on a grid of 4 trials, Ctrl-C it after the first checkpoint; returns the killed
    sweep's parent run id."""
    params = sweep_config(search="grid", scheduler="fifo", steps=steps, eval_every=100, grace_period=100,
                          space={"lr_g": ["choice", [1e-4, 2e-4, 3e-4, 4e-4]]}).to_dict()
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    driver = subprocess.Popen(["ganlab", "tune"], cwd=project, env=command_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list((project / ".ganlab/tune/sweep-ring8").glob("*/checkpoint_*")):
        assert driver.poll() is None and time.monotonic() < deadline, driver.stdout.read() if driver.poll() is not None else "timeout"
        time.sleep(0.5)
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 2 and "run `ganlab tune` again to resume it" in output, output[-3000:]
    client, parent, children = runs_of(load(project / "params.yaml"))
    assert parent.info.status == "KILLED"
    return parent.info.run_id


def test_a_stopped_sweep_resumes_with_tuner_restore(prepared, in_tmp):
    """Ctrl-C stops `ganlab tune`; running it again continues the same sweep and the same MLflow run."""
    killed = _interrupted_sweep(in_tmp, steps=3000)

    resumed = run(["ganlab", "tune"], in_tmp)
    assert "resuming the stopped sweep" in resumed.stdout + resumed.stderr
    client, again, children = runs_of(load(in_tmp / "params.yaml"))
    assert again.info.run_id == killed and again.info.status == "FINISHED"
    trials = pd.read_csv(in_tmp / "tune/trials.csv")
    assert len(trials) == 4 and (trials["steps"] == 3000).all() and (trials["stop_reason"] == "completed").all()
    assert len(children) == 4
    for child in children:
        assert steps_logged(client, child) == list(range(2, 3001, 2)), "resumed trials neither lose nor repeat steps"


def test_restart_starts_a_new_sweep_instead_of_resuming(prepared, in_tmp):
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri

    killed = _interrupted_sweep(in_tmp, steps=600)
    restarted = run(["ganlab", "tune", "--restart"], in_tmp)
    output = restarted.stdout + restarted.stderr
    assert "(--restart): starting a new one" in output and "resuming the stopped sweep" not in output
    config = load(in_tmp / "params.yaml")
    client = MlflowClient(resolve_tracking_uri(config))
    sweeps = client.search_runs([client.get_experiment_by_name("ganlab").experiment_id], "tags.stage = 'tune'")
    status = {sweep.info.run_id: sweep.info.status for sweep in sweeps}
    assert status.pop(killed) == "KILLED" and list(status.values()) == ["FINISHED"], "a second, finished sweep"
    trials = pd.read_csv(in_tmp / "tune/trials.csv")
    assert len(trials) == 4 and (trials["steps"] == 600).all(), "every trial trained from step 0 to its budget"


def test_the_time_budget_ends_the_sweep_and_keeps_what_it_measured(prepared):
    """tune.time_budget_s: Tune stops every trial when the budget is spent; the sweep still writes its outputs."""
    from pipeline.tuning.sweep import tune

    config = sweep_config(search="grid", scheduler="fifo", steps=10**6, eval_every=100, grace_period=100,
                          time_budget_s=30.0, space={"lr_g": ["choice", [1e-4, 2e-4]]})
    started = time.monotonic()
    summary = tune(config)
    assert time.monotonic() - started < 30.0 + 90.0, "ended by the budget (plus Ray's start-up and the outputs)"
    trials = pd.read_csv("tune/trials.csv")
    assert len(trials) == 2 and (trials["steps"] >= 100).all() and (trials["steps"] < 10**6).all()
    assert set(trials["stop_reason"]) == {"early-stopped"} and summary["best"] is not None


def test_a_sweep_over_a_familys_own_option(prepared, monkeypatch):
    """A grid over ``families.toy-ttur.d_lr_factor`` (tests/families/toy_ttur.py: D's learning rate is the factor ×
    G's): each trial trains with the value it searched -- its MLflow params show D's rate -- and the winner's
    params file retrains it with that option."""
    import tests.families.toy_ttur  # noqa: F401  (registers toy-ttur here)
    from pipeline.tuning.sweep import tune
    from tests.conftest import PROJECT

    # Ray's processes find the test family where this one does: the options in params (a TTUROptions) import it.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    config = tiny_config(families={"toy-ttur": {"d_lr_factor": 1.0}}, tune={
        "dataset": "digits", "variants": ["toy-ttur"], "search": "grid", "scheduler": "fifo", "steps": 20,
        "eval_every": 10, "grace_period": 10, "eval_samples": 100, "stop_after_step": 10**6,
        "space": {"families.toy-ttur.d_lr_factor": ["choice", [0.5, 2.0]]}})
    tune(config)
    option = "families.toy-ttur.d_lr_factor"
    trials = pd.read_csv("tune/trials.csv")
    assert sorted(trials[option]) == [0.5, 2.0] and (trials["steps"] == 20).all()
    client, _, children = runs_of(config)
    by_id = {child.info.run_id: child for child in children}
    for _, row in trials.iterrows():
        params = by_id[row["mlflow_run_id"]].data.params
        assert float(params["lr_d"]) == pytest.approx(float(params["lr"]) * row[option]), "the job trained the sample"
    summary = json.loads(Path("tune/summary.json").read_text())
    assert summary["metric"] == "intra_fid_clf100", "a class-conditional family is tuned by a label-aware metric"
    ranked = trials[f"best_{summary['metric']}"]
    winner = trials.loc[ranked.idxmin() if summary["mode"] == "min" else ranked.idxmax()]
    assert load("tune/best_params.yaml").family_options("toy-ttur").d_lr_factor == winner[option]
