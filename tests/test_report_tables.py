"""The report's metric tables: the median and every seed's value, non-finite values counted and ranked worst,
the bold marks from the exact rank test, and a legend that says what the seeds can separate."""

from __future__ import annotations

import math

from analysis.report import MetricTable
from analysis.significance import rank


def table() -> MetricTable:
    values = {
        "wgan-gp": {"fid": [10.0, 12.0, 17.0], "modes": [8, 7, 8]},
        "hinge": {"fid": [30.0, None, math.inf], "modes": [8, 8, 8]},  # a diverged seed, a seed never measured
        "minimax": {"fid": [None, None, None], "modes": [1, 1, 2]},
    }
    return MetricTable("Final checkpoint", values, ["fid", "modes"], {"fid": "min", "modes": "max"})


def test_cells_show_the_median_every_seed_and_the_count_of_non_finite_values():
    rows = dict(zip(["wgan-gp", "hinge", "minimax"], table().cells()))
    assert rows["wgan-gp"][0] == ("12", "10 / 12 / 17", "", True)
    assert rows["hinge"][0] == ("30 ▼", "30 / — / ∞", "∞ or — in 2/3", False), "worse in every seed"
    assert rows["minimax"][0] == ("— ▼", "— / — / —", "", False)
    assert rows["minimax"][1][0] == "1 ▼", "every minimax seed covers fewer modes than every wgan-gp seed"


def test_three_seeds_cannot_be_separated_and_the_legend_says_so():
    """3 against 3: the smallest exact p is 0.1, so bold is the best median alone and the legend explains why
    (0/0/0 against 8/8/8 is not 'significantly worse')."""
    marks = table().marks()
    assert marks["modes"] == ({"hinge"}, {"minimax"}), "equal medians (8): the better mean"
    assert marks["fid"] == ({"wgan-gp"}, {"hinge", "minimax"})
    legend = table().legend()
    assert "smallest p an exact rank test can give is 0.1" in legend and "no difference" in legend
    ranking = rank({"a": [0, 0, 0], "b": [8, 8, 8], "c": [4, 0, 0]}, "max")
    assert ranking.best == "b" and not ranking.testable and ranking.adjusted[("a", "b")] > 0.05


def test_with_enough_seeds_the_shared_rank_is_bold():
    many = MetricTable("t", {"a": {"m": [1.0, 2.0, 3.0, 1.5, 2.5]}, "b": {"m": [7.0, 8.0, 9.0, 7.5, 8.5]},
                             "c": {"m": [7.2, 8.1, 8.9, 7.4, 8.6]}}, ["m"], {"m": "max"})
    assert many.marks() == {"m": ({"b", "c"}, {"a"})}
    assert "Holm-corrected" in many.legend() and "smallest p these seeds can give is 0.0079" in many.legend()


def test_the_summary_and_the_ranking_name_the_winner_the_table_bolds():
    from pipeline.config import parse
    from pipeline.reporting.dataset_section import ranking_table, summary_paragraph

    config = parse({"benchmark": {"datasets": ["ring8"], "variants": ["wgan-gp", "hinge", "minimax"],
                                  "seeds": [3, 4, 5]}, "overrides": {"ring8": {"train": {"steps": 4000}}}})
    final = table()
    (bold, _), = [final.marks()["fid"]]
    text = summary_paragraph(config, config.running_suites()[0], "ring8", final, "fid", "the selection used seeds 0, 1, 2")
    assert bold == {"wgan-gp"} and "the best median is **wgan-gp** (12; seeds 10 / 12 / 17)" in text
    assert "the worst minimax" in text and "no exact test can separate two variants (smallest p 0.1)" in text
    assert "3 seeds (3, 4, 5), 4,000 generator steps" in text and "overrides in params.yaml (train.steps = 4000)" in text
    assert text.endswith("A sweep chose them (\"How ring8's settings were chosen\", below): the selection used seeds 0, 1, 2.")
    assert summary_paragraph(config, config.running_suites()[0], "ring8", final, "fid", None).endswith("(train.steps = 4000).")
    ranked = ranking_table(final, "fid")
    assert [row[1] for row in ranked.rows] == ["wgan-gp", "hinge", "minimax"]
    assert ranked.rows[1][2:] == ["30 ▼", "30 / — / ∞", "∞ or — in 2/3"]


def test_the_best_checkpoint_table_holds_the_best_checkpoints_values():
    """Each run is scored twice, at its final and at its best checkpoint: a run whose best (step 400) is not its
    final (step 600) shows different numbers in the two tables, each seed in its own cell, with the best step."""
    from pipeline.reporting.dataset_section import _collect

    def result(final, best, best_step):
        return {"protocols": {"modes": {"id": "m"}}, "metric_protocol": {"modes2500": "modes", "mode_kl2500": "modes"},
                "final": {"status": "ok", "step": 600, "modes2500": final[0], "mode_kl2500": final[1]},
                "best": {"status": "ok", "step": best_step, "modes2500": best[0], "mode_kl2500": best[1]}}

    results = {("hinge", 0): result((5, 0.9), (8, 0.1), 400), ("hinge", 1): result((6, 0.7), (7, 0.2), 600)}
    tables, names, _, notes = _collect(results)
    assert names == ["modes2500", "mode_kl2500"] and notes == []
    assert tables["final"]["hinge"] == {"modes2500": [5, 6], "mode_kl2500": [0.9, 0.7]}
    assert tables["best"]["hinge"] == {"modes2500": [8, 7], "mode_kl2500": [0.1, 0.2], "best step": [400, 600]}
