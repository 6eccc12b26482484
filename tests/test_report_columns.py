"""Numbers measured under different protocols never share a report column."""

from __future__ import annotations

from pipeline.reporting.dataset_section import protocol_columns
from pipeline.scoring.registry import direction, metric_order


def result(protocol_id: str) -> dict:
    return {"protocols": {"inception": {"id": protocol_id}, "classifier": {"id": "c"}},
            "metric_protocol": {"fid5k": "inception", "fid_clf2500": "classifier"}}


def test_one_protocol_keeps_the_plain_metric_name():
    column = protocol_columns([result("a"), result("a")])
    assert column(result("a"), "fid5k") == "fid5k"


def test_two_protocols_split_the_column_and_keep_direction_and_order():
    a, b = result("aaaa"), result("bbbb")
    column = protocol_columns([a, b])
    assert column(a, "fid5k") == "fid5k [aaaa]" and column(b, "fid5k") == "fid5k [bbbb]"
    assert column(a, "fid_clf2500") == "fid_clf2500"
    assert direction("fid5k [aaaa]") == "min" and metric_order("fid5k [aaaa]") == metric_order("fid5k")
