"""Store, bp.php and home markup as scrapers parse it; PHP session bookkeeping (no server)."""

from __future__ import annotations

import json
import re
from itertools import product

import pytest
from parsel import Selector

from cwo_scrapy.replica import render
from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.site import PhpSessions, SiteState, store_page
from cwo_scrapy.replica.vehicles import VehicleSpec, default_combo, vehicle_spec


@pytest.fixture(scope="module")
def state() -> SiteState:
    return SiteState()


def _page(state: SiteState, spec: VehicleSpec, combo: tuple[str, str, str], page: int = 1):
    v = spec.vehicle
    q = {
        "year": str(v.year), "make": v.make, "model": v.model, "trim": v.trim, "drive": v.drive,
        "DRChassisID": spec.chassis_id, "vehicle_type": spec.vehicle_type,
        "suspension": combo[0], "modification": combo[1], "rubbing": combo[2], "page": str(page),
    }  # fmt: skip
    return Selector(text=store_page(state, q, None))


def _find(pred, *, year: int = 2022):
    """First (spec, combo) of the year for which pred(spec, fit) holds."""
    for vehicle in Catalogue.load().vehicles(year=year):
        spec = vehicle_spec(vehicle)
        for combo in product(*spec.options):
            fit = spec.fit_range(*combo)
            if fit is not None and pred(spec, fit):
                return spec, combo
    raise AssertionError("no such case in the data")


def _range_texts(block: Selector) -> dict[str, str]:
    out = {}
    for span in block.css("span.store-conf-range"):
        label = span.xpath("normalize-space(text())").get().rstrip(":")
        out[label] = span.css("b::text").get()
    return out


def test_non_staggered_vehicle_has_one_full_size_block(state: SiteState) -> None:
    spec, combo = _find(lambda s, f: not f.staggered and None not in f.front)
    sel = _page(state, spec, combo)
    blocks = sel.css("div.store-ymm-fitrange")
    assert len(blocks) == 1
    assert "full-size" in blocks[0].attrib["class"].split()
    d, w, o = spec.fit_range(*combo).front
    assert _range_texts(blocks[0]) == {
        "Diameter": f'{d[0]:g}" to {d[1]:g}"',
        "Width": f'{w[0]:g}" to {w[1]:g}"',
        "Offset": f"{o[0]}mm to {o[1]}mm",
    }


@pytest.mark.parametrize("style", ["nobr", "span"])
def test_staggered_vehicle_has_front_and_rear_blocks(state: SiteState, style: str) -> None:
    """Headers are either <nobr> or span.store-conf-header, depending on the vehicle."""
    spec, combo = _find(lambda s, f: f.staggered and s.staggered and s.header_style == style)
    sel = _page(state, spec, combo)
    blocks = sel.css("div.store-ymm-fitrange")
    assert len(blocks) == 2
    assert sel.css("div.store-ymm-fitrange.full-size") == []
    header_css = "nobr::text" if style == "nobr" else "span.store-conf-header::text"
    assert [b.css(header_css).get() for b in blocks] == ["Front Sizes:", "Rear Sizes:"]
    fit = spec.fit_range(*combo)
    rear_width = _range_texts(blocks[1])["Width"]
    if fit.rear.width is not None:
        assert rear_width == f'{fit.rear.width[0]:g}" to {fit.rear.width[1]:g}"'


def test_a_lowered_rear_gives_front_and_rear_blocks_on_a_non_staggered_truck(
    state: SiteState,
) -> None:
    spec, combo = _find(lambda s, f: not s.staggered and s.vehicle_type == "truck")
    combo = ("Lowered 2F / 4R", *combo[1:])
    assert spec.fit_range(*combo).staggered
    assert len(_page(state, spec, combo).css("div.store-ymm-fitrange")) == 2


@pytest.mark.parametrize(("axis", "label", "bare"), [
    (0, "Diameter", '" to "'), (1, "Width", '" to "'), (2, "Offset", "mm to mm"),
])  # fmt: skip
def test_an_empty_range_renders_bare_units(
    state: SiteState, axis: int, label: str, bare: str
) -> None:
    spec, combo = _find(lambda s, f: f.front[axis] is None)
    texts = _range_texts(_page(state, spec, combo).css("div.store-ymm-fitrange")[0])
    assert texts[label] == bare


def test_negative_offsets_render_with_a_minus_sign(state: SiteState) -> None:
    spec, combo = _find(lambda s, f: f.front.offset is not None and f.front.offset[0] < 0)
    offset = _range_texts(_page(state, spec, combo).css("div.store-ymm-fitrange")[0])["Offset"]
    assert re.fullmatch(r"-\d+mm to -?\d+mm", offset)


def test_bolt_pattern_span_in_both_orders(state: SiteState) -> None:
    """``data-bp`` order varies, so parsers must tell inch from mm by size."""
    seen = set()
    for vehicle in list(Catalogue.load().vehicles(year=2022, make="Ford"))[:40]:
        spec = vehicle_spec(vehicle)
        sel = _page(state, spec, default_combo(spec.vehicle_type))
        spans = sel.css("span.bolt_patterns.store-bp")
        assert len(spans) == 1
        mm, inch = spec.bolt_pattern_mm, spec.bolt_pattern_in
        assert spans[0].attrib["data-bp"] in (f"{inch},{mm}", f"{mm},{inch}")
        assert spans.css("b::text").get() == f'{mm}mm ({inch}")'
        seen.add(spans[0].attrib["data-bp"].startswith(inch + ","))
    assert seen == {True, False}


def test_thirty_product_cards_fit_the_range_and_json_ld_is_double_nested(
    state: SiteState,
) -> None:
    spec, combo = _find(lambda s, f: None not in f.front)
    sel = _page(state, spec, combo)
    cards = sel.css("li.product-card")
    assert len(cards) == 30
    d, w, o = spec.fit_range(*combo).front
    for card in cards:
        assert card.css("a.product-card-a::attr(href)").get().startswith("/buy-wheel-offset/")
        assert card.css("h3.brand::text").get()
        assert card.css("h4.model-color::text").get()
        assert re.fullmatch(r"\d+\.\d\d", card.css("span.current-price::text").get())
        size, offset = card.css("p.subtitle::text").get().split()
        dia, width = (float(x) for x in size.split("x"))
        assert d[0] <= dia <= d[1]
        assert w[0] <= width <= w[1]
        assert o[0] <= int(offset) <= o[1]
    data = json.loads(sel.css('script[type="application/ld+json"]::text').get())
    assert data["@type"] == "ItemList"
    assert isinstance(data["itemListElement"][0], list)
    assert len(data["itemListElement"][0]) == 30
    nxt = sel.css("a.store-btn::attr(href)").get()
    assert nxt == "?store=wheels&page=2&qdToggle=0&saleToggle=0&sort=instock"


def test_last_page_has_no_next_link_and_past_it_no_cards(state: SiteState) -> None:
    spec, combo = _find(lambda s, f: True)
    last = render.last_page(spec)
    assert _page(state, spec, combo, page=last).css("a.store-btn") == []
    past = _page(state, spec, combo, page=last + 1)
    assert past.css("li.product-card") == []
    assert past.css("div.no-results-container")
    assert past.css("div.store-ymm-fitrange")


def test_unknown_vehicle_wrong_chassis_or_combo_gives_no_results(state: SiteState) -> None:
    spec, _ = _find(lambda s, f: True)
    v = spec.vehicle
    base = {"year": str(v.year), "make": v.make, "model": v.model, "trim": v.trim,
            "drive": v.drive, "DRChassisID": spec.chassis_id,
            "vehicle_type": spec.vehicle_type}  # fmt: skip
    for change in ({"trim": v.trim + " X"}, {"DRChassisID": "1"}, {"suspension": "Hovering"}):
        sel = Selector(text=store_page(state, {**base, **change}, None))
        assert sel.css("div.no-results-container")
        assert sel.css("div.store-ymm-fitrange") == []
    ok = Selector(text=store_page(state, base, None))
    assert ok.css("div.store-ymm-fitrange")  # missing preferences mean the stock choice


def test_values_with_quotes_and_ampersands_are_escaped_and_echoed(state: SiteState) -> None:
    """The YMM and preference widgets echo exactly what was chosen, however odd."""
    cat = Catalogue.load()
    vehicle = next(v for v in cat.vehicles(year=2005, make="Chrysler")
                   if v.model == "Town & Country")  # fmt: skip
    spec = vehicle_spec(vehicle)
    combo = (spec.options.suspension[-6], spec.options.modification[-1], spec.options.rubbing[1])
    sel = _page(state, spec, combo)
    assert sel.css("span#model.ymm-selected::attr(value)").get() == "Town & Country"
    chosen = [sel.css(f'span.ymm-selected[data-type="{t}"]::attr(data-value)').get()
              for t in ("suspension", "mod", "rub")]  # fmt: skip
    assert chosen == list(combo)
    listed = sel.css('ol.ymm-list[data-type="suspension"] > li.ymm-li::attr(data-value)').getall()
    assert listed == list(spec.options.suspension)
    car = next(v for v in cat.vehicles(year=2022) if vehicle_spec(v).vehicle_type == "car")
    car_spec = vehicle_spec(car)
    car_combo = ('Lowered 1"-2"', "Fenders Pulled & Rolled", "Rubs")
    car_sel = _page(state, car_spec, car_combo)
    assert car_sel.css('span.ymm-selected[data-type="suspension"]::text').get() == car_combo[0]
    assert car_sel.css('span.ymm-selected[data-type="mod"]::text').get() == car_combo[1]
    assert car_sel.css("div.store-ymm-fitrange")


def test_generic_store_page_without_a_vehicle(state: SiteState) -> None:
    sel = Selector(text=store_page(state, {}, None))
    assert sel.css("title::text").get().startswith("Shop Truck Wheels and Rims")
    assert len(sel.css("li.product-card")) == 30
    assert sel.css("div.store-ymm-fitrange") == []
    assert sel.css('span.ymm-selected[data-type="suspension"]::text').get() == "Leveling Kit"


def test_bp_php_selects_with_blank_first_option(state: SiteState) -> None:
    cat = state.catalogue
    levels = [
        ("year", ()), ("make", ("2022",)), ("model", ("2022", "Ford")),
        ("trim", ("2022", "Ford", "F-150")), ("drive", ("2022", "Ford", "F-150", "XLT")),
    ]  # fmt: skip
    for level, args in levels:
        html = render.render_bp(cat, *args)
        assert len(html) > 1000
        sel = Selector(text=html)
        select = sel.css(f"select#{level}[name={level}]")
        assert len(select) == 1
        values = select.css("option::attr(value)").getall()
        assert values[0] == ""
        expected = {"year": cat.years, "make": cat.makes, "model": cat.models,
                    "trim": cat.trims, "drive": cat.drives}[level](*args)  # fmt: skip
        assert values[1:] == expected
    sel = Selector(text=render.render_bp(cat, "2005", "Chrysler"))
    assert "Town & Country" in sel.css("select#model option::attr(value)").getall()
    assert "Town &amp; Country" in render.render_bp(cat, "2005", "Chrysler")
    empty = Selector(text=render.render_bp(cat, "2022", "Nope"))
    assert empty.css("select#model option::attr(value)").getall() == [""]


def test_home_page_lists_every_year_newest_first(state: SiteState) -> None:
    sel = Selector(text=render.render_home(state.catalogue))
    years = sel.css('ol.ymm-list[data-type="year"] > li.ymm-li::attr(data-value)').getall()
    assert years == state.catalogue.years()


def test_php_sessions_ids_ttl_and_expire_all() -> None:
    now = [100.0]
    sessions = PhpSessions(ttl=10, clock=lambda: now[0])
    s = sessions.create()
    assert re.fullmatch(r"[a-z0-9]{26}", s.sid)
    now[0] += 9
    assert sessions.get(s.sid) is s  # use refreshes the idle timer
    now[0] += 9
    assert sessions.get(s.sid) is s
    now[0] += 10.5
    assert sessions.get(s.sid) is None
    assert sessions.get("nope") is None
    assert sessions.get(None) is None
    t = sessions.create()
    assert sessions.expire_all() == 1
    assert sessions.get(t.sid) is None
    bounded = PhpSessions(max_sessions=3)
    ids = [bounded.create().sid for _ in range(5)]
    assert len(bounded) == 3
    assert bounded.get(ids[0]) is None
    assert bounded.get(ids[-1]) is not None
