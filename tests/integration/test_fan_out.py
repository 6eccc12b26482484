"""The train stage's fan-out on real Ray: the runs of a matrix train at once (on both nodes of a two-node
cluster), unchanged runs are kept, one failed run costs only itself, and Ctrl-C then a re-run resumes every
run from its checkpoints into the same MLflow runs."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import yaml

from tests.conftest import tiny_config
from tests.integration.commands import command_env, run

pytestmark = pytest.mark.slow


def matrix_config(variants=("hinge", "lsgan"), seeds=(0, 1), **sections):
    train = {"steps": 40, "log_every": 10, "eval_every": 20, "checkpoint_every": 20, **sections.pop("train", {})}
    return tiny_config(benchmark={"datasets": ["ring8"], "variants": list(variants), "seeds": list(seeds)},
                       train=train, ray={"cpus_per_worker": 1, **sections.pop("ray", {})}, **sections)


def training_runs(config):
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri

    client = MlflowClient(resolve_tracking_uri(config))
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    return client, client.search_runs([experiment.experiment_id], "tags.stage = 'train'") if experiment else []


def test_the_runs_of_a_matrix_overlap_in_time_and_land_on_both_nodes(prepared):
    import ray
    from ray.cluster_utils import Cluster

    from pipeline.training.stage import train_matrix

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address)
        summaries = train_matrix(matrix_config(variants=("hinge",)))
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert len(summaries) == 2 and all(s["steps"] == 40 for s in summaries)
    assert len({worker["node_id"] for s in summaries for worker in s["workers"]}) == 2, "both nodes trained"
    _, runs = training_runs(matrix_config())
    spans = [(r.info.start_time, r.info.end_time) for r in runs]
    assert max(sum(start <= t < end for start, end in spans) for t, _ in spans) == 2, "the runs overlapped in time"


def test_one_failed_run_costs_one_run_and_only_what_changed_trains_next(prepared):
    """hinge fails past its retries, lsgan finishes; the next call resumes hinge, keeps lsgan and trains the new
    wgan-gp run; an evaluation-only change then trains nothing."""
    from pipeline.training.ray_train import TrainingFailed
    from pipeline.training.stage import train_matrix

    faulty = matrix_config(seeds=(0,), ray={"fail_at_step": 25, "fail_runs": ["ring8-hinge-seed0"]})
    with pytest.raises(TrainingFailed, match=r"1 of 2 run\(s\) failed: ring8-hinge-seed0 \("):
        train_matrix(faulty)
    client, runs = training_runs(faulty)
    by_variant = {r.data.tags["variant"]: r for r in runs}
    assert by_variant["lsgan"].info.status == "FINISHED" and by_variant["hinge"].info.status == "FAILED"
    summaries = {s["variant"]: s for s in train_matrix(matrix_config(variants=("hinge", "lsgan", "wgan-gp"), seeds=(0,)))}
    assert summaries["lsgan"]["run_id"] == by_variant["lsgan"].info.run_id, "lsgan was kept"
    assert summaries["hinge"]["run_id"] == by_variant["hinge"].info.run_id and summaries["hinge"]["resumed_from"] == [20]
    _, runs = training_runs(faulty)
    assert len(runs) == 3, "one new MLflow run (wgan-gp): the failed one was resumed, lsgan kept"
    inception_on = train_matrix(matrix_config(variants=("hinge",), seeds=(0,), eval={"inception": True}))
    assert len(training_runs(faulty)[1]) == 3 and inception_on[0]["run_id"] == summaries["hinge"]["run_id"], \
        "an evaluation-only setting trains nothing"


def test_ctrl_c_then_a_rerun_resumes_every_run_from_its_checkpoint(prepared, in_tmp):
    config = matrix_config(seeds=(0,), train={"steps": 4000, "checkpoint_every": 200, "eval_every": 2000})
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(config.to_dict()))
    driver = subprocess.Popen(["ganlab", "train"], cwd=in_tmp, env=command_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list((in_tmp / ".ganlab/ray").glob("ring8-*-seed0/checkpoint_*"))) < 2:
        assert driver.poll() is None and time.monotonic() < deadline, driver.stdout.read()[-3000:]
        time.sleep(0.5)
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode != 0 and "run it again to resume" in output, output[-3000:]
    client, before = training_runs(config)
    resumed = run(["ganlab", "train"], in_tmp)
    assert resumed.stdout.count("resuming the interrupted run") + resumed.stderr.count("resuming the interrupted run") == 2
    client, after = training_runs(config)
    assert {r.info.run_id for r in after} == {r.info.run_id for r in before}, "the same MLflow runs continued"
    assert all(r.info.status == "FINISHED" for r in after)
    for r in after:
        steps = sorted(m.step for m in client.get_metric_history(r.info.run_id, "perf/steps_per_s"))
        assert steps == list(range(10, 4001, 10)), "no step lost or logged twice"
