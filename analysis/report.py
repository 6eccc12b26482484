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
import pandas as pd


@dataclass
class MetricTable:
    """Rows = variants; each cell is the list of per-seed values of one metric."""

    title: str
    values: dict[str, dict[str, list[float | None]]]  # variant → metric → per-seed values
    metrics: list[str]
    directions: dict[str, str]  # metric → "min" | "max"; others (e.g. "best step") are never marked

    def summary(self) -> pd.DataFrame:
        """mean and std (ddof=1 when several seeds) per cell; NaN where no finite value exists."""
        rows = {}
        for variant, metrics in self.values.items():
            row = {}
            for metric in self.metrics:
                finite = [v for v in metrics.get(metric, []) if v is not None and math.isfinite(v)]
                series = pd.Series(finite, dtype=float)
                row[(metric, "mean")] = series.mean() if finite else math.nan
                row[(metric, "std")] = series.std(ddof=1) if len(finite) > 1 else math.nan
                row[(metric, "n")] = len(finite)
            rows[variant] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def best_variants(self) -> dict[str, set[str]]:
        """The variant(s) with the best mean per metric."""
        frame = self.summary()
        best: dict[str, set[str]] = {}
        for metric in self.metrics:
            means = frame[(metric, "mean")].dropna()
            if means.empty or self.directions.get(metric) not in ("min", "max"):
                best[metric] = set()
                continue
            target = means.min() if self.directions.get(metric) == "min" else means.max()
            best[metric] = set(means.index[means == target])
        return best

    def cells(self) -> list[list[tuple[str, bool]]]:
        """Formatted ``mean ± std`` cells with a flag for the best in each column."""
        frame, best = self.summary(), self.best_variants()
        rows = []
        for variant in frame.index:
            row = []
            for metric in self.metrics:
                mean, std = frame.at[variant, (metric, "mean")], frame.at[variant, (metric, "std")]
                text = "—" if math.isnan(mean) else f"{mean:.4g}" + ("" if math.isnan(std) else f" ± {std:.2g}")
                row.append((text, variant in best[metric]))
            rows.append(row)
        return rows

    def header(self) -> list[str]:
        arrows = {"min": "↓", "max": "↑"}
        return [f"{m} {arrows.get(self.directions.get(m, ''), '')}".strip() for m in self.metrics]


@dataclass
class Figure:
    title: str
    path: Path


@dataclass
class DatasetSection:
    name: str
    protocol: list[str]
    tables: list[MetricTable]
    figures: list[Figure] = field(default_factory=list)
    samples: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]
    sections: list[DatasetSection]


def render_markdown(report: Report, relative_to: Path) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in report.facts] + [""]
    for section in report.sections:
        lines += [f"## {section.name}", ""]
        lines += [f"*Protocol*: {p}  " for p in section.protocol] + [""]
        lines += [f"> {note}" for note in section.notes] + ([""] if section.notes else [])
        for table in section.tables:
            lines += [f"### {table.title}", "", "Best per column in **bold**.", ""]
            lines.append("| variant | " + " | ".join(table.header()) + " |")
            lines.append("|---|" + "---|" * len(table.metrics))
            for variant, row in zip(table.values, table.cells()):
                lines.append(f"| {variant} | " + " | ".join(f"**{t}**" if b else t for t, b in row) + " |")
            lines.append("")
        for figure in section.figures + section.samples:
            lines += [f"![{figure.title}]({figure.path.relative_to(relative_to).as_posix()})", ""]
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
table{border-collapse:collapse;font-size:.88em;margin:.5em 0 1.5em;width:100%;table-layout:auto}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{background:#f3f3f3}td.best{font-weight:700;background:#e8f4e8}
.facts{font-size:.9em;color:#444}.protocol{font-size:.85em;color:#555;background:#fafafa;border-left:3px solid #bbb;padding:.4em .8em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:.8em}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:.8em}
figure{margin:0}figure img{width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.8em;color:#555;text-align:center}
.note{color:#8a4b00}
</style></head><body>
<h1>{{ report.title | e }}</h1>
<ul class="facts">{% for key, value in report.facts %}<li><b>{{ key | e }}</b>: {{ value | e }}</li>{% endfor %}</ul>
{% for section in report.sections %}
<h2 id="{{ section.name | e }}">{{ section.name | e }}</h2>
<div class="protocol">{% for p in section.protocol %}<div><b>Protocol</b>: {{ p | e }}</div>{% endfor %}</div>
{% for note in section.notes %}<p class="note">{{ note | e }}</p>{% endfor %}
{% for table in section.tables %}
<h3>{{ table.title | e }}</h3>
<table><thead><tr><th>variant</th>{% for h in table.header() %}<th>{{ h | e }}</th>{% endfor %}</tr></thead>
<tbody>{% for variant, row in zip(table.values, table.cells()) %}<tr><td>{{ variant | e }}</td>{% for text, best in row %}<td{% if best %} class="best"{% endif %}>{{ text | e }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% endfor %}
<div class="grid">{% for f in section.figures %}<figure><img alt="{{ f.title | e }}" src="{{ uri(f.path) }}"><figcaption>{{ f.title | e }}</figcaption></figure>{% endfor %}</div>
<h3>Samples</h3>
<div class="samples">{% for f in section.samples %}<figure><img alt="{{ f.title | e }}" src="{{ uri(f.path) }}"><figcaption>{{ f.title | e }}</figcaption></figure>{% endfor %}</div>
{% endfor %}
</body></html>
"""
)


def render_html(report: Report) -> str:
    return _HTML.render(report=report, uri=_data_uri, zip=zip)


def render(report: Report, markdown_path: Path, html_path: Path) -> None:
    markdown_path.write_text(render_markdown(report, markdown_path.parent))
    html_path.write_text(render_html(report))
