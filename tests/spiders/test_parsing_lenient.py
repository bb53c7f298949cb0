"""The parsers take the real site's data as it comes: lenient records and fit-range blocks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cwo_scrapy.parsing import NO_RANGE, ParseError, parse_fit_ranges, parse_vehicle

IDENTITY = {"year": "2016", "make": "Chrysler", "model": "300", "trim": "C", "drive": "RWD"}
URL_KEYS = {"drchassisid": "41234", "vehicleType": "car"}


def record(**fields: Any) -> str:
    return json.dumps({**IDENTITY, **URL_KEYS, **fields})


def test_a_record_with_only_the_identity_gives_a_vehicle_with_nulls() -> None:
    """Every optional field may be missing: the vehicle is kept, its values are None."""
    v = parse_vehicle(record())
    assert (v.year, v.make, v.model, v.trim, v.drive) == (2016, "Chrysler", "300", "C", "RWD")
    assert (v.chassis_id, v.vehicle_type) == ("41234", "car")
    assert v.bolt_pattern_mm is v.bolt_pattern_in is v.lug_count is v.hub_bore_mm is None
    assert v.front_wheel_width_in is v.rear_wheel_width_in is v.staggered is None
    assert "stockWheelWidthRear" in v.missing_keys
    assert "year" not in v.missing_keys


@pytest.mark.parametrize("key", ["year", "make", "model", "trim", "drive"])
def test_a_record_without_its_identity_is_a_parse_error(key: str) -> None:
    data = {**IDENTITY, **URL_KEYS}
    del data[key]
    with pytest.raises(ParseError, match=key):
        parse_vehicle(json.dumps(data))


def test_chassis_id_and_vehicle_type_are_required_only_where_urls_need_them() -> None:
    body = json.dumps(IDENTITY)
    with pytest.raises(ParseError, match="drchassisid"):
        parse_vehicle(body)
    v = parse_vehicle(body, require_url_keys=False)
    assert v.chassis_id is None
    assert v.vehicle_type is None


def test_a_square_vehicle_takes_the_front_value_for_empty_or_missing_rear_fields() -> None:
    v = parse_vehicle(
        record(
            factoryStaggered="0",
            stockWheelDiameter="18",
            stockWheelWidth="7.5",
            stockOffset="40",
            stockTireSize="225/45R18",
            stockWheelDiameterRear="",
            stockTireSizeRear="",
        )
    )
    assert v.staggered is False
    assert (v.rear_wheel_diameter_in, v.rear_wheel_width_in) == (18.0, 7.5)
    assert (v.rear_wheel_offset_mm, v.rear_tire_size) == (40, "225/45R18")


def test_a_staggered_vehicle_keeps_its_rear_values_and_null_for_missing_ones() -> None:
    v = parse_vehicle(
        record(
            factoryStaggered="1",
            stockWheelDiameter="19",
            stockWheelWidth="8.5",
            stockOffset="35",
            stockWheelDiameterRear="20",
            stockTireSizeRear="285/30R20",
        )
    )
    assert v.staggered is True
    assert v.factory_staggered is True
    assert (v.rear_wheel_diameter_in, v.rear_tire_size) == (20.0, "285/30R20")
    assert v.rear_wheel_width_in is None
    assert v.rear_wheel_offset_mm is None


def test_staggered_prefers_the_staggered_key_over_factory_staggered() -> None:
    v = parse_vehicle(record(staggered="0", factoryStaggered="1"))
    assert (v.staggered, v.factory_staggered) == (False, True)


@pytest.mark.parametrize(
    ("fields", "mm", "inch", "lugs", "circle"),
    [
        ({"boltpattern": "5x4.5"}, None, "5x4.5", 5, None),  # the sister site: inches
        ({"boltpattern": "5x114.3"}, "5x114.3", None, 5, 114.3),
        ({"boltpatternMm": "5x114.3", "boltpattern": "5x4.5"}, "5x114.3", "5x4.5", 5, 114.3),
        ({"boltpattern": "6x139.7", "boltpatternInches": "6x5.5"}, "6x139.7", "6x5.5", 6, 139.7),
        ({"boltpatternMm": "5x4.5"}, None, "5x4.5", 5, None),  # a mislabelled value
    ],
)
def test_the_bolt_pattern_unit_is_decided_by_its_value(
    fields: dict[str, str], mm: str | None, inch: str | None, lugs: int, circle: float | None
) -> None:
    v = parse_vehicle(record(**fields))
    assert (v.bolt_pattern_mm, v.bolt_pattern_in, v.lug_count, v.bolt_circle_mm) == (
        mm,
        inch,
        lugs,
        circle,
    )


@pytest.mark.parametrize("value", ["5x30", "five by four", "5x"])
def test_an_unreadable_bolt_pattern_is_a_parse_error(value: str) -> None:
    with pytest.raises(ParseError, match="boltpattern"):
        parse_vehicle(record(boltpattern=value))


def test_unknown_keys_are_ignored_and_reported() -> None:
    v = parse_vehicle(record(engine=["3.6L"], vehicleType2="Passenger Car", multiChassis="0"))
    assert v.unknown_keys == ("engine", "multiChassis", "vehicleType2")
    assert v == parse_vehicle(record())  # nothing else changes


# -- fit ranges ---------------------------------------------------------------------------------


def block(d: str, w: str, o: str, *, header: str = "", full: bool = False) -> str:
    cls = "store-ymm-fitrange full-size" if full else "store-ymm-fitrange"
    return (
        f'<div class="{cls}">{header}<span class="store-conf-range">Diameter: <b>{d}</b></span>'
        f'<span class="store-conf-range">Width: <b>{w}</b></span>'
        f'<span class="store-conf-range">Offset: <b>{o}</b></span></div>'
    )


def page(*blocks: str, cards: bool = True) -> str:
    bolt = (
        '<span class="bolt_patterns store-bp" data-bp="5x114.3,5x4.5">'
        '<b>5x114.3mm (5x4.5")</b></span>'
        if blocks
        else ""
    )
    products = '<ul class="product-list"><li class="product-card">x</li></ul>' if cards else ""
    return f"<html><body>{''.join(blocks)}{bolt}{products}</body></html>"


def test_a_single_value_is_a_range_with_min_equal_max() -> None:
    fit = parse_fit_ranges(page(block('17"', '7" to 8"', "35mm", full=True)))
    assert fit is not None
    assert (fit.front.diameter_min_in, fit.front.diameter_max_in) == (17.0, 17.0)
    assert (fit.front.offset_min_mm, fit.front.offset_max_mm) == (35, 35)
    assert fit.rear == fit.front
    assert not fit.staggered


def test_blocks_without_headers_are_front_then_rear_in_document_order() -> None:
    fit = parse_fit_ranges(
        page(block('18" to 20"', '8" to 9"', "20mm to 40mm"), block('19"', '10"', "30mm"))
    )
    assert fit is not None
    assert fit.staggered
    assert fit.front.diameter_min_in == 18.0
    assert fit.rear.diameter_min_in == 19.0
    assert fit.rear.width_max_in == 10.0


def test_a_headed_block_and_a_headerless_one_fill_the_other_axle() -> None:
    fit = parse_fit_ranges(
        page(
            block('19"', '10"', "30mm", header="<nobr>Rear Sizes:</nobr>"),
            block('18"', '8"', "20mm"),
        )
    )
    assert fit is not None
    assert (fit.front.diameter_min_in, fit.rear.diameter_min_in) == (18.0, 19.0)


def test_a_lone_block_on_a_square_vehicle_applies_to_both_axles() -> None:
    html = page(block('17" to 20"', '7" to 9"', "25mm to 45mm", header="<nobr>Front Sizes:</nobr>"))
    fit = parse_fit_ranges(html, square=True)
    assert fit is not None
    assert fit.rear == fit.front
    assert not fit.staggered
    assert fit.found


def test_a_lone_block_on_a_staggered_vehicle_leaves_the_rear_unknown() -> None:
    fit = parse_fit_ranges(page(block('17" to 20"', '7" to 9"', "25mm to 45mm")), square=False)
    assert fit is not None
    assert fit.front.diameter_max_in == 20.0
    assert fit.rear == NO_RANGE


def test_a_page_with_products_but_no_block_and_no_marker_has_null_ranges() -> None:
    fit = parse_fit_ranges(page())
    assert fit is not None
    assert not fit.found
    assert fit.front == fit.rear == NO_RANGE
    assert fit.bolt_pattern_mm is None


@pytest.mark.parametrize(
    ("html", "message"),
    [
        (page(block("17in - 20in", '7" to 8"', "30mm to 45mm", full=True)), "lacks unit"),
        (page(*[block('17"', '7"', "30mm")] * 3), "3 fit-range blocks"),
        (
            page(
                block('17"', '7"', "30mm", header="<nobr>Front Sizes:</nobr>"),
                block('18"', '8"', "30mm", header="<nobr>Front Sizes:</nobr>"),
            ),
            "two front",
        ),
    ],
)
def test_what_is_truly_unreadable_stays_a_parse_error(html: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_fit_ranges(html)
    assert "\n" not in str(info.value)
