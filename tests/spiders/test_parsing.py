"""Parsers turn the site's JSON and HTML into typed values, and reject malformed input clearly."""

from __future__ import annotations

import json

import pytest

from cwo_scrapy.parsing import (
    ParseError,
    parse_bolt_pattern,
    parse_bp_select,
    parse_fit_ranges,
    parse_name_list,
    parse_option_list,
    parse_trims,
    parse_vehicle,
    parse_years,
)

# -- JSON API ---------------------------------------------------------------------------------


def test_years_accepts_strings_and_ints() -> None:
    """The real API has sent years both as "2025" and 2025; both become ints."""
    assert parse_years(b'["2025", 2024, "1948"]') == [2025, 2024, 1948]


@pytest.mark.parametrize(
    "body",
    [b"{}", b'["20x5"]', b"[true]", b"[null]", b"<html>", b"", b"\xff\xfe"],
)
def test_years_rejects_malformed_bodies_with_one_line(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_years(body)
    assert "\n" not in str(info.value)


def test_name_lists_keep_special_characters_and_drop_blanks() -> None:
    body = json.dumps(["Town & Country", "EQE 350+", "Land Cruiser 'Heritage'", ""])
    assert parse_name_list(body, "models") == [
        "Town & Country",
        "EQE 350+",
        "Land Cruiser 'Heritage'",
    ]


def test_name_list_rejects_non_strings() -> None:
    with pytest.raises(ParseError, match="makes"):
        parse_name_list(b'["Acura", 3]', "makes")


def test_trims_object() -> None:
    info = parse_trims(b'{"vehicleType":["Truck"],"drive":["4WD","RWD"],"trim":["XL","XLT"]}')
    assert info.trims == ["XL", "XLT"]
    assert info.drives == ["4WD", "RWD"]
    assert info.vehicle_types == ["Truck"]


@pytest.mark.parametrize("body", [b'["XL"]', b'{"drive":["4WD"]}', b'{"trim":"XL"}'])
def test_trims_rejects_wrong_shapes(body: bytes) -> None:
    with pytest.raises(ParseError, match="trims"):
        parse_trims(body)


RECORD = {
    "year": "2022",
    "make": "Ford",
    "model": "F-150",
    "trim": "XLT",
    "drive": "4WD",
    "drchassisid": "91234",
    "drmodelid": "555",
    "vehicleType": "Truck",
    "bodyType": "Pickup",
    "boltpattern": "6x135",
    "boltpatternMm": "6x135",
    "boltpatternInches": "6x5.31",
    "hub": "87.1",
    "lugType": "Nut",
    "lugSize": "M14 x 2.0",
    "stockWheelDiameter": "18",
    "stockWheelWidth": "7.5",
    "stockOffset": "-12",
    "stockTireSize": "265/60R18",
    "stockWheelDiameterRear": "18",
    "stockWheelWidthRear": "7.5",
    "stockOffsetRear": "-12",
    "stockTireSizeRear": "265/60R18",
    "staggered": "0",
    "factoryStaggered": "0",
}


def test_vehicle_record_numbers_are_numbers() -> None:
    """Strings on the wire become floats/ints; vehicle type is lower-cased; bolt pattern split."""
    v = parse_vehicle(json.dumps(RECORD))
    assert v.year == 2022
    assert v.vehicle_type == "truck"
    assert (v.lug_count, v.bolt_circle_mm) == (6, 135.0)
    assert v.bolt_pattern_in == "6x5.31"
    assert v.hub_bore_mm == 87.1
    assert isinstance(v.front_wheel_diameter_in, float)
    assert v.front_wheel_diameter_in == 18.0
    assert v.front_wheel_width_in == 7.5
    assert v.front_wheel_offset_mm == -12
    assert isinstance(v.front_wheel_offset_mm, int)
    assert v.staggered is False


def test_vehicle_record_staggered_flag() -> None:
    v = parse_vehicle(json.dumps({**RECORD, "staggered": "1", "stockWheelWidthRear": "9"}))
    assert v.staggered is True
    assert v.rear_wheel_width_in == 9.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drchassisid": ""}, "drchassisid"),
        ({"boltpatternMm": "five", "boltpattern": "five"}, "bolt pattern"),
        ({"stockOffset": "12.5"}, "whole"),
        ({"hub": "wide"}, "hub"),
        ({"year": "22"}, "year"),
        ({"staggered": "maybe"}, "staggered"),
    ],
)
def test_vehicle_record_rejects_bad_values(change: dict[str, str], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_vehicle(json.dumps({**RECORD, **change}))


def test_vehicle_record_missing_field() -> None:
    record = dict(RECORD)
    del record["vehicleType"]
    with pytest.raises(ParseError, match="vehicleType"):
        parse_vehicle(json.dumps(record))


@pytest.mark.parametrize(
    ("text", "expected"), [("5x114.3", (5, 114.3)), ("5x4.5", (5, 4.5)), ("8X6.5", (8, 6.5))]
)
def test_bolt_pattern(text: str, expected: tuple[int, float]) -> None:
    assert parse_bolt_pattern(text) == expected


# -- ymm-temp.php and bp.php ------------------------------------------------------------------


def test_option_list_drops_empty_strings() -> None:
    body = json.dumps(["Stock", "", 'Suspension Lift 2.5"', "Leveling Kit & Body Lift"])
    assert parse_option_list(body) == ["Stock", 'Suspension Lift 2.5"', "Leveling Kit & Body Lift"]


@pytest.mark.parametrize("body", [b'{"error":"Invalid session"}', b'["Stock", 1]', b"Stock"])
def test_option_list_requires_a_list_of_strings(body: bytes) -> None:
    with pytest.raises(ParseError, match="option list"):
        parse_option_list(body)


def test_bp_select_skips_blank_option_and_unescapes() -> None:
    html = (
        "<html><body>" + "<!-- padding -->" * 80 + '<select id="model" name="model">'
        '<option value="">Select Model</option>'
        '<option value="Town &amp; Country">Town &amp; Country</option>'
        '<option value="EQE 350+">EQE 350+</option>'
        '<option value="O&#39;Neil">O&#39;Neil</option>'
        "</select></body></html>"
    )
    assert parse_bp_select(html, "model") == ["Town & Country", "EQE 350+", "O'Neil"]


def test_bp_select_missing_select() -> None:
    with pytest.raises(ParseError, match="trim"):
        parse_bp_select('<select id="model" name="model"></select>', "trim")


# -- store page fit ranges --------------------------------------------------------------------


def _block(diameter: str, width: str, offset: str, *, cls: str = "", header: str = "") -> str:
    return (
        f'<div class="store-ymm-fitrange {cls}">{header}'
        f'<span class="store-conf-range">Diameter: <b>{diameter}</b></span>'
        f'<span class="store-conf-range">Width: <b>{width}</b></span>'
        f'<span class="store-conf-range">Offset: <b>{offset}</b></span></div>'
    )


def _page(*blocks: str, data_bp: str = "5x4.5,5x114.3", bp_text: str = '5x114.3mm (5x4.5")') -> str:
    bp = (
        f'<span class="bolt_patterns store-bp" data-bp="{data_bp}"><b>{bp_text}</b></span>'
        if data_bp is not None
        else ""
    )
    return f"<html><body>{bp}{''.join(blocks)}<ul><li class='product-card'></li></ul></body></html>"


def test_full_size_block_applies_to_front_and_rear() -> None:
    html = _page(_block('17" to 20"', '7.5" to 9.5"', "-12mm to 35mm", cls="full-size"))
    fit = parse_fit_ranges(html)
    assert fit is not None
    assert fit.front == fit.rear
    assert not fit.staggered
    assert (fit.front.diameter_min_in, fit.front.diameter_max_in) == (17.0, 20.0)
    assert (fit.front.width_min_in, fit.front.width_max_in) == (7.5, 9.5)
    assert (fit.front.offset_min_mm, fit.front.offset_max_mm) == (-12, 35)
    assert (fit.bolt_pattern_mm, fit.bolt_pattern_in) == ("5x114.3", "5x4.5")


@pytest.mark.parametrize(
    ("front_header", "rear_header"),
    [
        ("<nobr>Front Sizes:</nobr>", "<nobr>Rear Sizes:</nobr>"),
        (
            '<span class="store-conf-header">Front Sizes:</span>',
            '<span class="store-conf-header">Rear Sizes:</span>',
        ),
    ],
)
def test_staggered_vehicle_has_front_and_rear_blocks(front_header: str, rear_header: str) -> None:
    """Two blocks, in either order, are told apart by their header text."""
    rear = _block('18" to 20"', '9.5" to 11"', "20mm to 45mm", header=rear_header)
    front = _block('18" to 20"', '8" to 9.5"', "25mm to 50mm", header=front_header)
    fit = parse_fit_ranges(_page(rear, front))
    assert fit is not None
    assert fit.staggered
    assert (fit.front.width_min_in, fit.front.width_max_in) == (8.0, 9.5)
    assert (fit.rear.width_min_in, fit.rear.width_max_in) == (9.5, 11.0)
    assert (fit.rear.offset_min_mm, fit.front.offset_max_mm) == (20, 50)


def test_empty_range_renders_bare_units_and_becomes_none() -> None:
    html = _page(_block('" to "', '7" to 8.5"', "mm to mm", cls="full-size"))
    fit = parse_fit_ranges(html)
    assert fit is not None
    assert (fit.front.diameter_min_in, fit.front.diameter_max_in) == (None, None)
    assert (fit.front.offset_min_mm, fit.front.offset_max_mm) == (None, None)
    assert fit.front.width_max_in == 8.5


def test_negative_offsets_on_both_sides() -> None:
    fit = parse_fit_ranges(
        _page(_block('16.5" to 18"', '8" to 10"', "-44mm to -6mm", cls="full-size"))
    )
    assert fit is not None
    assert (fit.front.offset_min_mm, fit.front.offset_max_mm) == (-44, -6)
    assert fit.front.diameter_min_in == 16.5


@pytest.mark.parametrize("data_bp", ["5x4.5,5x114.3", "5x114.3,5x4.5"])
def test_bolt_pattern_order_detected_by_size(data_bp: str) -> None:
    fit = parse_fit_ranges(
        _page(_block('17" to 20"', '7" to 8"', "30mm to 45mm", cls="full-size"), data_bp=data_bp)
    )
    assert fit is not None
    assert (fit.bolt_pattern_mm, fit.bolt_pattern_in) == ("5x114.3", "5x4.5")


def test_bolt_pattern_falls_back_to_text() -> None:
    html = _page(
        _block('17" to 20"', '7" to 8"', "30mm to 45mm", cls="full-size"),
        data_bp="",
        bp_text='6x139.7mm (6x5.5")',
    )
    fit = parse_fit_ranges(html)
    assert fit is not None
    assert (fit.bolt_pattern_mm, fit.bolt_pattern_in) == ("6x139.7", "6x5.5")


def test_no_results_page_has_no_fit_range() -> None:
    html = '<html><body><div class="no-results-container">No results</div></body></html>'
    assert parse_fit_ranges(html) is None


@pytest.mark.parametrize(
    ("html", "message"),
    [
        (_page(_block('17" to 20"', '7" to 8"', "30 to 45", cls="full-size")), "unit"),
        (_page(_block('17" - 20"', '7" to 8"', "30mm to 45mm", cls="full-size")), "not a number"),
        (_page(_block('x" to 20"', '7" to 8"', "30mm to 45mm", cls="full-size")), "not a number"),
        (
            _page(
                _block('17" to 20"', '7" to 8"', "30mm to 45mm", header="<nobr>Rear Sizes:</nobr>")
            ),
            "rear fit-range block without a front",
        ),
        (
            _page(
                '<div class="store-ymm-fitrange full-size"><span class="store-conf-range">'
                'Width: <b>7" to 8"</b></span></div>'
            ),
            "no diameter, offset",
        ),
    ],
)
def test_malformed_store_pages_raise_one_line_errors(html: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_fit_ranges(html)
    assert "\n" not in str(info.value)
