"""The ``report`` stage: gather metrics, histories, samples, run facts, the equal-budget study, each dataset's
settings selection and the sweep into ``reports/benchmark.{md,html}``.

Figures are written to ``reports/figures/<dataset>/`` (another suite's: ``<suite>-<dataset>/``; and ``reports/figures/{study,selection,sweep}/``);
the HTML embeds them. Run facts: git commit, params hash, the machine, wall time
per stage, and per training its MLflow run, Ray workers and global batch.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from analysis.report import Report, render
from pipeline.common.digest import fingerprint
from pipeline.common.layout import REPORTS
from pipeline.config import Config
from pipeline.config.suites import MAIN_SUITE
from pipeline.reporting.dataset_section import dataset_section, has_results, read_run_files, settings_text
from pipeline.reporting.run_facts import machine, stage_times
from pipeline.reporting.selection_section import read_selection, seeds_note, selection_section
from pipeline.reporting.study_section import read_study, study_section
from pipeline.reporting.sweep_section import sweep_section
from pipeline.tracking.git import git_commit

log = logging.getLogger("ganlab.report")


def report(config: Config) -> Path:
    figures_root = REPORTS / "figures"
    if figures_root.exists():
        shutil.rmtree(figures_root)
    sections, searches = [], []
    running = config.running_suites()
    suites = running + [suite for suite in config.defined_suites() if suite not in running and has_results(suite)]
    run_files = {(suite.name, dataset): read_run_files(suite, dataset) for suite in suites for dataset in suite.datasets}
    selected = set()
    for suite in suites:
        for dataset in suite.datasets:
            directory = figures_root / (dataset if suite.name == MAIN_SUITE else f"{suite.name}-{dataset}")
            directory.mkdir(parents=True)
            selection = read_selection(dataset) if dataset not in selected else None
            sections.append(dataset_section(config, suite, dataset, directory, run_files[suite.name, dataset],
                                            seeds_note(selection, suite.seeds) if selection else None))
            if selection:
                selected.add(dataset)
                searches.append(selection_section(dataset, selection, suite.seeds,
                                                  settings_text(config, dataset, suite), figures_root / "selection"))
            log.info("report: %s (%s) done", dataset, suite.name)
    study = read_study()
    if study is not None:
        searches.insert(0, study_section(*study, figures_root / "study"))
    (figures_root / "sweep").mkdir(parents=True)
    sweep = sweep_section(figures_root / "sweep")
    facts = [
        ("git commit", git_commit()),
        ("params hash", f"{fingerprint(config.to_dict())[:16]} (sha256 of the validated params.yaml)"),
        ("machine", machine()),
    ] + [(f"suite {suite.title}" + ("" if suite.name == MAIN_SUITE else f" ({suite.name})"),
          f"{', '.join(suite.variants)} × seeds {', '.join(map(str, suite.seeds))} on {', '.join(suite.datasets)}"
          + ("" if suite in running else "; committed results, not run by `dvc repro`"))
         for suite in suites]
    stages = stage_times(config, run_files, sweep[1] if sweep else None, study[0] if study else None)
    report_data = Report("ganlab benchmark: " + "; ".join(suite.title for suite in suites), facts, sections, stages,
                         searches + ([sweep[0]] if sweep else []))
    render(report_data, REPORTS / "benchmark.md", REPORTS / "benchmark.html")
    log.info("wrote %s and %s", REPORTS / "benchmark.md", REPORTS / "benchmark.html")
    return REPORTS / "benchmark.html"
