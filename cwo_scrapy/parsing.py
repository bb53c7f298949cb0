"""Pure parsers for CWO's JSON API and HTML pages.

Spiders call these on response bodies and tests call them on the replica's rendered output, so
every quirk of the site (years as strings or ints, numbers as strings, empty ranges rendered as
bare units, inch/mm order of ``data-bp`` that varies) is handled in one testable place. Every
function raises :class:`ParseError` with a one-line message on malformed input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from parsel import Selector

__all__ = [
    "EXPECTED_KEYS",
    "URL_KEYS",
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


#: Every key :func:`parse_vehicle` reads. Absent ones are counted (``cwo/schema/missing/<key>``);
#: any other key of a record is ignored and reported as unknown.
EXPECTED_KEYS: frozenset[str] = frozenset(
    {
        "year", "make", "model", "trim", "drive", "drchassisid", "drmodelid", "vehicleType",
        "bodyType", "boltpattern", "boltpatternMm", "boltpatternInches", "hub", "lugType",
        "lugSize", "stockWheelDiameter", "stockWheelWidth", "stockOffset", "stockTireSize",
        "stockWheelDiameterRear", "stockWheelWidthRear", "stockOffsetRear", "stockTireSizeRear",
        "staggered", "factoryStaggered",
    }
)  # fmt: skip
#: Keys the spiders cannot do without: the identity, and what the store/ymm-temp URLs need.
URL_KEYS: tuple[str, ...] = ("drchassisid", "vehicleType")


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """The vehicle record with numbers as numbers and the vehicle type lower-cased.

    Only the identity is guaranteed; any other value the record lacks is ``None`` (see
    :func:`parse_vehicle` for the fallbacks). ``missing_keys``/``unknown_keys`` describe how
    the record differed from :data:`EXPECTED_KEYS`, for the schema-drift stats.
    """

    year: int
    make: str
    model: str
    trim: str
    drive: str
    chassis_id: str | None
    model_id: str | None
    vehicle_type: str | None
    body_type: str | None
    bolt_pattern_mm: str | None
    bolt_pattern_in: str | None
    lug_count: int | None
    bolt_circle_mm: float | None
    hub_bore_mm: float | None
    lug_type: str | None
    lug_size: str | None
    front_wheel_diameter_in: float | None
    front_wheel_width_in: float | None
    front_wheel_offset_mm: int | None
    front_tire_size: str | None
    rear_wheel_diameter_in: float | None
    rear_wheel_width_in: float | None
    rear_wheel_offset_mm: int | None
    rear_tire_size: str | None
    staggered: bool | None
    factory_staggered: bool | None
    missing_keys: tuple[str, ...] = field(default=(), compare=False, repr=False)
    unknown_keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def url_args(self) -> dict[str, Any]:
        """The vehicle's part of a ``CwoUrls`` store page or ``ymm-temp.php`` set URL."""
        return {
            "year": self.year,
            "make": self.make,
            "model": self.model,
            "trim": self.trim,
            "drive": self.drive,
            "chassis": self.chassis_id,
            "vehicle_type": self.vehicle_type,
        }


def _field(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """The value as stripped text; ``None`` when absent, null or empty (unless ``required``)."""
    value = data.get(key)
    if value is None:
        if required:
            raise ParseError(f"vehicle: missing {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ParseError(f"vehicle: {key!r} is not a scalar: {_short(value)}")
    text = str(value).strip()
    if not text:
        if required:
            raise ParseError(f"vehicle: empty {key!r}")
        return None
    return text


def _float(data: dict[str, Any], key: str) -> float | None:
    text = _field(data, key)
    if text is None:
        return None
    number = text.rstrip('"').replace("mm", "").strip()
    try:
        return float(number)
    except ValueError:
        raise ParseError(f"vehicle: {key!r} is not a number: {_short(text)}") from None


def _int(data: dict[str, Any], key: str) -> int | None:
    number = _float(data, key)
    if number is None:
        return None
    if not number.is_integer():
        raise ParseError(f"vehicle: {key!r} is not a whole number: {number}")
    return int(number)


def _flag(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("", "0", "false", "no"):
        return False
    raise ParseError(f"vehicle: {key!r} is not a 0/1 flag: {_short(text)}")


#: A bolt circle of this many units or more is in millimetres; under ``_INCH_BELOW``, inches.
_MM_FROM = 60.0
_INCH_BELOW = 10.0


def _record_bolt_patterns(
    data: dict[str, Any],
) -> tuple[str | None, str | None, int | None, float | None]:
    """(mm pattern, inch pattern, lug count, circle mm), each unit decided by the circle's size.

    The key names cannot be trusted: a sister site on the same platform puts inches into
    ``boltpattern``. The first value of each unit wins, in the order ``boltpatternMm``,
    ``boltpattern``, ``boltpatternInches``.
    """
    mm: tuple[str, int, float] | None = None
    inch: tuple[str, int, float] | None = None
    for key in ("boltpatternMm", "boltpattern", "boltpatternInches"):
        text = _field(data, key)
        if text is None:
            continue
        try:
            lugs, circle = parse_bolt_pattern(text)
        except ParseError:
            raise ParseError(f"vehicle: {key!r} is not a bolt pattern: {_short(text)}") from None
        value = (text.replace(" ", ""), lugs, circle)
        if circle >= _MM_FROM:
            mm = mm or value
        elif circle < _INCH_BELOW:
            inch = inch or value
        else:
            raise ParseError(f"vehicle: {key!r} is neither mm nor inches: {_short(text)}")
    lugs = mm[1] if mm else inch[1] if inch else None
    return (mm[0] if mm else None), (inch[0] if inch else None), lugs, (mm[2] if mm else None)


def parse_vehicle(body: bytes | str, *, require_url_keys: bool = True) -> VehicleRecord:
    """The ``{year}/{make}/{model}/{trim}/{drive}`` record, read leniently.

    Required: the identity (year, make, model, trim, drive) and, with ``require_url_keys``,
    ``drchassisid`` and ``vehicleType`` (the store and ``ymm-temp.php`` URLs need them).
    Everything else is optional and ``None`` when absent or empty, with these fallbacks:
    ``staggered`` from ``staggered`` or else ``factoryStaggered``; a Rear value of a square
    vehicle that is empty or absent is the front value (the API leaves Rear fields empty when
    they equal the front); a staggered vehicle's absent Rear value stays ``None``; the bolt
    pattern's unit follows its value (see :func:`_record_bolt_patterns`). Unknown keys are ignored.
    """
    data = parse_json(body, "vehicle")
    if not isinstance(data, dict):
        raise ParseError(f"vehicle: expected a JSON object, got {type(data).__name__}")
    year_text = _field(data, "year", required=True)
    assert year_text is not None
    if not re.fullmatch(r"\d{4}", year_text):
        raise ParseError(f"vehicle: 'year' is not a year: {_short(year_text)}")
    for key in URL_KEYS if require_url_keys else ():
        _field(data, key, required=True)
    mm, inch, lugs, circle = _record_bolt_patterns(data)
    staggered = _flag(data, "staggered")
    factory = _flag(data, "factoryStaggered")
    if staggered is None:
        staggered = factory
    front_d = _float(data, "stockWheelDiameter")
    front_w = _float(data, "stockWheelWidth")
    front_o = _int(data, "stockOffset")
    front_t = _field(data, "stockTireSize")
    rear_d = _float(data, "stockWheelDiameterRear")
    rear_w = _float(data, "stockWheelWidthRear")
    rear_o = _int(data, "stockOffsetRear")
    rear_t = _field(data, "stockTireSizeRear")
    if staggered is False:
        rear_d = front_d if rear_d is None else rear_d
        rear_w = front_w if rear_w is None else rear_w
        rear_o = front_o if rear_o is None else rear_o
        rear_t = front_t if rear_t is None else rear_t
    vehicle_type = _field(data, "vehicleType")
    keys = data.keys()
    return VehicleRecord(
        year=int(year_text),
        make=_field(data, "make", required=True),  # type: ignore[arg-type]
        model=_field(data, "model", required=True),  # type: ignore[arg-type]
        trim=_field(data, "trim", required=True),  # type: ignore[arg-type]
        drive=_field(data, "drive", required=True),  # type: ignore[arg-type]
        chassis_id=_field(data, "drchassisid"),
        model_id=_field(data, "drmodelid"),
        vehicle_type=vehicle_type.lower() if vehicle_type else None,
        body_type=_field(data, "bodyType"),
        bolt_pattern_mm=mm,
        bolt_pattern_in=inch,
        lug_count=lugs,
        bolt_circle_mm=circle,
        hub_bore_mm=_float(data, "hub"),
        lug_type=_field(data, "lugType"),
        lug_size=_field(data, "lugSize"),
        front_wheel_diameter_in=front_d,
        front_wheel_width_in=front_w,
        front_wheel_offset_mm=front_o,
        front_tire_size=front_t,
        rear_wheel_diameter_in=rear_d,
        rear_wheel_width_in=rear_w,
        rear_wheel_offset_mm=rear_o,
        rear_tire_size=rear_t,
        staggered=staggered,
        factory_staggered=factory,
        missing_keys=tuple(sorted(k for k in EXPECTED_KEYS if data.get(k) is None)),
        unknown_keys=tuple(sorted(k for k in keys if k not in EXPECTED_KEYS)),
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
    """What a store page says about a vehicle: ranges per axle and the bolt pattern.

    ``found`` is False for a page that has neither a fit-range block nor a no-results marker
    (the ranges are then all ``None``): the site showed products without saying why.
    """

    front: AxleRange
    rear: AxleRange
    staggered: bool
    bolt_pattern_mm: str | None
    bolt_pattern_in: str | None
    found: bool = True


#: An axle the page says nothing about.
NO_RANGE = AxleRange(None, None, None, None, None, None)


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
    """``MIN to MAX``; a single value is a range with min = max."""
    match = _RANGE_RE.match(text)
    if not match:
        value = _side(text, unit, label)
        return value, value
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


def _block_side(block: Selector) -> str | None:
    """``front``/``rear`` from the block's header; ``None`` for no header or a generic one."""
    header = _block_header(block)
    front, rear = "front" in header, "rear" in header
    if front == rear:
        return None
    return "front" if front else "rear"


def parse_fit_ranges(html: bytes | str, *, square: bool = True) -> FitRanges | None:
    """The store page's fit ranges; ``None`` for a no-results page without a fit-range block.

    One ``.full-size`` block applies to both axles. Otherwise blocks are told apart by their
    Front/Rear header, and blocks without one are taken in document order (front, then rear).
    A lone block applies to both axles of a ``square`` vehicle; on a staggered one the rear is
    unknown (``None``). A page with products but neither a block nor a no-results marker gives
    ranges of ``None`` and ``found=False``. ParseError: blocks that cannot be read.
    """
    sel = Selector(text=_text(html))
    blocks = sel.css("div.store-ymm-fitrange")
    if not blocks:
        if sel.css("div.no-results-container"):
            return None
        mm, inch = _bolt_patterns(sel)
        return FitRanges(NO_RANGE, NO_RANGE, False, mm, inch, found=False)
    mm, inch = _bolt_patterns(sel)
    full = [b for b in blocks if "full-size" in (b.attrib.get("class") or "").split()]
    if full:
        if len(blocks) != 1:
            raise ParseError(f"store page: full-size block next to {len(blocks) - 1} others")
        axle = _axle(full[0], "full-size")
        return FitRanges(axle, axle, False, mm, inch)
    if len(blocks) > 2:
        raise ParseError(f"store page: {len(blocks)} fit-range blocks")
    by_side: dict[str, Selector] = {}
    headerless: list[Selector] = []
    for block in blocks:
        side = _block_side(block)
        if side is None:
            headerless.append(block)
        elif side in by_side:
            raise ParseError(f"store page: two {side} fit-range blocks")
        else:
            by_side[side] = block
    for block in headerless:
        by_side["front" if "front" not in by_side else "rear"] = block
    if "front" not in by_side:
        raise ParseError("store page: a rear fit-range block without a front one")
    front = _axle(by_side["front"], "front")
    if "rear" in by_side:
        return FitRanges(front, _axle(by_side["rear"], "rear"), True, mm, inch)
    if square:
        return FitRanges(front, front, False, mm, inch)
    return FitRanges(front, NO_RANGE, True, mm, inch)
