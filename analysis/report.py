"""Render the benchmark report as Markdown and as one self-contained HTML file.

The input is a plain data model (:class:`Report`); this module does no file
discovery. HTML embeds every figure as a base64 data URI and uses no script,
font or stylesheet from the network.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import markupsafe

from analysis.significance import ALPHA, Ranking, by_median, median, oriented, rank


def _number(value: float) -> str:
    return f"{value:.4g}"


def _seed_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


@dataclass
class MetricTable:
    """Rows = variants; each cell is the list of per-seed values of one metric (None: not measured)."""

    title: str
    values: dict[str, dict[str, list[float | None]]]  # variant → metric → per-seed values
    metrics: list[str]
    directions: dict[str, str]  # metric → "min" | "max"; others (e.g. "best step") are never marked

    def rankings(self) -> dict[str, Ranking | None]:
        """Per metric with a direction: the best median and the variants the exact test cannot tell apart from it
        (:mod:`analysis.significance`; a value that is not finite ranks worst)."""
        return {metric: rank({v: m.get(metric, []) for v, m in self.values.items()}, self.directions[metric])
                if self.directions.get(metric) in ("min", "max") else None for metric in self.metrics}

    def marks(self) -> dict[str, tuple[set[str], set[str]]]:
        """Per metric: (the bold variants, the separated ones). Bold is the shared rank where a test can reach α,
        else the best median alone (the legend says that no difference can be significant)."""
        marks = {}
        for metric, ranking in self.rankings().items():
            if ranking is None or ranking.best is None:
                marks[metric] = (set(), set())
            else:
                marks[metric] = (set(ranking.shared) if ranking.testable else {ranking.best}, set(ranking.separated))
        return marks

    def cells(self) -> list[list[tuple[str, str, str, bool]]]:
        """(median, the per-seed values, the count of values that are not finite, bold) per cell. A value that is
        not finite shows as ∞ (or −∞); one never measured as —; a cell with none finite has the median "—"."""
        marks = self.marks()
        rows = []
        for variant, metrics in self.values.items():
            row = []
            for metric in self.metrics:
                raw = metrics.get(metric, [])
                finite = [float(v) for v in raw if v is not None and math.isfinite(v)]
                text = _number(median(finite)) if finite else "—"
                missing = len(raw) - len(finite)
                note = f"∞ or — in {missing}/{len(raw)}" if missing and finite else ""
                shown = " / ".join(_seed_value(v) for v in raw) if len(raw) > 1 else ""
                bold, separated = marks[metric]
                row.append((text + (" ▼" if variant in separated else ""), shown, note, variant in bold))
            rows.append(row)
        return rows

    def ordered(self, metric: str) -> list[str]:
        """The variants from best to worst on ``metric`` (median, ties broken by the mean; non-finite worst)."""
        mode = self.directions[metric]
        return by_median({variant: oriented(metrics.get(metric, []), mode) or [math.inf]
                          for variant, metrics in self.values.items()})

    def legend(self) -> str:
        """What a cell shows, what the marks mean, and what the seeds can separate."""
        legend = ("Median over seeds, each seed's value below it (∞: diverged; —: not measured, or infinite -- the "
                  "metrics files store an infinite KL, that of an empty mode histogram, as null); either ranks worst. ")
        rankings = [r for r in self.rankings().values() if r is not None and r.best is not None]
        if not rankings:
            return legend
        smallest = min(r.smallest_p for r in rankings)
        if all(r.testable for r in rankings):
            legend += (f"**Bold**: the best median and every variant Wilcoxon's exact rank-sum test (two-sided, "
                       f"Holm-corrected over all pairs, α = {ALPHA}) cannot tell apart from it (a shared rank); "
                       f"the smallest p these seeds can give is {smallest:.2g}.")
        else:
            legend += (f"**Bold**: the best median only. With these seeds the smallest p an exact rank test can give "
                       f"is {smallest:.2g} ≥ α = {ALPHA}: no difference between two variants can be significant, "
                       f"and the table ranks medians without a test.")
        return legend + " ▼: every seed worse than every seed of the best (descriptive)."

    def header(self) -> list[str]:
        arrows = {"min": "↓", "max": "↑"}
        return [f"{m} {arrows.get(self.directions.get(m, ''), '')}".strip() for m in self.metrics]


@dataclass
class Table:
    """A plain table of preformatted text (run facts, stage times, best sweep trials)."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    title: str
    path: Path


@dataclass
class DatasetSection:
    """One dataset, in reading order: the summary paragraph and the ranked table, every seed's samples, the metric
    tables, the protocols, notes, diagnostics (figures) and the runs."""

    name: str
    protocol: list[str]
    tables: list[MetricTable]
    figures: list[Figure] = field(default_factory=list)
    samples: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: Table | None = None
    summary: str = ""
    ranking: Table | None = None
    anchor: str = ""  # the HTML id ("": the name)
    #: Plain tables shown with the diagnostic figures (the truncation sweep's).
    diagnostic_tables: list[Table] = field(default_factory=list)

    @property
    def html_id(self) -> str:
        return self.anchor or self.name


@dataclass
class SweepSection:
    """Results of a search over settings (the sweep, the equal-budget study, a dataset's settings selection):
    what was searched and why, its tables (the first is the headline), its figures. ``anchor`` is the HTML id."""

    title: str
    facts: list[tuple[str, str]]
    tables: list[Table]
    figures: list[Figure] = field(default_factory=list)
    anchor: str = "sweep"


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]
    sections: list[DatasetSection]
    stages: Table | None = None
    sweeps: list[SweepSection] = field(default_factory=list)


def _markdown_table(table: Table) -> list[str]:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    return lines + ["| " + " | ".join(row) + " |" for row in table.rows] + [""]


def render_markdown(report: Report, relative_to: Path) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.name}", ""]
        lines += [section.summary, ""] if section.summary else []
        if section.ranking is not None:
            lines += _markdown_table(section.ranking)
        lines += ["### Samples", ""]
        lines += [f"![{figure.title}]({figure.path.relative_to(relative_to).as_posix()})" for figure in section.samples]
        lines += [""]
        for table in section.tables:
            lines += [f"### {table.title}", "", table.legend(), ""]
            lines.append("| variant | " + " | ".join(table.header()) + " |")
            lines.append("|---|" + "---|" * len(table.metrics))
            for variant, row in zip(table.values, table.cells()):
                cells = (median + (f" ({seeds}{'; ' + note if note else ''})" if seeds else "")
                         for median, seeds, note, _ in row)
                lines.append(f"| {variant} | " + " | ".join(f"**{c}**" if marked else c
                                                            for c, (*_, marked) in zip(cells, row)) + " |")
            lines.append("")
        lines += [f"*Protocol*: {p}  " for p in section.protocol] + [""]
        lines += [f"> {note}" for note in section.notes] + ([""] if section.notes else [])
        lines += ["### Diagnostics", ""]
        for figure in section.figures:
            lines += [f"![{figure.title}]({figure.path.relative_to(relative_to).as_posix()})", ""]
        for table in section.diagnostic_tables:
            lines += _markdown_table(table)
        if section.runs is not None:
            lines += _markdown_table(section.runs)
    for sweep in report.sweeps:
        lines += [f"## {sweep.title}", ""] + [f"- **{key}**: {value}" for key, value in sweep.facts] + [""]
        for table in sweep.tables:
            lines += _markdown_table(table)
        for figure in sweep.figures:
            lines += [f"![{figure.title}]({figure.path.relative_to(relative_to).as_posix()})", ""]
    lines += ["## About these runs", ""] + [f"- **{key}**: {value}" for key, value in report.facts] + [""]
    if report.stages is not None:
        lines += _markdown_table(report.stages)
    return "\n".join(lines)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_HTML = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ report.title | e }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.86em;margin:.5em 0 1.5em;width:100%}
th,td{border:1px solid #ddd;padding:.3em .45em;text-align:right;vertical-align:top}
th{overflow-wrap:break-word}td{white-space:nowrap}td.wrap{white-space:normal;overflow-wrap:anywhere;text-align:left}
th:first-child,td:first-child{text-align:left}
thead th{background:#f3f3f3}td.best{font-weight:700;background:#e8f4e8}
.std{display:block;color:#666;font-weight:400;font-size:.85em;white-space:normal}
.facts{font-size:.9em;color:#444;overflow-wrap:anywhere}.protocol{font-size:.85em;color:#555;background:#fafafa;border-left:3px solid #bbb;padding:.4em .8em;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:.8em}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:.8em}
figure{margin:0}figure img{display:block;max-width:100%;height:auto;margin:0 auto;border:1px solid #eee}figcaption{font-size:.8em;color:#555;text-align:center}
.samples img{width:100%;max-width:300px}.wide img{max-width:100%}
code{font-size:.95em}.note{color:#8a4b00}.summary{font-size:1.02em;line-height:1.45}
</style></head><body>
<h1>{{ report.title | e }}</h1>
<p class="facts">{% for section in report.sections %}<a href="#{{ section.html_id | e }}">{{ section.name | e }}</a> · {% endfor %}{% for sweep in report.sweeps %}<a href="#{{ sweep.anchor | e }}">{{ sweep.anchor | e }}</a> · {% endfor %}<a href="#about">about these runs</a></p>
{% macro plain_table(table) %}<h3>{{ table.title | e }}</h3>
<table><thead><tr>{% for h in table.header %}<th>{{ h | e }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in table.rows %}<tr>{% for cell in row %}<td{% if cell | length > 24 %} class="wrap"{% endif %}>{{ cell | e }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>{% endmacro %}
{% for section in report.sections %}
<h2 id="{{ section.html_id | e }}">{{ section.name | e }}</h2>
{% if section.summary %}<p class="summary">{{ markdown_bold(section.summary) }}</p>{% endif %}
{% if section.ranking %}{{ plain_table(section.ranking) }}{% endif %}
<h3>Samples</h3>
<div class="samples">{% for f in section.samples %}<figure><img alt="{{ f.title | e }}" src="{{ uri(f.path) }}"><figcaption>{{ f.title | e }}</figcaption></figure>{% endfor %}</div>
{% for table in section.tables %}
<h3>{{ table.title | e }}</h3>
<p class="facts">{{ markdown_bold(table.legend()) }}</p>
<table class="metrics"><thead><tr><th>variant</th>{% for h in table.header() %}<th>{{ breakable(h) }}</th>{% endfor %}</tr></thead>
<tbody>{% for variant, row in zip(table.values, table.cells()) %}<tr><td>{{ variant | e }}</td>{% for median, seeds, note, best in row %}<td{% if best %} class="best"{% endif %}>{{ median | e }}{% if seeds %}<span class="std">{{ breakable(seeds) }}</span>{% endif %}{% if note %}<span class="std">{{ note | e }}</span>{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% endfor %}
<div class="protocol">{% for p in section.protocol %}<div><b>Protocol</b>: {{ p | e }}</div>{% endfor %}</div>
{% for note in section.notes %}<p class="note">{{ note | e }}</p>{% endfor %}
<h3>Diagnostics</h3>
<div class="grid">{% for f in section.figures %}<figure><img alt="{{ f.title | e }}" src="{{ uri(f.path) }}"><figcaption>{{ f.title | e }}</figcaption></figure>{% endfor %}</div>
{% for table in section.diagnostic_tables %}{{ plain_table(table) }}{% endfor %}
{% if section.runs %}{{ plain_table(section.runs) }}{% endif %}
{% endfor %}
{% for sweep in report.sweeps %}
<h2 id="{{ sweep.anchor | e }}">{{ sweep.title | e }}</h2>
<ul class="facts">{% for key, value in sweep.facts %}<li><b>{{ key | e }}</b>: {{ value | e }}</li>{% endfor %}</ul>
{% for table in sweep.tables %}{{ plain_table(table) }}{% endfor %}
{% for f in sweep.figures %}<figure class="wide"><img alt="{{ f.title | e }}" src="{{ uri(f.path) }}"><figcaption>{{ f.title | e }}</figcaption></figure>{% endfor %}
{% endfor %}
<h2 id="about">About these runs</h2>
<ul class="facts">{% for key, value in report.facts %}<li><b>{{ key | e }}</b>: {{ value | e }}</li>{% endfor %}</ul>
{% if report.stages %}{{ plain_table(report.stages) }}{% endif %}
</body></html>
"""
)


def _breakable(text: str) -> markupsafe.Markup:
    """Text that may wrap after its underscores and commas (``fid_clf2500`` → ``fid_`` / ``clf2500``;
    ``[-484, 4.48e+03]`` → ``[-484,`` / ``4.48e+03]``)."""
    return markupsafe.Markup(str(markupsafe.escape(text)).replace("_", "_<wbr>").replace(", ", ",<wbr> "))


def _markdown_bold(text: str) -> markupsafe.Markup:
    """``**x**`` → ``<b>x</b>``, the rest escaped."""
    parts = str(markupsafe.escape(text)).split("**")
    return markupsafe.Markup("".join(f"<b>{part}</b>" if i % 2 else part for i, part in enumerate(parts)))


def render_html(report: Report) -> str:
    return _HTML.render(report=report, uri=_data_uri, zip=zip, breakable=_breakable, markdown_bold=_markdown_bold)


def render(report: Report, markdown_path: Path, html_path: Path) -> None:
    markdown_path.write_text(render_markdown(report, markdown_path.parent))
    html_path.write_text(render_html(report))
