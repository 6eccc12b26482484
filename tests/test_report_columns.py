"""Numbers measured under different protocols never share a report column."""

from __future__ import annotations

from pipeline.reporting.dataset_section import generators_scored, measurement_id, protocol_columns
from pipeline.scoring.registry import direction, metric_order


def result(weights: str, generator: str = "raw", sampling: dict | None = None) -> dict:
    scored = {"generator": generator, "sampling": sampling or {}}
    return {"protocols": {"inception": {"id": weights, "weights": weights, **scored},
                          "classifier": {"id": "c", "extractor": "clf", **scored}},
            "metric_protocol": {"fid5k": "inception", "fid_clf2500": "classifier"}}


def test_one_protocol_keeps_the_plain_metric_name():
    column = protocol_columns([result("a"), result("a")])
    assert column(result("a"), "fid5k") == "fid5k"


def test_two_protocols_split_the_column_and_keep_direction_and_order():
    a, b = result("aaaa"), result("bbbb")
    column = protocol_columns([a, b])
    ids = measurement_id(a["protocols"]["inception"]), measurement_id(b["protocols"]["inception"])
    assert column(a, "fid5k") == f"fid5k [{ids[0]}]" and column(b, "fid5k") == f"fid5k [{ids[1]}]" and ids[0] != ids[1]
    assert column(a, "fid_clf2500") == "fid_clf2500"
    assert direction(f"fid5k [{ids[0]}]") == "min" and metric_order(f"fid5k [{ids[0]}]") == metric_order("fid5k")


def test_the_generator_scored_is_the_rows_not_the_columns():
    """A run sampled from its EMA with truncation ψ is measured like a raw-G run: one column, and the report says
    which generator each variant's numbers come from."""
    raw, ema = result("aaaa"), result("aaaa", "EMA", {"psi": 0.5})
    column = protocol_columns([raw, ema])
    assert column(ema, "fid5k") == "fid5k" and column(ema, "fid_clf2500") == "fid_clf2500"
    described = generators_scored({("hinge", 3): raw, ("biggan", 3): ema, ("biggan", 4): ema})
    assert described == "generators scored: raw G: hinge; EMA of G (psi 0.5): biggan"
    assert generators_scored({("biggan", 3): result("a", "EMA", {"psi": None})}) == "generators scored: EMA of G (psi none): biggan"


def test_a_sample_caption_reads_the_metric_behind_a_column_with_a_measurement_id():
    from pipeline.reporting.dataset_section import metric_of

    assert metric_of("fid_clf2500 [46a822ba]") == "fid_clf2500" and metric_of("psnr1k") == "psnr1k"
