"""The drift breaker's rule, the schema-drift report and the redaction of saved samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request

from cwo_scrapy.drift import DriftCounter, SchemaWatch
from cwo_scrapy.parsing import parse_vehicle
from cwo_scrapy.samples import load_samples, redact_text, save_sample, write_manifest

TOKEN = "f3a1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d:AAABBBCCCDDDEEEFFF000111222333"
SESSID = "q8l4vmu2k1c9e7o0p3s6t5r2ab"


def test_the_breaker_waits_for_the_minimum_number_of_samples() -> None:
    counter = DriftCounter(max_ratio=0.2, min_samples=30)
    assert not any(counter.failed("store", f"u{i}") for i in range(29))
    assert counter.failed("store", "u29")  # 30 of 30 failed
    assert counter.first_url["store"] == "u0"


def test_the_breaker_trips_only_above_the_ratio_and_per_kind() -> None:
    counter = DriftCounter(max_ratio=0.2, min_samples=30)
    for _ in range(24):
        assert not counter.ok("store")
    for i in range(6):  # 6 of 30 = 0.2: not more than the ratio
        assert not counter.failed("store", f"u{i}")
    assert not counter.failed("vehicle", "v")  # another kind has its own count
    assert counter.failed("store", "u6")  # 7 of 31 > 0.2
    assert counter.counts("store") == (7, 31)


def test_a_success_that_completes_the_minimum_can_trip_too() -> None:
    counter = DriftCounter(max_ratio=0.2, min_samples=10)
    for i in range(9):
        counter.failed("trims", f"u{i}")
    assert counter.ok("trims")  # 9 of 10 failed


class _Stats:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = int(self.values.get(key, 0)) + count  # type: ignore[arg-type]

    def set_value(self, key: str, value: object) -> None:
        self.values[key] = value


class _Crawler:
    stats = _Stats()


def test_schema_drift_is_counted_per_key_and_summarised_in_one_line() -> None:
    crawler = _Crawler()
    watch = SchemaWatch(crawler)  # type: ignore[arg-type]
    ident = {"year": "2016", "make": "Chrysler", "model": "300", "trim": "C", "drive": "RWD"}
    for extra in ({"engine": ["3.6L"]}, {"fuelTypeName": "Gas", "engine": []}):
        watch.record(parse_vehicle(json.dumps({**ident, "drchassisid": "1", "vehicleType": "car",
                                                **extra})))  # fmt: skip
    stats = crawler.stats.values
    assert stats["cwo/schema/missing/stockOffsetRear"] == 2
    assert stats["cwo/schema/unknown_keys"] == 2
    line = watch.summary()
    assert line is not None
    assert "\n" not in line
    assert "stockOffsetRear (2)" in line
    assert "engine, fuelTypeName" in line


def _response(body: str) -> HtmlResponse:
    request = Request(
        "https://www.customwheeloffset.com/store/wheels?year=2016",
        headers={"Cookie": f"aws-waf-token={TOKEN}; PHPSESSID={SESSID}"},
    )
    return HtmlResponse(
        request.url,
        status=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Set-Cookie": [f"PHPSESSID={SESSID}; path=/", f"aws-waf-token={TOKEN}; Secure"],
            "x-amzn-requestid": "abc",
        },
        body=body.encode(),
        request=request,
        encoding="utf-8",
    )


def test_saved_samples_hold_no_cookie_token_or_set_cookie(tmp_path: Path) -> None:
    """A sample is for a bug report: no credential may be in its body, headers or manifest."""
    body = (
        f"<html><script>var t = '{TOKEN}'; document.cookie='PHPSESSID={SESSID}';"
        f'var v = {{"token": "another-secret-token-value"}};</script>'
        '<div class="store-ymm-fitrange">broken</div></html>'
    )
    folder = tmp_path / "samples"
    entry = save_sample(folder, "store-1", _response(body), kind="store", note=f"t={TOKEN}")
    write_manifest(folder, [entry])
    saved = "".join(p.read_text() for p in folder.iterdir())
    for secret in (TOKEN, SESSID, "another-secret-token-value"):
        assert secret not in saved
    assert "set-cookie" not in saved.lower()
    assert "store-ymm-fitrange" in saved  # the evidence itself is kept
    assert entry["headers"]["X-Amzn-Requestid"] == "abc"
    loaded = load_samples(folder)
    assert loaded["store"].status == 200
    assert b"broken" in loaded["store"].body


@pytest.mark.parametrize(
    ("text", "gone"),
    [("aws-waf-token=abcdefgh12345678;", "abcdefgh12345678"), ("PHPSESSID=zz99yy88xx77", "yy88")],
)
def test_session_cookie_pairs_are_masked_even_when_their_value_was_not_sent(
    text: str, gone: str
) -> None:
    assert gone not in redact_text(text)
