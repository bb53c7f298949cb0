"""The parsers read exactly what the replica renders (its pages are built from the truth)."""

from __future__ import annotations

import json
from itertools import islice, product

from cwo_scrapy.cascade import OptionLists
from cwo_scrapy.parsing import parse_bp_select, parse_fit_ranges, parse_vehicle
from cwo_scrapy.replica import truth
from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.render import render_bp, render_fit_ranges, render_store
from cwo_scrapy.replica.vehicles import VehicleSpec, default_combo, vehicle_spec
from spiders.fitment import fitment_item
from spiders.wheel_size import wheel_size_item

SITE = "http://127.0.0.1:1"


def _specs(year: int) -> list[VehicleSpec]:
    return [vehicle_spec(v) for v in Catalogue.load().vehicles(year=year)]


def _store_item(spec: VehicleSpec, combo: tuple[str, str, str], *, whole_page: bool = True):
    if whole_page:
        html = render_store(Catalogue.load(), spec, combo)
    else:  # just the fit-range markup (the cards are the slow part of a page)
        fit_range = spec.fit_range(*combo)
        assert fit_range is not None
        html = render_fit_ranges(spec, fit_range)
    fit = parse_fit_ranges(html)
    assert fit is not None
    record = parse_vehicle(json.dumps(spec.record()))
    url = truth.CwoUrls(SITE).store_wheels(
        **record.url_args(),
        suspension=combo[0],
        modification=combo[1],
        rubbing=combo[2],
    )
    return wheel_size_item(record, combo, fit, url), fit


def test_vehicle_records_of_a_year_give_the_true_fitment_items() -> None:
    for spec in _specs(2022):
        record = parse_vehicle(json.dumps(spec.record()))
        lists = OptionLists(*(list(x) for x in spec.options))
        assert fitment_item(record, lists) == truth.fitment_item(spec)


def test_store_pages_of_a_year_give_the_true_wheel_size_items() -> None:
    """Default combination for every 2022 vehicle, covering every markup variant."""
    seen = {"staggered": 0, "full": 0, "empty": 0, "negative": 0, "inch_first": 0, "span": 0}
    for spec in _specs(2022):
        combo = default_combo(spec.vehicle_type)
        item, fit = _store_item(spec, combo)
        assert item == truth.wheel_size_item(spec, *combo, site_url=SITE)
        seen["staggered" if fit.staggered else "full"] += 1
        seen["empty"] += None in (fit.front.diameter_min_in, fit.front.width_min_in,
                                  fit.front.offset_min_mm, fit.rear.diameter_min_in,
                                  fit.rear.width_min_in, fit.rear.offset_min_mm)  # fmt: skip
        seen["negative"] += (fit.front.offset_min_mm or 0) < 0
        seen["inch_first"] += spec.bp_inch_first
        seen["span"] += fit.staggered and spec.header_style == "span"
    assert all(seen.values()), seen  # the year exercises every variant the parser handles


def test_store_pages_for_every_combination_of_some_vehicles() -> None:
    for spec in islice(_specs(2021), 0, 400, 40):
        for combo in product(*spec.options):
            item, _ = _store_item(spec, combo, whole_page=False)
            assert item == truth.wheel_size_item(spec, *combo, site_url=SITE)


def test_unknown_vehicle_store_page_has_no_fit_range() -> None:
    html = render_store(Catalogue.load(), None, None, chosen={"year": "2022", "make": "Nope"})
    assert parse_fit_ranges(html) is None


def test_bp_selects_round_trip_special_characters() -> None:
    catalogue = Catalogue.load()
    models = parse_bp_select(render_bp(catalogue, "2016", "Chrysler"), "model")
    assert models == catalogue.models("2016", "Chrysler")
    assert "Town & Country" in models
    years = parse_bp_select(render_bp(catalogue), "year")
    assert years == catalogue.years()
