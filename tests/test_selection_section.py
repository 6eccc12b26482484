"""The report's settings-selection section: a dataset's committed sweep (benchmarks/<dataset>_sweep/seed<k>/) as a
table of every seed's objective per variant and setting, with the medians and the pooled means computed here by
hand, and the in-sample warning when the benchmark reports on the seeds that chose the settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from pipeline.common.files import CorruptFileError
from pipeline.reporting.selection_section import read_selection, seeds_note, selection_section

#: seed → (variant, lr) → best objective (NaN: the trial never measured it).
OBJECTIVES = {
    0: {("hinge", 1e-3): 1.0, ("hinge", 2e-3): 8.0, ("wgan-gp", 1e-3): 8.5, ("wgan-gp", 2e-3): 8.8,
        ("hinge", 4e-3): 7.0, ("wgan-gp", 4e-3): math.nan},
    1: {("hinge", 1e-3): 2.0, ("hinge", 2e-3): 7.0, ("wgan-gp", 1e-3): 8.7, ("wgan-gp", 2e-3): 0.0},
    2: {("hinge", 1e-3): 3.0, ("hinge", 2e-3): 6.0, ("wgan-gp", 1e-3): 8.9, ("wgan-gp", 2e-3): 8.0},
}


def write_sweeps(root: Path, metric: str = "modes_hq1k", steps: int = 4000) -> None:
    for seed, objectives in OBJECTIVES.items():
        folder = root / "benchmarks" / "ring8_sweep" / f"seed{seed}"
        folder.mkdir(parents=True)
        rows = [{"trial_id": f"t{seed}{i}", "lr": lr, "variant": variant, "stop_reason": "completed", "steps": steps,
                 f"best_{metric}": value} for i, ((variant, lr), value) in enumerate(objectives.items())]
        pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)
        summary = {"dataset": "ring8", "metric": metric, "mode": "max", "steps": steps, "seed": seed,
                   "space": [["lr", "choice"]], "variants": ["hinge", "wgan-gp"], "trials": len(rows),
                   "wall_time_s": 60.0, "parent_run_id": f"parent{seed}"}
        (folder / "summary.json").write_text(json.dumps(summary))


def test_every_seed_median_and_pooled_mean_per_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_sweeps(tmp_path)
    sweeps = read_selection("ring8")
    assert [summary["seed"] for summary, _ in sweeps] == [0, 1, 2]
    section = selection_section("ring8", sweeps, [3, 4, 5], "each variant's paper defaults", tmp_path / "figures")
    (table,) = section.tables
    assert table.header == ["variant", "lr 0.001: seeds 0 / 1 / 2", "lr 0.002: seeds 0 / 1 / 2", "lr 0.004: seeds 0"]
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["hinge"] == ["2 (1 / 2 / 3)", "7 (8 / 7 / 6)", "7"]
    assert rows["wgan-gp"] == ["8.7 (8.5 / 8.7 / 8.9)", "8 (8.8 / 0 / 8)", "—"], "a value never measured is —"
    pooled = {lr: [v for objectives in OBJECTIVES.values() for (_, rate), v in objectives.items()
                   if rate == lr and not math.isnan(v)] for lr in (1e-3, 2e-3, 4e-3)}
    assert rows["mean over variants and seeds"] == [f"{sum(v) / len(v):.3g}" for v in pooled.values()]
    facts = dict(section.facts)
    assert facts["seeds"].endswith("none of which the selection saw") and "4,000 steps" in facts["what"]
    assert facts["MLflow sweep runs"] == "parent0, parent1, parent2"
    assert section.anchor == "ring8-settings" and section.figures[0].path.is_file()


def test_the_benchmark_on_the_selection_seeds_is_called_in_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_sweeps(tmp_path)
    note = seeds_note(read_selection("ring8"), [0, 1, 2])
    assert note == ("the selection used seeds 0, 1, 2; 0, 1, 2 of them are also in the benchmark, whose numbers on "
                    "them are in-sample")


def test_no_selection_folder_means_no_section_and_mixed_objectives_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_selection("ring8") == []
    write_sweeps(tmp_path)
    summary_file = tmp_path / "benchmarks" / "ring8_sweep" / "seed2" / "summary.json"
    summary_file.write_text(json.dumps({**json.loads(summary_file.read_text()), "steps": 2000}))
    with pytest.raises(CorruptFileError, match=r"benchmarks/ring8_sweep do not share one dataset, objective and budget"):
        read_selection("ring8")


def test_a_one_variant_sweep_has_no_variant_column_and_reads_as_that_variant(tmp_path, monkeypatch):
    """``ganlab tune`` with one variant writes no ``variant`` column (grid25's committed sweep is such a one)."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "benchmarks" / "grid25_sweep" / "seed0"
    folder.mkdir(parents=True)
    pd.DataFrame([{"trial_id": "a", "lr": 1e-3, "best_modes_hq2500": 3.0},
                  {"trial_id": "b", "lr": 4e-3, "best_modes_hq2500": 9.0}]).to_csv(folder / "trials.csv", index=False)
    (folder / "summary.json").write_text(json.dumps({
        "dataset": "grid25", "metric": "modes_hq2500", "mode": "max", "steps": 3000, "seed": 0,
        "space": [["lr", "choice"]], "variants": ["non-saturating"], "trials": 2, "wall_time_s": 60.0,
        "parent_run_id": "p"}))
    section = selection_section("grid25", read_selection("grid25"), [15], "overrides", tmp_path / "figures")
    assert section.tables[0].rows[0] == ["non-saturating", "3", "9"]
