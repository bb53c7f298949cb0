"""Pure parsers for CWO's JSON API and HTML pages.

Spiders call these on response bodies and tests call them on the replica's rendered output, so
every quirk of the site (years as strings or ints, numbers as strings, empty ranges rendered as
bare units, inch/mm order of ``data-bp`` that varies) is handled in one testable place. Every
function raises :class:`ParseError` with a one-line message on malformed input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from parsel import Selector

__all__ = [
    "AxleRange",
    "FitRanges",
    "ParseError",
    "TrimsInfo",
    "VehicleRecord",
    "parse_bolt_pattern",
    "parse_bp_select",
    "parse_fit_ranges",
    "parse_json",
    "parse_name_list",
    "parse_option_list",
    "parse_trims",
    "parse_vehicle",
    "parse_years",
]


class ParseError(ValueError):
    """A response body does not have the shape the site contract promises."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(body: bytes | str) -> str:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    return body


def parse_json(body: bytes | str, what: str = "body") -> Any:
    """Decode a JSON body, turning decode errors into a one-line :class:`ParseError`."""
    text = _text(body)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{what}: invalid JSON ({exc.msg} at char {exc.pos}): {_short(text)}"
        ) from None


# -- fitment JSON API -------------------------------------------------------------------------


def parse_years(body: bytes | str) -> list[int]:
    """Years list; the real API has sent both ``"2025"`` and ``2025``."""
    data = parse_json(body, "years")
    if not isinstance(data, list):
        raise ParseError(f"years: expected a JSON list, got {type(data).__name__}")
    years: list[int] = []
    for value in data:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ParseError(f"years: not a year: {_short(value)}")
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}", text):
            raise ParseError(f"years: not a year: {_short(value)}")
        years.append(int(text))
    return years


def parse_name_list(body: bytes | str, what: str = "list") -> list[str]:
    """A JSON list of non-empty strings (makes, models, drives)."""
    data = parse_json(body, what)
    if not isinstance(data, list):
        raise ParseError(f"{what}: expected a JSON list, got {type(data).__name__}")
    out: list[str] = []
    for value in data:
        if not isinstance(value, str):
            raise ParseError(f"{what}: expected strings, got {_short(value)}")
        if value.strip():
            out.append(value)
    return out


@dataclass(frozen=True, slots=True)
class TrimsInfo:
    """The ``{year}/{make}/{model}`` object: trims plus the drives and types seen for the model."""

    trims: list[str]
    drives: list[str]
    vehicle_types: list[str]


def parse_trims(body: bytes | str) -> TrimsInfo:
    """``{"vehicleType":[...],"drive":[...],"trim":[...]}``; ``trim`` is required."""
    data = parse_json(body, "trims")
    if not isinstance(data, dict):
        raise ParseError(f"trims: expected a JSON object, got {type(data).__name__}")
    if "trim" not in data:
        raise ParseError(f"trims: no 'trim' key in {_short(data)}")

    def strings(key: str) -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParseError(f"trims: {key!r} is not a list of strings: {_short(value)}")
        return [v for v in value if v.strip()]

    return TrimsInfo(
        trims=strings("trim"), drives=strings("drive"), vehicle_types=strings("vehicleType")
    )


# -- vehicle record ---------------------------------------------------------------------------

_BOLT_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+(?:\.\d+)?)\s*$")


def parse_bolt_pattern(text: str) -> tuple[int, float]:
    """``"5x114.3"`` -> ``(5, 114.3)`` (lug count, bolt circle)."""
    match = _BOLT_RE.match(text)
    if not match:
        raise ParseError(f"not a bolt pattern: {_short(text)}")
    return int(match.group(1)), float(match.group(2))


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """The vehicle record with numbers as numbers and the vehicle type lower-cased."""

    year: int
    make: str
    model: str
    trim: str
    drive: str
    chassis_id: str
    model_id: str
    vehicle_type: str
    body_type: str
    bolt_pattern_mm: str
    bolt_pattern_in: str
    lug_count: int
    bolt_circle_mm: float
    hub_bore_mm: float
    lug_type: str
    lug_size: str
    front_wheel_diameter_in: float
    front_wheel_width_in: float
    front_wheel_offset_mm: int
    front_tire_size: str
    rear_wheel_diameter_in: float
    rear_wheel_width_in: float
    rear_wheel_offset_mm: int
    rear_tire_size: str
    staggered: bool
    factory_staggered: bool


def _field(data: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise ParseError(f"vehicle: missing {key!r}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ParseError(f"vehicle: {key!r} is not a scalar: {_short(value)}")
    text = str(value).strip()
    if required and not text:
        raise ParseError(f"vehicle: empty {key!r}")
    return text


def _float(data: dict[str, Any], key: str) -> float:
    text = _field(data, key).rstrip('"').replace("mm", "").strip()
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"vehicle: {key!r} is not a number: {_short(text)}") from None


def _int(data: dict[str, Any], key: str) -> int:
    number = _float(data, key)
    if not number.is_integer():
        raise ParseError(f"vehicle: {key!r} is not a whole number: {number}")
    return int(number)


def _flag(data: dict[str, Any], key: str) -> bool:
    text = _field(data, key, required=False).lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("", "0", "false", "no"):
        return False
    raise ParseError(f"vehicle: {key!r} is not a 0/1 flag: {_short(text)}")


def parse_vehicle(body: bytes | str) -> VehicleRecord:
    """The ``{year}/{make}/{model}/{trim}/{drive}`` record (all values strings on the wire)."""
    data = parse_json(body, "vehicle")
    if not isinstance(data, dict):
        raise ParseError(f"vehicle: expected a JSON object, got {type(data).__name__}")
    bolt_mm = _field(data, "boltpatternMm", required=False) or _field(data, "boltpattern")
    lug_count, circle = parse_bolt_pattern(bolt_mm)
    year_text = _field(data, "year")
    if not re.fullmatch(r"\d{4}", year_text):
        raise ParseError(f"vehicle: 'year' is not a year: {_short(year_text)}")
    return VehicleRecord(
        year=int(year_text),
        make=_field(data, "make"),
        model=_field(data, "model"),
        trim=_field(data, "trim"),
        drive=_field(data, "drive"),
        chassis_id=_field(data, "drchassisid"),
        model_id=_field(data, "drmodelid", required=False),
        vehicle_type=_field(data, "vehicleType").lower(),
        body_type=_field(data, "bodyType", required=False),
        bolt_pattern_mm=bolt_mm,
        bolt_pattern_in=_field(data, "boltpatternInches"),
        lug_count=lug_count,
        bolt_circle_mm=circle,
        hub_bore_mm=_float(data, "hub"),
        lug_type=_field(data, "lugType", required=False),
        lug_size=_field(data, "lugSize", required=False),
        front_wheel_diameter_in=_float(data, "stockWheelDiameter"),
        front_wheel_width_in=_float(data, "stockWheelWidth"),
        front_wheel_offset_mm=_int(data, "stockOffset"),
        front_tire_size=_field(data, "stockTireSize"),
        rear_wheel_diameter_in=_float(data, "stockWheelDiameterRear"),
        rear_wheel_width_in=_float(data, "stockWheelWidthRear"),
        rear_wheel_offset_mm=_int(data, "stockOffsetRear"),
        rear_tire_size=_field(data, "stockTireSizeRear"),
        staggered=_flag(data, "staggered"),
        factory_staggered=_flag(data, "factoryStaggered"),
    )


# -- api/ymm-temp.php and makemodel/bp.php ----------------------------------------------------


def parse_option_list(body: bytes | str) -> list[str]:
    """getSuspension/getTrimming/getRubbing: a list of strings; empty strings are dropped."""
    data = parse_json(body, "option list")
    if not isinstance(data, list):
        raise ParseError(f"option list: expected a JSON list, got {_short(data)}")
    if not all(isinstance(v, str) for v in data):
        raise ParseError(f"option list: expected strings only, got {_short(data)}")
    return [v for v in data if v.strip()]


def parse_bp_select(html: bytes | str, name: str) -> list[str]:
    """Option values of ``<select id=name name=name>`` on bp.php, without the blank one."""
    sel = Selector(text=_text(html))
    select = sel.xpath("//select[@id=$n and @name=$n]", n=name)
    if not select:
        raise ParseError(f"bp.php: no <select id={name!r} name={name!r}>")
    values = select[0].xpath("./option/@value").getall()
    return [v for v in values if v.strip()]


# -- store/wheels fit ranges ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AxleRange:
    """Diameter/width in inches and offset in millimetres; ``None`` where the site shows none."""

    diameter_min_in: float | None
    diameter_max_in: float | None
    width_min_in: float | None
    width_max_in: float | None
    offset_min_mm: int | None
    offset_max_mm: int | None


@dataclass(frozen=True, slots=True)
class FitRanges:
    """What a store page says about a vehicle: ranges per axle and the bolt pattern."""

    front: AxleRange
    rear: AxleRange
    staggered: bool
    bolt_pattern_mm: str | None
    bolt_pattern_in: str | None


_RANGE_RE = re.compile(r"^\s*(.*?)\s+to\s+(.*?)\s*$", re.S)
_NUM_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def _side(text: str, unit: str, label: str) -> float | None:
    value = text.strip()
    if value.endswith(unit):
        value = value[: -len(unit)].strip()
    elif value:
        raise ParseError(f"fit range {label}: {text!r} lacks unit {unit!r}")
    if not value:
        return None
    if not _NUM_RE.match(value):
        raise ParseError(f"fit range {label}: not a number: {text!r}")
    return float(value)


def _range(text: str, unit: str, label: str) -> tuple[float | None, float | None]:
    match = _RANGE_RE.match(text)
    if not match:
        raise ParseError(f"fit range {label}: expected 'MIN to MAX', got {_short(text)}")
    return _side(match.group(1), unit, label), _side(match.group(2), unit, label)


def _whole(value: float | None, label: str) -> int | None:
    if value is None:
        return None
    if not value.is_integer():
        raise ParseError(f"fit range {label}: offset is not whole: {value}")
    return int(value)


def _axle(block: Selector, label: str) -> AxleRange:
    ranges: dict[str, str] = {}
    for span in block.css("span.store-conf-range"):
        text = " ".join(span.xpath(".//text()").getall()).strip()
        key = text.split(":", 1)[0].strip().lower()
        bold = span.xpath("string(.//b)").get()
        if key in ("diameter", "width", "offset"):
            ranges[key] = bold if bold is not None else ""
    missing = [k for k in ("diameter", "width", "offset") if k not in ranges]
    if missing:
        raise ParseError(f"fit range {label}: no {', '.join(missing)} range")
    dmin, dmax = _range(ranges["diameter"], '"', f"{label} diameter")
    wmin, wmax = _range(ranges["width"], '"', f"{label} width")
    omin, omax = _range(ranges["offset"], "mm", f"{label} offset")
    return AxleRange(
        diameter_min_in=dmin,
        diameter_max_in=dmax,
        width_min_in=wmin,
        width_max_in=wmax,
        offset_min_mm=_whole(omin, label),
        offset_max_mm=_whole(omax, label),
    )


def _block_header(block: Selector) -> str:
    texts = block.css("nobr ::text, span.store-conf-header ::text").getall()
    return " ".join(t.strip() for t in texts).lower()


_BP_TEXT_MM = re.compile(r"(\d+\s*x\s*\d+(?:\.\d+)?)\s*mm", re.I)
_BP_TEXT_IN = re.compile(r"(\d+\s*x\s*\d+(?:\.\d+)?)\s*(?:\"|in\b|&quot;)", re.I)


def _bolt_patterns(sel: Selector) -> tuple[str | None, str | None]:
    """(mm, inch) from ``data-bp`` by circle size (mm > inch), else from the ``<b>`` text."""
    span = sel.css("span.bolt_patterns.store-bp")
    if not span:
        return None, None
    data_bp = (span[0].attrib.get("data-bp") or "").strip()
    parts = [p.strip() for p in data_bp.split(",") if p.strip()]
    if len(parts) == 2:
        try:
            a, b = (parse_bolt_pattern(p) for p in parts)
        except ParseError:
            pass
        else:
            if a[1] != b[1]:
                mm, inch = (parts[0], parts[1]) if a[1] > b[1] else (parts[1], parts[0])
                return mm.replace(" ", ""), inch.replace(" ", "")
    text = span[0].xpath("string(.//b)").get() or ""
    mm_match = _BP_TEXT_MM.search(text)
    in_match = _BP_TEXT_IN.search(text)
    if not mm_match and not in_match:
        raise ParseError(f"bolt pattern: cannot read data-bp={data_bp!r} or text {text!r}")
    return (
        mm_match.group(1).replace(" ", "") if mm_match else None,
        in_match.group(1).replace(" ", "") if in_match else None,
    )


def parse_fit_ranges(html: bytes | str) -> FitRanges | None:
    """The store page's fit ranges; ``None`` for a no-results page without a fit-range block.

    One ``.full-size`` block applies to both axles; otherwise a Front and a Rear block, told
    apart by their header text, make the vehicle staggered.
    """
    sel = Selector(text=_text(html))
    blocks = sel.css("div.store-ymm-fitrange")
    if not blocks:
        if sel.css("div.no-results-container"):
            return None
        raise ParseError("store page: no div.store-ymm-fitrange and no no-results container")
    mm, inch = _bolt_patterns(sel)
    full = [b for b in blocks if "full-size" in (b.attrib.get("class") or "").split()]
    if full:
        if len(blocks) != 1:
            raise ParseError(f"store page: full-size block next to {len(blocks) - 1} others")
        axle = _axle(full[0], "full-size")
        return FitRanges(axle, axle, False, mm, inch)
    by_side: dict[str, Selector] = {}
    for block in blocks:
        header = _block_header(block)
        side = "front" if "front" in header else "rear" if "rear" in header else None
        if side is None:
            raise ParseError(f"store page: fit-range block with header {header!r}")
        if side in by_side:
            raise ParseError(f"store page: two {side} fit-range blocks")
        by_side[side] = block
    if set(by_side) != {"front", "rear"}:
        raise ParseError(f"store page: only a {', '.join(by_side)} fit-range block")
    return FitRanges(
        _axle(by_side["front"], "front"), _axle(by_side["rear"], "rear"), True, mm, inch
    )
