"""The variety of the real site: record schemas and store-page markups the replica can serve.

Our first replica served one clean shape; the real API and store pages vary (issue #10). Both
choices are seeded and deterministic (``vehicles._h``), so the server and ``--dump-truth``
agree in every process:

- record schema (``--record-schema``): ``full`` (every key, as before), ``lean`` (the record as
  a third-party client of CWO's data types it: no ``stockWheelWidthRear``/``stockOffsetRear``,
  empty Rear fields on square vehicles, ``factoryStaggered`` instead of ``staggered``, the bolt
  pattern in inches under ``boltpattern`` and sometimes no mm value, sometimes no ``hub``, and
  keys the parser does not know), ``mixed`` (full or lean per vehicle);
- markup (``--markup``): ``strict`` (as before), ``lenient`` (per page: headerless blocks, a
  lone block on a square page, a single diameter shown as one value, or no fit-range block at
  all), ``mixed`` (strict or lenient per page), ``broken`` (fit-range blocks in a format no
  parser reads: the site changed).
"""

from __future__ import annotations

from typing import Any

from cwo_scrapy.replica.vehicles import FitRange, VehicleSpec, _h, _num

RECORD_SCHEMAS = ("full", "lean", "mixed")
MARKUPS = ("strict", "lenient", "mixed", "broken")
#: Page layouts a markup resolves to (``render.render_fit_ranges`` draws each).
LAYOUTS = ("strict", "headerless", "lone", "single", "noblock", "broken")


def record_shape(spec: VehicleSpec, schema: str) -> str:
    """``full`` or ``lean`` for this vehicle under ``schema``."""
    if schema == "mixed":
        return "lean" if _h(spec.seed, "schema", spec.vehicle.index) % 2 else "full"
    return schema


def lean_bolt_style(spec: VehicleSpec) -> int:
    """0: mm in ``boltpatternMm``, inches in ``boltpattern``; 1: inches in ``boltpattern`` only;
    2: mm in ``boltpattern``, inches in ``boltpatternInches``."""
    return _h(spec.seed, "lean-bolt", spec.vehicle.index) % 3


def lean_has_hub(spec: VehicleSpec) -> bool:
    return _h(spec.seed, "lean-hub", spec.vehicle.index) % 10 != 0


def lean_record(spec: VehicleSpec) -> dict[str, Any]:
    """The vehicle record in the shape public evidence suggests for the real API."""
    v = spec.vehicle
    record: dict[str, Any] = {
        "year": str(v.year),
        "make": v.make,
        "model": v.model,
        "trim": v.trim,
        "drive": v.drive,
        "drchassisid": spec.chassis_id,
        "drmodelid": spec.model_id,
        "vehicleType": spec.vehicle_type_label,
        "vehicleType2": "Truck/SUV" if spec.vehicle_type == "truck" else "Passenger Car",
        "bodyType": spec.body_type,
    }
    style = lean_bolt_style(spec)
    if style == 0:
        record["boltpatternMm"] = spec.bolt_pattern_mm
        record["boltpattern"] = spec.bolt_pattern_in
    elif style == 1:
        record["boltpattern"] = spec.bolt_pattern_in
    else:
        record["boltpattern"] = spec.bolt_pattern_mm
        record["boltpatternInches"] = spec.bolt_pattern_in
    if lean_has_hub(spec):
        record["hub"] = _num(spec.hub_bore_mm)
    stag = spec.staggered
    record.update(
        {
            "lugType": spec.lug_type,
            "lugSize": spec.lug_size,
            "stockWheelDiameter": _num(spec.front_diameter),
            "stockWheelWidth": _num(spec.front_width),
            "stockOffset": str(spec.front_offset),
            "stockTireSize": spec.front_tire,
            "stockWheelDiameterRear": _num(spec.rear_diameter) if stag else "",
            "stockTireSizeRear": spec.rear_tire if stag else "",
            "factoryStaggered": "1" if stag else "0",
            "fuelTypeName": "Gas",
            "multiChassis": "0",
            "engine": [f"{2 + spec.vehicle.index % 4}.0L"],
            "tireDiameterMin": "",
            "wheelDiameterMin": _num(spec.front_diameter - 1),
            "wheelDiameterMax": _num(spec.front_diameter + 2),
        }
    )
    return record


def vehicle_record(spec: VehicleSpec, schema: str = "full") -> dict[str, Any]:
    """The record the API serves for ``spec`` under ``schema``."""
    return lean_record(spec) if record_shape(spec, schema) == "lean" else spec.record()


def page_layout(spec: VehicleSpec, combo: tuple[str, str, str], fit: FitRange, markup: str) -> str:
    """How this store page draws its fit ranges under ``markup`` (one of :data:`LAYOUTS`)."""
    if markup == "strict":
        return "strict"
    if markup == "broken":
        return "broken"
    h = _h(spec.seed, "markup", spec.vehicle.index, *combo)
    if markup == "mixed" and h % 2:
        return "strict"
    h >>= 1
    if h % 10 == 0:
        return "noblock"
    kind = (h >> 4) % 3
    if kind == 1 and not fit.staggered and not spec.staggered:
        return "lone"
    return "single" if kind == 2 and fit.front.diameter is not None else "headerless"


def served_fit(fit: FitRange, layout: str) -> FitRange:
    """The ranges a page with ``layout`` states: ``single`` shows one diameter (the largest)."""
    if layout != "single":
        return fit

    def one(axle: Any) -> Any:
        d = axle.diameter
        return axle if d is None else axle._replace(diameter=(d[1], d[1]))

    return FitRange(one(fit.front), one(fit.rear))
