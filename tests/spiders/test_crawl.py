"""Whole crawls against the replica: output equals the ground truth exactly."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from scrapy.utils.defer import deferred_f_from_coro_f
from spider_crawl import as_lines, cwo_stats, read_jsonl, run_spider, spider_settings

from cwo_scrapy.replica import truth
from cwo_scrapy.replica.catalogue import Catalogue
from spiders.fitment import FitmentSpider
from spiders.wheel_size import WheelSizeSpider

YEAR = 2022
SPECIAL = set("+&'")


def assert_clean(crawler: Any) -> None:
    stats = crawler.stats.get_stats()
    assert stats["finish_reason"] == "finished", cwo_stats(crawler)
    assert not [k for k in stats if k.startswith(("spider_exceptions/", "cwo/vehicles_failed"))]
    assert "cwo/items_dropped/duplicate" not in stats


@deferred_f_from_coro_f
async def test_fitment_whole_year_equals_truth(replica, tmp_path: Path) -> None:
    """Every 2022 vehicle once, every value right; middleware off, WAF off; file = items."""
    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False)
    crawler, items = await run_spider(FitmentSpider, settings, year=str(YEAR))
    assert_clean(crawler)
    expected = as_lines(truth.fitment_items(year=YEAR))
    assert len(expected) > 2000
    assert as_lines(items) == expected
    assert read_jsonl(tmp_path / "out.jsonl") == expected
    # Preference lists fetched once per vehicle type, not once per vehicle.
    assert crawler.stats.get_value("cwo/option_types_fetched") == 2


@deferred_f_from_coro_f
async def test_wheel_size_whole_year_default_combos_equals_truth(replica, tmp_path: Path) -> None:
    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False)
    crawler, items = await run_spider(WheelSizeSpider, settings, year=str(YEAR))
    assert_clean(crawler)
    expected = as_lines(truth.wheel_size_items(year=YEAR, site_url=replica.site_url))
    assert as_lines(items) == expected
    assert read_jsonl(tmp_path / "out.jsonl") == expected


@deferred_f_from_coro_f
async def test_fitment_whole_year_with_waf_challenges_and_token_expiry(
    replica_factory, tmp_path: Path
) -> None:
    """WAF on, tokens expire every few seconds: the session middleware keeps the data exact."""
    replica = replica_factory(waf="challenge", token_ttl=3)
    crawler, items = await run_spider(
        FitmentSpider, spider_settings(replica, tmp_path), year=str(YEAR)
    )
    assert_clean(crawler)
    assert as_lines(items) == as_lines(truth.fitment_items(year=YEAR))
    assert replica.stats()["challenges"] >= 1


@deferred_f_from_coro_f
async def test_wheel_size_whole_year_with_waf_challenges_and_token_expiry(
    replica_factory, tmp_path: Path
) -> None:
    replica = replica_factory(waf="challenge", token_ttl=3)
    crawler, items = await run_spider(
        WheelSizeSpider, spider_settings(replica, tmp_path), year=str(YEAR)
    )
    assert_clean(crawler)
    assert as_lines(items) == as_lines(truth.wheel_size_items(year=YEAR, site_url=replica.site_url))
    stats = replica.stats()
    assert stats["challenges"] >= 2, stats  # the first token expired during the crawl
    assert crawler.stats.get_value("cwo_session/resolutions", 0) >= 2


def _special_vehicles() -> set[tuple[int, str, str, str, str]]:
    path = Path("/work/shared/data/cwo-vehicles.csv")
    if path.exists():
        rows = csv.reader(path.open(encoding="utf-8"))
        next(rows)
        vehicles = [(int(r[0]), *r[1:5]) for r in rows]
    else:
        vehicles = [tuple(v[:5]) for v in Catalogue.load()]
    return {v for v in vehicles if SPECIAL & set("".join(map(str, v[1:])))}


class _Only:
    """Narrows a spider to an exact vehicle set through the cascade's scope hooks."""

    targets: set[tuple[int, str, str, str, str]] = set()

    def want_year(self, year: int) -> bool:
        return any(t[0] == year for t in self.targets)

    def want_make(self, year: int, make: str) -> bool:
        return any(t[:2] == (year, make) for t in self.targets)

    def want_model(self, year: int, make: str, model: str) -> bool:
        return any(t[:3] == (year, make, model) for t in self.targets)

    def want_trim(self, year: int, make: str, model: str, trim: str) -> bool:
        return any(t[:4] == (year, make, model, trim) for t in self.targets)

    def want_vehicle(self, year: int, make: str, model: str, trim: str, drive: str) -> bool:
        return (year, make, model, trim, drive) in self.targets


@deferred_f_from_coro_f
async def test_every_vehicle_with_plus_ampersand_or_quote_round_trips(
    replica, tmp_path: Path
) -> None:
    """365 catalogue vehicles contain +, & or ': crawled exactly, with the session middleware."""
    targets = _special_vehicles()
    assert len(targets) >= 300
    assert {c for v in targets for c in "".join(v[1:])} >= SPECIAL

    class SpecialFitment(_Only, FitmentSpider):
        pass

    class SpecialWheelSize(_Only, WheelSizeSpider):
        pass

    SpecialFitment.targets = SpecialWheelSize.targets = targets
    settings = spider_settings(replica, tmp_path)

    crawler, items = await run_spider(SpecialFitment, settings)
    assert_clean(crawler)
    expected = [
        i for i in truth.fitment_items() if (i.year, i.make, i.model, i.trim, i.drive) in targets
    ]
    assert len(expected) == len(targets)
    assert as_lines(items) == as_lines(expected)

    crawler, items = await run_spider(SpecialWheelSize, settings)
    assert_clean(crawler)
    expected_ws = [
        i
        for i in truth.wheel_size_items(site_url=replica.site_url)
        if (i.year, i.make, i.model, i.trim, i.drive) in targets
    ]
    assert as_lines(items) == as_lines(expected_ws)
    assert any("%26" in i.url for i in items)
    assert any("%2B" in i.url for i in items)


@deferred_f_from_coro_f
async def test_combos_all_for_one_vehicle(replica, tmp_path: Path) -> None:
    """``-a combos=all``: the full suspension x modification x rubbing product of its type."""

    class OneTruck(_Only, WheelSizeSpider):
        targets = {(2022, "Ford", "F-150", "XLT", "4WD")}

    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False)
    crawler, items = await run_spider(OneTruck, settings, combos="all")
    assert_clean(crawler)
    expected = [
        i
        for i in truth.wheel_size_items(
            year=2022, make="Ford", model="F-150", combos="all", site_url=replica.site_url
        )
        if (i.trim, i.drive) == ("XLT", "4WD")
    ]
    assert len(expected) == 35 * 7 * 4
    assert as_lines(items) == as_lines(expected)


@deferred_f_from_coro_f
async def test_preference_overrides_replace_the_default_per_axis(replica, tmp_path: Path) -> None:
    """``-a suspension=...`` overrides one axis; vehicle types that lack the value are skipped."""
    combo = ('Suspension Lift 2.5"', "No Trimming", "No rubbing or scrubbing")
    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False)
    crawler, items = await run_spider(
        WheelSizeSpider, settings, year="2022", make="Toyota", suspension=combo[0]
    )
    expected = list(
        truth.wheel_size_items(year=2022, make="Toyota", combos=combo, site_url=replica.site_url)
    )
    assert 0 < len(expected) < len(list(truth.fitment_items(year=2022, make="Toyota")))
    assert as_lines(items) == as_lines(expected)
    assert crawler.stats.get_value("cwo/wheel_size/combination_not_offered") == 1
