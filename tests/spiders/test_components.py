"""Argument checks, item validation, duplicate guard, progress line, Retry-After, profiles."""

from __future__ import annotations

import dataclasses
import io
import json
from email.utils import formatdate

import pytest
from scrapy.exceptions import DropItem
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from cwo_scrapy.items import IDENTITY, FitmentItem, WheelSizeItem
from cwo_scrapy.pipelines import (
    DuplicateGuardPipeline,
    LineFlushJsonLinesExporter,
    SeenIdentities,
    ValidationPipeline,
    validation_errors,
)
from cwo_scrapy.profiles import ProfileAddon, ProfileError
from cwo_scrapy.progress import format_eta, progress_line
from cwo_scrapy.replica import truth
from cwo_scrapy.retry_after import parse_retry_after
from cwo_scrapy.spiderargs import SpiderArgumentError, max_year
from spiders.fitment import FitmentSpider
from spiders.wheel_size import WheelSizeSpider

# -- arguments --------------------------------------------------------------------------------


def test_scope_arguments_are_parsed() -> None:
    parsed = WheelSizeSpider.parse_arguments(
        {"year": "2022", "make": "Ford", "limit": "5", "combos": "all", "rubbing": "Rubs"}
    )
    scope = parsed["scope"]
    assert (scope.year, scope.make, scope.model, scope.limit) == (2022, "Ford", None, 5)
    assert parsed["combos"] == "all"
    assert parsed["overrides"] == {"rubbing": "Rubs"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"limit": "abc"}, "limit='abc'"),
        ({"limit": "-3"}, "limit='-3'"),
        ({"year": "22"}, "year='22'"),
        ({"year": str(max_year() + 1)}, "out of range"),
        ({"make": "  "}, "empty"),
        ({"model": "F-150\n"}, "control"),
        ({"suspension": "Stock"}, "unknown argument 'suspension'"),
    ],
)
def test_bad_fitment_arguments_raise_one_line(kwargs: dict[str, str], fragment: str) -> None:
    with pytest.raises(SpiderArgumentError) as info:
        FitmentSpider(**kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


# -- pipelines --------------------------------------------------------------------------------

F = FITMENT = next(truth.fitment_items(year=2022, make="Ford"))
W = WHEEL = next(truth.wheel_size_items(year=2022, make="Ford"))


def test_true_items_are_valid() -> None:
    assert validation_errors(FITMENT) == []
    assert validation_errors(WHEEL) == []


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (dataclasses.replace(F, front_tire_size=17), "wrong_type/front_tire_size"),
        (dataclasses.replace(FITMENT, lug_count=5.0), "wrong_type/lug_count"),
        (dataclasses.replace(FITMENT, staggered=1), "wrong_type/staggered"),
        (dataclasses.replace(FITMENT, year=True), "wrong_type/year"),
        (dataclasses.replace(F, suspension_options=["Stock", 2]), "wrong_type/suspension_options"),
        (dataclasses.replace(FITMENT, trim=" "), "missing/trim"),
        (dataclasses.replace(FITMENT, vehicle_type="Truck"), "wrong_value/vehicle_type"),
        (dataclasses.replace(WHEEL, front_offset_min_mm=12.5), "wrong_type/front_offset_min_mm"),
        (dataclasses.replace(W, front_width_max_in=float("nan")), "wrong_type/front_width_max_in"),
        ({"year": 2022}, "unexpected_class/dict"),
    ],
)  # fmt: skip
def test_malformed_items_are_dropped_with_a_reason_stat(item: object, reason: str) -> None:
    crawler = get_crawler(FitmentSpider)
    pipeline = ValidationPipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match="malformed"):
        pipeline.process_item(item)
    assert crawler.stats.get_value(f"cwo/items_dropped/{reason}") == 1


def test_none_ranges_are_valid_for_wheel_sizes() -> None:
    item = dataclasses.replace(WHEEL, front_diameter_min_in=None, front_diameter_max_in=None)
    assert validation_errors(item) == []


def test_duplicates_are_dropped_and_counted() -> None:
    crawler = get_crawler(WheelSizeSpider)
    guard = DuplicateGuardPipeline.from_crawler(crawler)
    assert guard.process_item(WHEEL) is WHEEL
    other_combo = dataclasses.replace(WHEEL, rubbing="Rubs")
    assert guard.process_item(other_combo) is other_combo
    with pytest.raises(DropItem, match="duplicate"):
        guard.process_item(dataclasses.replace(WHEEL))
    assert crawler.stats.get_value("cwo/items_dropped/duplicate") == 1


def test_guard_tells_every_combination_of_many_vehicles_apart() -> None:
    """All combinations of the 2022 Mustangs pass once, and each repeat is caught."""
    seen = SeenIdentities()
    fields = IDENTITY[WheelSizeItem]
    items = [tuple(getattr(i, f) for f in fields) for i in truth.wheel_size_items(
        year=2022, make="Ford", model="Mustang", combos="all"
    )]  # fmt: skip
    assert len(set(items)) == len(items) > 500
    assert all(seen.add(WheelSizeItem, ident) for ident in items)
    assert not any(seen.add(WheelSizeItem, ident) for ident in items[::97])
    assert len(seen) == len(items)
    # A fitment item of the same vehicle is a different identity from its wheel sizes.
    assert seen.add(FitmentItem, items[0][:5])


def test_guard_is_seeded_from_the_feed_it_appends_to(tmp_path) -> None:
    feed = tmp_path / "wheel_sizes.jsonl"
    feed.write_text(
        json.dumps(dataclasses.asdict(WHEEL)) + "\n" + "5\n" + "[1]\n" + '{"year": 20'
    )  # a valid line, two non-objects and a line cut by kill -9

    class AppendingSpider(WheelSizeSpider):  # as with `-o FILE`: the spider's FEEDS replaced
        custom_settings = {
            **(WheelSizeSpider.custom_settings or {}),
            "FEEDS": {str(feed): {"format": "jsonl"}},
        }

    crawler = get_crawler(AppendingSpider)
    crawler.spider = AppendingSpider.from_crawler(crawler)
    guard = DuplicateGuardPipeline.from_crawler(crawler)
    guard.open_spider()
    assert crawler.stats.get_value("cwo/items_already_in_feed") == 1
    with pytest.raises(DropItem, match="duplicate"):
        guard.process_item(dataclasses.replace(WHEEL))
    other = dataclasses.replace(WHEEL, suspension="Lowered")
    assert guard.process_item(other) is other


def test_exporter_writes_whole_flushed_lines() -> None:
    """After each item the underlying file holds only complete lines."""
    raw = io.BytesIO()
    buffered = io.BufferedWriter(raw, buffer_size=1 << 16)  # type: ignore[arg-type]
    exporter = LineFlushJsonLinesExporter(buffered, encoding="utf-8")
    exporter.start_exporting()
    for item in list(truth.fitment_items(year=2016, make="Chrysler"))[:20]:
        exporter.export_item(item)
        data = raw.getvalue()
        assert data.endswith(b"\n")
        assert all(json.loads(line) for line in data.splitlines())
    assert "Town & Country" in raw.getvalue().decode()


def _export(exporter_cls: type, items: list[object], **options: object) -> bytes:
    raw = io.BytesIO()
    exporter = exporter_cls(raw, encoding="utf-8", **options)
    exporter.start_exporting()
    for item in items:
        exporter.export_item(item)
    exporter.finish_exporting()
    return raw.getvalue()


def test_exporter_output_is_byte_identical_to_scrapys_jsonlines() -> None:
    """The direct dataclass path writes exactly what Scrapy's own exporter writes."""
    from scrapy.exporters import JsonLinesItemExporter

    items = [*list(truth.fitment_items(year=2016, make="Chrysler"))[:5], WHEEL]
    assert _export(LineFlushJsonLinesExporter, items) == _export(JsonLinesItemExporter, items)
    subset = {"fields_to_export": ["make", "model", "year"]}
    assert _export(LineFlushJsonLinesExporter, items, **subset) == _export(
        JsonLinesItemExporter, items, **subset
    )
    first = json.loads(
        _export(LineFlushJsonLinesExporter, [FITMENT, WHEEL], **subset).splitlines()[0]
    )
    assert list(first) == ["make", "model", "year"]


# -- progress, Retry-After, profiles ------------------------------------------------------------


def test_progress_line_shows_counts_rate_and_eta() -> None:
    line = progress_line(discovered=2000, done=500, items=480, elapsed=10.0)
    assert line == (
        "Progress: vehicles 500 done / 2,000 discovered, 480 items, 50.0 vehicles/s, ETA 30s"
    )
    assert "ETA unknown" in progress_line(discovered=5, done=0, items=0, elapsed=3)
    assert format_eta(3725) == "1h02m"
    assert format_eta(125) == "2m05s"


def test_retry_after_values() -> None:
    assert parse_retry_after(b"5") == 5.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_fast_profile_overrides_project_settings_but_not_the_command_line() -> None:
    settings = Settings()
    settings.set("DOWNLOAD_DELAY", 0.5, priority="project")
    settings.set("CONCURRENT_REQUESTS", 3, priority="cmdline")
    settings.set("CWO_PROFILE", "fast", priority="cmdline")
    ProfileAddon().update_settings(settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 0
    assert settings.getbool("AUTOTHROTTLE_ENABLED") is False
    assert settings.getint("CONCURRENT_REQUESTS") == 3


def test_polite_profile_keeps_settings_py() -> None:
    settings = Settings()
    settings.setmodule("cwo_scrapy.settings", priority="project")
    ProfileAddon().update_settings(settings)
    assert settings.getbool("AUTOTHROTTLE_ENABLED") is True
    assert settings.getfloat("DOWNLOAD_DELAY") > 0
    # measured: Scrapy's default of 100 halves crawl throughput here (see settings.py)
    assert settings.getint("CONCURRENT_ITEMS") < 100


def test_unknown_profile_is_an_error() -> None:
    settings = Settings({"CWO_PROFILE": "turbo"})
    with pytest.raises(ProfileError, match="turbo"):
        ProfileAddon().update_settings(settings)
