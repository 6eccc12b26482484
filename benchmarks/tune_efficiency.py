"""Tuning efficiency: the compute ASHA and random search need to match an exhaustive grid.

On each dataset, over one space (``lr_g`` and ``lr_d`` log-uniform; ``--k`` lists ``k_d_steps`` choices), in
one run and with the same per-trial budget (``--steps``, objective measured every ``--eval-every`` steps):

  grid    every point of the grid (``--grid-points`` values per range × every choice), full budget each;
  random  ``--samples`` random configurations, full budget each (FIFO);
  asha    ``--samples`` random configurations under ASHA (``tune.grace_period``, ``reduction_factor``).

Target: within 10 % of the best objective the grid finds (>= 0.9 × best when higher is better,
<= 1.1 × best when lower is). Compute is counted in trial-steps (generator steps summed over trials)
from the trials' MLflow histories: for random and ASHA, the trial-steps spent by the moment the first
measurement meets the target (every trial's last logged step at that timestamp, summed); for the grid,
all of its trial-steps, since only the finished grid knows its best. The objective is the dataset's
in-training metric, except on 2-D mixtures, where covered modes (``modes1k``, a count from 0 to 8 that
short trials leave at 0 or 1 for every configuration) cannot rank trials and the share of high-quality
samples (``hq1k``) is used; ``fid_clf1000`` on digits. The stop rules are off (``stop_after_step`` beyond
the budget), so that every method spends its budget on the same kind of trials.

    python benchmarks/tune_efficiency.py --datasets ring8 digits

Prints a table and writes ``benchmarks/results/tune_efficiency.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import Config, load, parse  # noqa: E402
from pipeline.datasets import get_dataset  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.data.stage import prepare  # noqa: E402
from pipeline.tracking.store import resolve_tracking_uri  # noqa: E402
from pipeline.tuning.sweep import tune  # noqa: E402

METHODS = {"grid": {"search": "grid", "scheduler": "fifo"},
           "random": {"search": "random", "scheduler": "fifo"},
           "asha": {"search": "random", "scheduler": "asha"}}


def sweep_config(base: Config, dataset: str, method: str, args: argparse.Namespace) -> Config:
    raw = base.to_dict()
    raw["mlflow"]["experiment"] = "ganlab-tune-efficiency"
    raw["tune"].update(
        dataset=dataset, variants=[args.variant], seed=args.seed, num_samples=args.samples, grid_points=args.grid_points,
        metric="hq1k" if get_dataset(dataset).kind == "points" else "auto", mode="auto", steps=args.steps, eval_every=args.eval_every, grace_period=args.eval_every,
        reduction_factor=3, cpus_per_trial=1, workers_per_trial=1, max_concurrent=0, time_budget_s=None,
        stop_after_step=args.steps + 1,
        space={"lr_g": ["loguniform", args.lr_low, args.lr_high], "lr_d": ["loguniform", args.lr_low, args.lr_high],
               "k_d_steps": ["choice", args.k]},
        **METHODS[method])
    return parse(raw, f"tune_efficiency ({dataset}, {method})")


def measurements(config: Config, parent_run_id: str, metric: str) -> tuple[list[tuple[int, float]], dict[str, list]]:
    """(every objective measurement as (timestamp ms, value), each trial's (timestamp, step) log) of one sweep."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(resolve_tracking_uri(config))
    experiment = client.get_run(parent_run_id).info.experiment_id
    children = client.search_runs([experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    values, steps = [], {}
    for child in children:
        run_id = child.info.run_id
        values += [(m.timestamp, m.value) for m in client.get_metric_history(run_id, f"eval/{metric}")]
        steps[run_id] = sorted((m.timestamp, m.step) for m in client.get_metric_history(run_id, "loss/d"))
    return sorted(values), steps


def steps_until(timestamp: int, steps: dict[str, list]) -> int:
    return sum(max((step for t, step in log if t <= timestamp), default=0) for log in steps.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ring8", "digits"])
    parser.add_argument("--variant", default="non-saturating")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--grid-points", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[1], help="k_d_steps choices")
    parser.add_argument("--samples", type=int, default=9, help="trials of random search and of ASHA (the grid's size by default)")
    parser.add_argument("--lr-low", type=float, default=1.0e-5)
    parser.add_argument("--lr-high", type=float, default=1.0e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tune_efficiency.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    base = load(ROOT / "params.yaml")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ganlab-tune-bench-") as tmp:
        os.chdir(tmp)
        for dataset in args.datasets:
            prepare(base, dataset)
            found = {}
            for method in METHODS:
                config = sweep_config(base, dataset, method, args)
                started = time.perf_counter()
                summary = tune(config, restart=True)
                wall = time.perf_counter() - started
                metric, mode = summary["metric"], summary["mode"]
                values, steps = measurements(config, summary["parent_run_id"], metric)
                best = min(v for _, v in values) if mode == "min" else max(v for _, v in values)
                found[method] = {"values": values, "steps": steps, "summary": summary, "wall": wall, "best": best}
                print(f"{dataset} {method}: {summary['trials']} trials, {summary['trial_steps']} trial-steps, "
                      f"best {metric} {best:.4g}, {wall:.0f} s", flush=True)
            grid_best = found["grid"]["best"]
            meets = (lambda v: v <= 1.1 * grid_best) if mode == "min" else (lambda v: v >= 0.9 * grid_best)
            grid_steps = found["grid"]["summary"]["trial_steps"]
            for method, result in found.items():
                hit = next((t for t, v in result["values"] if meets(v)), None)
                needed = result["summary"]["trial_steps"] if method == "grid" else (
                    steps_until(hit, result["steps"]) if hit is not None else None)
                rows.append({"dataset": dataset, "method": method, "metric": metric, "mode": mode,
                             "trials": result["summary"]["trials"], "trial_steps": result["summary"]["trial_steps"],
                             "best": result["best"], "target": (1.1 if mode == "min" else 0.9) * grid_best,
                             "steps_to_target": needed, "ratio_to_grid": needed / grid_steps if needed else None,
                             "stop_reasons": result["summary"]["stop_reasons"], "wall_s": round(result["wall"], 1)})
    print(f"\n{args.variant}, {args.steps} steps per trial, objective every {args.eval_every}; "
          f"space lr_g, lr_d in [{args.lr_low:g}, {args.lr_high:g}] (log), k in {args.k}; target: within 10 % of the grid's best")
    print(f"{'dataset':8} {'method':7} {'metric':12} {'trials':>6} {'trial-steps':>11} {'best':>8} {'to target':>10} "
          f"{'vs grid':>7} {'wall s':>7}")
    for row in rows:
        to_target = "not met" if row["steps_to_target"] is None else str(row["steps_to_target"])
        ratio = "-" if row["ratio_to_grid"] is None else f"{row['ratio_to_grid']:.3f}"
        print(f"{row['dataset']:8} {row['method']:7} {row['metric']:12} {row['trials']:>6} {row['trial_steps']:>11} "
              f"{row['best']:>8.4g} {to_target:>10} {ratio:>7} {row['wall_s']:>7.0f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": platform.machine(), "cpus": os.cpu_count(),
                               "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
