"""Both spiders against every variety the replica serves: output equals the truth.

The replica's record schemas (full, lean, mixed) and store-page markups (strict, lenient,
mixed) stand for what the real site may send; ``--markup broken`` stands for a redesign, which
must stop the crawl with ``site_changed`` instead of hours of parse errors.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f
from spider_crawl import as_lines, cwo_stats, run_spider, spider_settings
from test_cli import last_line, replica_flags, scrapy

from cwo_scrapy.replica import truth
from spiders.fitment import FitmentSpider
from spiders.wheel_size import WheelSizeSpider

YEARS = (2016, 1975)
VARIANTS = [("full", "strict"), ("lean", "lenient"), ("mixed", "mixed")]


class _Years:
    """Two model years in one crawl, through the cascade's scope hook."""

    def want_year(self, year: int) -> bool:
        return year in YEARS


class TwoYearsFitment(_Years, FitmentSpider):
    pass


class TwoYearsWheelSize(_Years, WheelSizeSpider):
    pass


def assert_no_parse_errors(crawler: Any) -> None:
    stats = crawler.stats.get_stats()
    assert stats["finish_reason"] == "finished", cwo_stats(crawler)
    prefixes = (
        "cwo/parse_errors",
        "cwo/vehicles_failed",
        "spider_exceptions/",
        "cwo/items_dropped",
    )
    bad = [k for k in stats if k.startswith(prefixes)]
    assert not bad, cwo_stats(crawler)


@pytest.mark.parametrize(("schema", "markup"), VARIANTS)
@deferred_f_from_coro_f
async def test_both_spiders_equal_the_truth_in_every_variant(
    replica_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture, schema: str, markup: str
) -> None:
    """2016 (with the 23 vehicles of 2016 Chrysler) and 1975: every vehicle, every value."""
    replica = replica_factory(record_schema=schema, markup=markup)
    settings = spider_settings(replica, tmp_path)

    caplog.set_level(logging.INFO, logger="cwo_scrapy.drift")
    crawler, items = await run_spider(TwoYearsFitment, settings)
    assert_no_parse_errors(crawler)
    drift_lines = [r.message for r in caplog.records if "record schema differs" in r.message]
    assert len(drift_lines) == (schema != "full")
    expected = [i for y in YEARS for i in truth.fitment_items(year=y, record_schema=schema)]
    assert len(expected) > 2000
    assert as_lines(items) == as_lines(expected)
    chrysler = [i for i in items if (i.year, i.make) == (2016, "Chrysler")]
    assert len(chrysler) == 23
    missing = crawler.stats.get_value("cwo/schema/missing/stockWheelWidthRear", 0)
    if schema == "full":
        assert not [k for k in cwo_stats(crawler) if k.startswith("cwo/schema/")]
    else:  # the drift is counted, and nothing was lost to it
        assert 0 < missing <= len(expected)
        assert crawler.stats.get_value("cwo/schema/unknown_keys") >= 5

    crawler, items = await run_spider(TwoYearsWheelSize, settings)
    assert_no_parse_errors(crawler)
    expected_ws = [
        i
        for y in YEARS
        for i in truth.wheel_size_items(year=y, site_url=replica.site_url, markup=markup)
    ]
    assert as_lines(items) == as_lines(expected_ws)
    no_block = sum(not i.fit_ranges_found for i in items)
    assert crawler.stats.get_value("cwo/wheel_size/no_fit_block", 0) == no_block
    assert (no_block > 0) == (markup != "strict")


def test_broken_markup_closes_the_crawl_as_site_changed_with_samples(
    replica_factory, tmp_path: Path
) -> None:
    """A redesigned store page: exit 1 within the first 60 store pages, one line, 3 samples."""
    replica = replica_factory(markup="broken")
    samples = tmp_path / "samples"
    result = scrapy(
        "crawl", "wheel_size", "-a", "year=2016", "-O", str(tmp_path / "ws.jsonl"),
        *replica_flags(replica), "-s", "CWO_PROFILE=fast",
        "-s", f"CWO_SESSION_FILE={tmp_path / 'session.json'}", "-s", f"CWO_SAMPLES_DIR={samples}",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    line = last_line(result.stderr)
    assert "site_changed" in line
    assert "parse_fit_ranges" in line
    match = re.search(r"failed on (\d+) of (\d+) store responses \(first: (\S+)\)", line)
    assert match, line
    failed, seen, first = int(match[1]), int(match[2]), match[3]
    assert 30 <= seen <= 60
    assert failed > 0.2 * seen
    assert first.startswith(f"{replica.site_url}/store/wheels?")
    (folder,) = samples.glob("*/drift-*")
    bodies = sorted(p.name for p in folder.iterdir() if p.name != "manifest.json")
    assert bodies == ["store-1.html", "store-2.html", "store-3.html"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["reason"] == "site_changed"
    assert all("lacks unit" in s["note"] for s in manifest["samples"])
