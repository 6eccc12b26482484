"""The truncation sweep in the report (pipeline/reporting/truncation_section.py): a dataset section whose runs carry a
``truncation`` sweep shows the fidelity-vs-variety figure and the table of means over seeds; one without does not."""

from __future__ import annotations

from analysis.report import Report, render_markdown
from pipeline.config import parse
from pipeline.reporting.dataset_section import dataset_section
from pipeline.reporting.truncation_section import TITLE

SUMMARY = {"workers": [{"host": "node-a"}], "run_id": "0" * 32, "steps": 6, "wall_time_s": 1.0, "steps_per_s": 6.0,
           "num_workers": 1, "global_batch_size": 16}


def _result(seed: int, sweep: bool) -> dict:
    scored = {"status": "ok", "step": 6, "fid_clf200": 1.0 + seed}
    result = {"protocols": {"classifier": {"id": "c"}}, "metric_protocol": {"fid_clf200": "classifier"},
              "final": scored, "best": scored, "wall_time_s": 1.0}
    if sweep:
        result["truncation"] = [{"psi": psi, "fid_clf": psi + seed, "precision_clf": 1 / (1 + psi),
                                 "recall_clf": psi / 4, "class_acc": 0.5 + seed / 10} for psi in (0.5, 1.0, 2.0)]
    return result


def _section(tmp_path, sweep: bool):
    config = parse({"benchmark": {"datasets": ["digits"], "variants": ["biggan"], "seeds": [0, 1]}})
    run_files = {("biggan", seed): (_result(seed, sweep), SUMMARY) for seed in (0, 1)}
    section = dataset_section(config, config.running_suites()[0], "digits", tmp_path / "figures", run_files)
    return section, render_markdown(Report("r", [], [section], None), tmp_path)


def test_a_section_with_a_sweep_has_its_figure_and_table_of_means(tmp_path):
    section, text = _section(tmp_path, sweep=True)
    figure, = [figure for figure in section.figures if figure.title == TITLE]
    assert figure.path.is_file() and figure.path.stat().st_size > 0
    table, = section.diagnostic_tables
    assert table.header == ["variant", "ψ", "seeds", "mean fid_clf", "mean precision_clf", "mean recall_clf",
                            "mean class_acc"]
    assert table.rows[0] == ["biggan", "0.5", "2", "1", "0.6667", "0.125", "0.55"], "means over seeds 0 and 1"
    assert [row[1] for row in table.rows] == ["0.5", "1", "2"]
    assert f"![{TITLE}]" in text and "| biggan | 2 | 2 | 2.5 | 0.3333 | 0.5 | 0.55 |" in text


def test_a_section_without_a_sweep_has_neither(tmp_path):
    section, text = _section(tmp_path, sweep=False)
    assert section.diagnostic_tables == [] and all(figure.title != TITLE for figure in section.figures)
    assert TITLE not in text and not (tmp_path / "figures" / "truncation.png").exists()
