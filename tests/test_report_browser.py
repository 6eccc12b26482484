"""The rendered report, opened in headless Chromium on a laptop-sized window.

The widest report ganlab writes: six variants, three seeds (mean ± std cells),
every metric family (domain classifier and Inception) and a sweep section. The
report made by a real ``dvc repro`` is opened in tests/integration/test_dvc_repro.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.plots import curves_png, sample_grid_png, sweep_scatter_png, trial_curves_png
from analysis.report import DatasetSection, Figure, MetricTable, Report, SweepSection, Table, render
from tests.browser import LAPTOP, browser, horizontal_overflow, images, open_page, screenshot

VARIANTS = ["minimax", "non-saturating", "wgan", "wgan-gp", "lsgan", "hinge"]
METRICS = {"fid_clf2500": "min", "classes2500": "max", "class_kl2500": "min", "is_clf2500": "max", "fid5k": "min",
           "kid5k": "min", "precision5k": "max", "recall5k": "max", "density5k": "max", "coverage5k": "max",
           "is5k": "max"}


@pytest.fixture(scope="module")
def widest_report(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    values = {v: {m: list(rng.uniform(0.001, 300.0, 3)) for m in METRICS} for v in VARIANTS}
    values["wgan"]["fid5k"] = [None, None, None]  # a diverged variant: its cell reads "—"
    tables = [MetricTable("Final checkpoint", values, list(METRICS), METRICS),
              MetricTable("Best checkpoint", {v: {**m, "best step": [1000, 2000, 3000]} for v, m in values.items()},
                          list(METRICS) + ["best step"], METRICS)]
    histories = {v: pd.DataFrame({"step": np.arange(50, 1001, 50), "loss_d": rng.normal(size=20)}) for v in VARIANTS}
    figures = [Figure("Discriminator loss", curves_png(histories, ("loss_d",), root / "figures" / "loss_d.png", "L_D"))]
    samples = [Figure(v, sample_grid_png(rng.uniform(-1, 1, (64, 1, 16, 16)), root / "figures" / f"samples-{v}.png", v))
               for v in VARIANTS]
    runs = Table("Runs", ["variant", "seed", "MLflow run", "Ray workers (hosts)"],
                 [[v, str(s), "0123456789abcdef0123456789abcdef", "2 (node-a, node-b)"] for v in VARIANTS for s in range(3)])
    section = DatasetSection("digits", ["classifier metrics [protocol 1234]: " + "a long protocol line, " * 20],
                             tables, figures, samples, [], runs)
    trials = pd.DataFrame({"trial_id": [f"t{i}" for i in range(8)], "lr_g": np.geomspace(1e-5, 1e-3, 8),
                           "k_d_steps": [1, 2, 5, 1, 2, 5, 1, 2], "stop_reason": ["completed"] * 4 + ["early-stopped"] * 4,
                           "best_fid": rng.uniform(5, 100, 8)})
    curves = pd.DataFrame({"trial_id": np.repeat(trials["trial_id"], 3), "step": np.tile([200, 400, 600], 8),
                           "fid": rng.uniform(5, 100, 24)})
    sweep_figures = [
        Figure("Objective against each hyperparameter", sweep_scatter_png(
            trials, {"lr_g": "loguniform", "k_d_steps": "choice"}, "best_fid", "t3", root / "figures" / "sweep.png", "sweep")),
        Figure("Objective over training", trial_curves_png(curves, "fid", ["t3", "t1"], root / "figures" / "curves.png", "c")),
    ]
    sweep = SweepSection("Hyperparameter sweep (Ray Tune)", [("trials", "8")],
                         [Table("Best trials", ["rank", "trial", "lr_g"], [["1", "t3", "1e-4"]])], sweep_figures)
    report = Report("ganlab benchmark", [("git commit", "0" * 40)], [section],
                    Table("Wall time per stage", ["stage", "runs", "total"], [["train", "18", "9 min"]]), [sweep])
    render(report, root / "benchmark.md", root / "benchmark.html")
    return root / "benchmark.html", len(figures) + len(samples) + len(sweep_figures)


def test_widest_report_reads_on_a_laptop_without_sideways_scrolling(widest_report, tmp_path):
    html, n_images = widest_report
    with browser() as chromium:
        page, log = open_page(chromium, html.as_uri())
        widths = horizontal_overflow(page)
        pixels = screenshot(page, tmp_path / "report.png")
        shown = images(page)
        rows = page.locator("table.metrics tbody tr").count()
        headers = page.locator("table.metrics").first.locator("th").all_inner_texts()
    assert log.failed == [] and log.http_errors == [] and log.console_errors == [], log
    page_width, viewport = widths["page"]
    assert page_width <= viewport == LAPTOP["width"], widths
    for header, table_width, room in widths["tables"]:
        assert table_width <= room, f"table starting {header!r} is {table_width}px wide in {room}px"
    assert rows == 2 * len(VARIANTS)
    assert headers[0] == "variant" and "fid5k ↓" in headers and "precision5k ↑" in headers
    assert len(shown) == n_images and all(i["complete"] and i["width"] > 0 and i["shown"] > 100 for i in shown), shown
    assert all(i["src"].startswith("data:image/png;base64") for i in shown), "figures are embedded"
    assert pixels.shape[1] == LAPTOP["width"] and pixels.shape[0] > LAPTOP["height"]
    assert pixels[..., :3].std() > 0.05, "the screenshot is not blank"
