"""One dataset's section of the report, in reading order: a paragraph and a ranked summary on the headline metric
(the first ranked metric of the table: the scorers' registry order), every seed's samples, the final- and (where it
can differ) best-checkpoint tables (median and every seed's value), the protocols, the training curves each family
declares and the in-training metrics, the truncation sweep where a run has one (:mod:`.truncation_section`), and
the runs table."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from analysis.plots import curves_png
from analysis.report import DatasetSection, Figure, MetricTable, Table
from models.families import family_of
from models.family import Curve
from pipeline.common.digest import fingerprint
from pipeline.common.files import read_json, read_table
from pipeline.common.layout import metrics_file, run_dir, stage_summary_file
from pipeline.config import Config
from pipeline.config.suites import MAIN_SUITE, Suite
from pipeline.reporting.generator_figures import generator_figures
from pipeline.reporting.run_facts import RUN_HEADER, RunFiles, run_row
from pipeline.reporting.seed_spread import mixture_parts
from pipeline.reporting.truncation_section import truncation_parts
from pipeline.scoring.registry import direction, in_tables, is_metric, metric_order

#: History columns whose changes are phase boundaries, marked on every curve: a growing G's resolution (``pggan``),
#: a stacked G's stage (``stackgan``).
PHASE_COLUMNS = ("resolution", "stage")

#: Per table ("final", "best"): variant → column → per-seed values.
Tables = dict[str, dict[str, dict[str, list]]]


def rerun_hint(suite: Suite) -> str:
    """The one command that trains and evaluates a suite again (the main suite: ``dvc repro``)."""
    if suite.name == MAIN_SUITE:
        return "`dvc repro`"
    return f"`dvc exp run -S 'benchmark.suites=[{suite.name}]'`"


def has_results(suite: Suite) -> bool:
    """Whether every run of the suite has its committed evaluation and training summary."""
    return all(metrics_file(d, v, s).is_file() and stage_summary_file("train", d, v, s).is_file()
               for d, v, s in suite.runs())


def read_run_files(suite: Suite, dataset: str) -> RunFiles:
    """Every run's evaluation and training summary of one suite's dataset (``metrics/{evaluate,train}/…/seed<k>.json``,
    the committed copies), read once."""
    files: RunFiles = {}
    for variant in suite.variants:
        for seed in suite.seeds:
            files[variant, seed] = (read_json(metrics_file(dataset, variant, seed), "evaluation result",
                                              "run `dvc repro evaluate`"),
                                    read_json(stage_summary_file("train", dataset, variant, seed), "training summary",
                                              "run `dvc repro train`"))
    return files


#: Protocol entries that say which generator was scored (the EMA or the raw G, the family's sampling options), not
#: how it was measured: runs that differ only in them are measured alike and share a column; the report names them.
GENERATOR_ENTRIES = ("generator", "sampling")


def measurement(protocol: dict[str, Any]) -> dict[str, Any]:
    """A scorer's protocol without its id and :data:`GENERATOR_ENTRIES`."""
    return {key: value for key, value in protocol.items() if key not in (*GENERATOR_ENTRIES, "id")}


def measurement_id(protocol: dict[str, Any]) -> str:
    """The id of how a number was measured: equal ids ⇔ comparable numbers."""
    return fingerprint(measurement(protocol))[:8]


def protocol_columns(results: Iterable[dict[str, Any]]) -> Callable[[dict[str, Any], str], str]:
    """Table column of a metric: its name, plus its measurement id where one name was measured several ways.

    Numbers measured under different protocols (extractor, preprocessing, sample counts, seeds) never share a
    column; the generator scored (EMA or raw, sampling options) is a property of the row, not of the column.
    """
    ids: dict[str, set[str]] = {}
    for result in results:
        for name, family in result["metric_protocol"].items():
            ids.setdefault(name, set()).add(measurement_id(result["protocols"][family]))

    def column(result: dict[str, Any], name: str) -> str:
        if len(ids[name]) == 1:
            return name
        return f"{name} [{measurement_id(result['protocols'][result['metric_protocol'][name]])}]"

    return column


def metric_of(column: str) -> str:
    """The metric a column of :func:`protocol_columns` shows: its name without the measurement id."""
    return column.split(" [", 1)[0]


def generators_scored(results: dict[tuple[str, int], dict[str, Any]]) -> str:
    """Which generator each variant's numbers come from: "raw G" or "EMA of G", and its sampling options."""
    described: dict[str, list[str]] = {}
    for (variant, _), result in results.items():
        protocol = next(iter(result["protocols"].values()), {})
        options = ", ".join(f"{key} {'none' if value is None else value}"
                            for key, value in protocol.get("sampling", {}).items())
        text = ("EMA of G" if protocol.get("generator") == "EMA" else "raw G") + (f" ({options})" if options else "")
        if variant not in described.setdefault(text, []):
            described[text].append(variant)
    return "generators scored: " + "; ".join(f"{text}: {', '.join(variants)}" for text, variants in described.items())


def sampler_rows(results: dict[tuple[str, int], dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Every run's results as table rows: its family's main sampler under the variant's name, each other sampler
    (e.g. an unpaired translation's B→A) as "variant · sampler" with its own protocols."""
    rows = {}
    for (variant, seed), result in results.items():
        rows[variant, seed] = result
        titles = {spec.name: spec.title or spec.name for spec in family_of(variant).samplers}
        for name, scored in result.get("samplers", {}).items():
            rows[f"{variant} · {titles[name]}", seed] = scored
    return rows


def _collect(results: dict[tuple[str, int], dict[str, Any]]) -> tuple[Tables, list[str], dict, list[str]]:
    """(tables, metric columns in order, protocols by id, notes on diverged generators)."""
    results = sampler_rows(results)
    column = protocol_columns(results.values())
    tables: Tables = {"final": {}, "best": {}}
    names: list[str] = []
    protocols: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for (variant, seed), result in results.items():
        for family, protocol in result["protocols"].items():
            protocols[measurement_id(protocol)] = {"family": family, **measurement(protocol)}
        for which in tables:
            cells = tables[which].setdefault(variant, {})
            for name, value in result[which].items():
                if name not in result["metric_protocol"] or not in_tables(name):
                    continue
                name = column(result, name)
                if name not in names:
                    names.append(name)
                cells.setdefault(name, []).append(value)
            if result[which]["status"] != "ok":
                notes.append(f"{variant} seed {seed}: the {which} generator {result[which]['status']}.")
        tables["best"][variant].setdefault("best step", []).append(result["best"]["step"])
    return tables, sorted(names, key=metric_order), protocols, notes


def _curves(variants: Iterable[str]) -> list[Curve]:
    """The step-statistic figures the variants' families declare, each once, in declaration order."""
    curves: list[Curve] = []
    for variant in variants:
        curves += [curve for curve in family_of(variant).curves if curve not in curves]
    return curves


def _curve_figures(dataset: str, histories: dict[str, pd.DataFrame], figures_dir: Path) -> list[Figure]:
    figures = []
    for curve in _curves(histories):
        if any(c in frame and frame[c].notna().any() for frame in histories.values() for c in curve.columns):
            path = curves_png(histories, curve.columns, figures_dir / f"{curve.columns[0]}.png",
                              f"{dataset}: {curve.title}", curve.ylabel, curve.log, PHASE_COLUMNS)
            figures.append(Figure(curve.title, path))
    for column in sorted({col for frame in histories.values() for col in frame if is_metric(col)}):
        path = curves_png(histories, (column,), figures_dir / f"monitor-{column}.png",
                          f"{dataset}: in-training {column}", column, phase_columns=PHASE_COLUMNS)
        figures.append(Figure(f"In-training metric {column}", path))
    return figures


def _best_differs(results: dict[tuple[str, int], dict[str, Any]]) -> bool:
    """Whether some run's best checkpoint is not its final one (else the best-checkpoint table repeats the final)."""
    return any(result["best"]["step"] != result["final"]["step"] for result in results.values())


def ranking_table(table: MetricTable, metric: str) -> Table:
    """The variants from best to worst on ``metric``: median, every seed, the bold/▼ marks of the metric table."""
    cells = dict(zip(table.values, table.cells()))
    column = table.metrics.index(metric)
    rows = []
    for place, variant in enumerate(table.ordered(metric), start=1):
        median, seeds, note, bold = cells[variant][column]
        rows.append([str(place), variant, median + (" (shares the best rank)" if bold and place > 1 else ""),
                     seeds or "—", note or "—"])
    arrow = "lower" if table.directions[metric] == "min" else "higher"
    return Table(f"Ranking on {metric} ({arrow} is better; final checkpoint)",
                 ["#", "variant", f"median {metric}", "per seed", "not finite"], rows)


def settings_text(config: Config, dataset: str, suite: Suite) -> str:
    """The settings the suite's runs on the dataset use: each variant's paper defaults, the dataset's overrides and
    the suite's training budget, if any."""
    tuned = dict(config.overrides).get(dataset, ())
    changes = [f"{section}.{key} = {value}" for section, values in tuned for key, value in values]
    text = "each variant's paper defaults"
    if changes:
        text += f", with this dataset's overrides in params.yaml ({', '.join(changes)})"
    if suite.train:
        text += f", and the suite's budget ({', '.join(f'train.{key} = {value}' for key, value in suite.train)})"
    return text


def summary_paragraph(config: Config, suite: Suite, dataset: str, table: MetricTable, metric: str,
                      selection: str | None) -> str:
    """One paragraph: what was compared, who leads on the headline metric, what the seeds can say, and how the
    settings were chosen (``selection``: which seeds a committed sweep used, :mod:`.selection_section`)."""
    bench = suite
    merged = config.for_dataset(dataset)
    merged = dataclasses.replace(merged, train=dataclasses.replace(merged.train, **dict(suite.train)))
    ranking = table.rankings()[metric]
    order = table.ordered(metric)
    cells = dict(zip(table.values, table.cells()))[order[0]][table.metrics.index(metric)]
    text = (f"{len(bench.variants)} variants × {len(bench.seeds)} seeds ({', '.join(map(str, bench.seeds))}), "
            f"{merged.train.steps:,} generator steps each. On {metric} the best median is **{order[0]}** "
            f"({cells[0]}; seeds {cells[1] or cells[0]}), the worst {order[-1]}. ")
    if ranking is not None and ranking.testable:
        shared = sorted(ranking.shared - {order[0]})
        text += (f"{', '.join(shared) + ' share' if shared else 'No other variant shares'} its rank (exact rank-sum "
                 f"test, Holm-corrected). ")
    else:
        smallest = ranking.smallest_p if ranking is not None else 1.0
        text += (f"With {len(bench.seeds)} seeds no exact test can separate two variants (smallest p {smallest:.2g}): "
                 f"the order is descriptive. ")
    text += f"Settings: {settings_text(config, dataset, suite)}."
    if selection is not None:
        text += f" A sweep chose them (\"How {dataset}'s settings were chosen\", below): {selection}."
    return text


def _sample_figures(dataset: str, results: dict[tuple[str, int], dict[str, Any]], metric: str,
                    figures_dir: Path) -> list[Figure]:
    """Every run's final samples, failures included, each captioned with its headline value; after each variant's
    first seed, its latent walks and the family's own figures (:mod:`.generator_figures`)."""
    figures = []
    first_seeds = {}
    for variant, seed in results:
        first_seeds.setdefault(variant, seed)
    for (variant, seed), result in results.items():
        target = figures_dir / f"samples-{variant}-seed{seed}.png"
        shutil.copy2(run_dir(dataset, variant, seed) / "samples.png", target)
        value = result["final"].get(metric_of(metric))
        shown = "not measured" if value is None else f"{value:.4g}"
        figures.append(Figure(f"{variant}, seed {seed}: {metric} {shown} ({result['final']['status']})", target))
        if first_seeds[variant] == seed:
            figures.extend(generator_figures(dataset, variant, seed, figures_dir))
    return figures


def dataset_section(config: Config, suite: Suite, dataset: str, figures_dir: Path, run_files: RunFiles,
                    selection: str | None = None) -> DatasetSection:
    """One dataset of one suite; ``selection``: which seeds chose the dataset's settings, where a committed sweep
    did. The main suite's sections are named after the dataset, another suite's "dataset · suite title"."""
    bench = suite
    results = {key: result for key, (result, _) in run_files.items()}
    tables, metric_names, protocols, notes = _collect(results)
    directions = {name: direction(name) for name in metric_names}
    final = MetricTable("Final checkpoint", tables["final"], metric_names, directions)
    metric_tables = [final]
    if _best_differs(results):
        metric_tables.append(MetricTable(
            "Best checkpoint (selected on the in-training metric: train.eval_samples samples against the "
            "training-set statistics)", tables["best"], metric_names + ["best step"], directions))
    else:
        notes.append("Every run's best checkpoint is its final one: the best-checkpoint table would repeat the "
                     "final-checkpoint table, and is left out.")
    headline = next(name for name in metric_names if directions[name])
    present = all((run_dir(dataset, variant, seed) / "history.csv").is_file() for variant, seed in run_files)
    histories = {variant: read_table(run_dir(dataset, variant, bench.seeds[0]) / "history.csv", "training history",
                                     "run `dvc repro train`") for variant in bench.variants} if present else {}
    if not present:
        notes.append(f"The runs' own files (samples, curves) are not in this checkout: runs/ is DVC's cache, not "
                     f"committed; {rerun_hint(suite)} brings them back.")
    protocol_lines = [
        f"{p['family']} metrics [protocol {pid}]: " + ", ".join(f"{k}: {v}" for k, v in p.items() if k not in ("family", "id"))
        for pid, p in protocols.items()
    ] + [generators_scored(results), f"curves show seed {bench.seeds[0]}"]
    runs = [run_row(variant, seed, result, run_files[variant, seed][1]) for (variant, seed), result in results.items()]
    runs_table = Table(f"Runs (MLflow experiment {config.mlflow.experiment}; open them with `ganlab ui`)", RUN_HEADER, runs)
    truncation_figures, truncation_tables = truncation_parts(dataset, results, figures_dir)
    spread_figures, spread_tables = mixture_parts(dataset, results, tables["final"], metric_names, metric_of(headline),
                                                  directions[headline], figures_dir if present else None)
    main = suite.name == MAIN_SUITE
    summary = summary_paragraph(config, suite, dataset, final, headline, selection)
    if suite.name != MAIN_SUITE and suite not in config.running_suites():
        summary = (f"**Committed results**: `dvc repro` does not run this suite (benchmark.suites does not name it); "
                   f"{rerun_hint(suite)} runs it again. {summary}")
    return DatasetSection(dataset if main else f"{dataset} · {suite.title}", protocol_lines, metric_tables,
                          spread_figures + _curve_figures(dataset, histories, figures_dir) + truncation_figures,
                          _sample_figures(dataset, results, headline, figures_dir) if present else [], notes,
                          runs_table, summary=summary,
                          ranking=ranking_table(final, headline), anchor=dataset if main else f"{suite.name}-{dataset}",
                          diagnostic_tables=spread_tables + truncation_tables)
