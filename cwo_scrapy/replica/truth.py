"""Ground truth: the exact items a correct crawl of the replica must produce.

Built from the same functions the replica's handlers use (``vehicles.vehicle_spec``), so a
spider's output can be compared with these items field by field; ``scrapy replica
--dump-truth`` prints them through :func:`dump`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from functools import lru_cache
from itertools import product
from typing import Literal, TextIO
from urllib.parse import quote

from cwo_scrapy.items import FitmentItem, WheelSizeItem
from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.variants import (
    lean_bolt_style,
    lean_has_hub,
    page_layout,
    record_shape,
    served_fit,
)
from cwo_scrapy.replica.vehicles import (
    AxleRange,
    FitRange,
    VehicleSpec,
    default_combo,
    vehicle_spec,
)
from cwo_scrapy.urls import DEFAULT_SITE_URL, CwoUrls

__all__ = ["default_combo", "dump", "fitment_item", "fitment_items", "wheel_size_item",
           "wheel_size_items"]  # fmt: skip

_NO_AXLE = AxleRange(None, None, None)
Combos = Literal["default", "all"] | tuple[str, str, str]


def _lean_fallbacks(item: FitmentItem, spec: VehicleSpec) -> None:
    """What the documented fallbacks (README, "Field fidelity") make of a lean record.

    Written from the rules, not with the parser: the lean record has no Rear width/offset and
    empty Rear diameter/tire on square vehicles (-> the front values), none at all for a
    staggered vehicle's width/offset (-> None); bolt style 1 has no mm pattern, and some
    records no hub.
    """
    if spec.staggered:
        item.rear_wheel_width_in = None
        item.rear_wheel_offset_mm = None
    else:
        item.rear_wheel_diameter_in = spec.front_diameter
        item.rear_wheel_width_in = spec.front_width
        item.rear_wheel_offset_mm = spec.front_offset
        item.rear_tire_size = spec.front_tire
    if lean_bolt_style(spec) == 1:
        item.bolt_pattern_mm = None
        item.bolt_circle_mm = None
    if not lean_has_hub(spec):
        item.hub_bore_mm = None


def _specs(
    year: str | int | None, make: str | None, model: str | None, seed: int
) -> Iterator[VehicleSpec]:
    for vehicle in Catalogue.load().vehicles(year=year, make=make, model=model):
        yield vehicle_spec(vehicle, seed)


def fitment_item(spec: VehicleSpec, record_schema: str = "full") -> FitmentItem:
    """What the fitment spider must yield for this vehicle, served with ``record_schema``."""
    v = spec.vehicle
    lists = spec.options
    item = FitmentItem(
        year=v.year,
        make=v.make,
        model=v.model,
        trim=v.trim,
        drive=v.drive,
        chassis_id=spec.chassis_id,
        vehicle_type=spec.vehicle_type,
        bolt_pattern_mm=spec.bolt_pattern_mm,
        bolt_pattern_in=spec.bolt_pattern_in,
        lug_count=spec.lug_count,
        bolt_circle_mm=spec.bolt_circle_mm,
        hub_bore_mm=spec.hub_bore_mm,
        lug_type=spec.lug_type,
        lug_size=spec.lug_size,
        front_wheel_diameter_in=spec.front_diameter,
        front_wheel_width_in=spec.front_width,
        front_wheel_offset_mm=spec.front_offset,
        front_tire_size=spec.front_tire,
        rear_wheel_diameter_in=spec.rear_diameter,
        rear_wheel_width_in=spec.rear_width,
        rear_wheel_offset_mm=spec.rear_offset,
        rear_tire_size=spec.rear_tire,
        staggered=spec.staggered,
        suspension_options=list(lists.suspension),
        modification_options=list(lists.modification),
        rubbing_options=list(lists.rubbing),
    )
    if record_shape(spec, record_schema) == "lean":
        _lean_fallbacks(item, spec)
    return item


def fitment_items(
    *,
    year: str | int | None = None,
    make: str | None = None,
    model: str | None = None,
    seed: int = 0,
    record_schema: str = "full",
) -> Iterator[FitmentItem]:
    """One FitmentItem per catalogue vehicle matching the filters, in catalogue order."""
    for spec in _specs(year, make, model, seed):
        yield fitment_item(spec, record_schema)


_MARKERS = ("H1SUSPENSIONMARKER", "H1MODIFICATIONMARKER", "H1RUBBINGMARKER")


@lru_cache(maxsize=256)
def _quoted(value: str) -> str:
    return quote(value, safe="")


class _UrlTemplate:
    """``CwoUrls.store_wheels`` for one vehicle, with the three preferences filled in fast.

    URL building dominated ``--combos all`` dumps (~70% of the time); the builder is called
    once per vehicle with alphanumeric markers (which ``quote`` leaves alone) and each combo
    substitutes ``quote(value, safe="")``, the encoding ``cwo_scrapy.urls`` documents.
    """

    def __init__(self, spec: VehicleSpec, site_url: str) -> None:
        v = spec.vehicle
        url = CwoUrls(site_url).store_wheels(
            year=v.year, make=v.make, model=v.model, trim=v.trim, drive=v.drive,
            chassis=spec.chassis_id, vehicle_type=spec.vehicle_type, suspension=_MARKERS[0],
            modification=_MARKERS[1], rubbing=_MARKERS[2],
        )  # fmt: skip
        head, rest = url.split(_MARKERS[0])
        mid1, rest = rest.split(_MARKERS[1])
        mid2, tail = rest.split(_MARKERS[2])
        self._parts = (head, mid1, mid2, tail)

    def url(self, suspension: str, modification: str, rubbing: str) -> str:
        head, mid1, mid2, tail = self._parts
        return (
            f"{head}{_quoted(suspension)}{mid1}{_quoted(modification)}{mid2}"
            f"{_quoted(rubbing)}{tail}"
        )


def wheel_size_item(
    spec: VehicleSpec,
    suspension: str,
    modification: str,
    rubbing: str,
    *,
    site_url: str = DEFAULT_SITE_URL,
    markup: str = "strict",
    _template: _UrlTemplate | None = None,
) -> WheelSizeItem | None:
    """What the wheel-size spider must yield for one store page; None for an invalid combo.

    A page without a fit-range block (``--markup lenient``) gives ranges and bolt patterns of
    None, ``staggered`` False and ``fit_ranges_found`` False.
    """
    fit = spec.fit_range(suspension, modification, rubbing)
    if fit is None:
        return None
    layout = page_layout(spec, (suspension, modification, rubbing), fit, markup)
    found = layout != "noblock"
    fit = served_fit(fit, layout) if found else FitRange(_NO_AXLE, _NO_AXLE)
    v = spec.vehicle
    front, rear = fit
    template = _template or _UrlTemplate(spec, site_url)
    url = template.url(suspension, modification, rubbing)
    fd, fw, fo = front
    rd, rw, ro = rear
    return WheelSizeItem(
        year=v.year,
        make=v.make,
        model=v.model,
        trim=v.trim,
        drive=v.drive,
        chassis_id=spec.chassis_id,
        vehicle_type=spec.vehicle_type,
        suspension=suspension,
        modification=modification,
        rubbing=rubbing,
        staggered=fit.staggered,
        bolt_pattern_mm=spec.bolt_pattern_mm if found else None,
        bolt_pattern_in=spec.bolt_pattern_in if found else None,
        front_diameter_min_in=fd[0] if fd else None,
        front_diameter_max_in=fd[1] if fd else None,
        front_width_min_in=fw[0] if fw else None,
        front_width_max_in=fw[1] if fw else None,
        front_offset_min_mm=fo[0] if fo else None,
        front_offset_max_mm=fo[1] if fo else None,
        rear_diameter_min_in=rd[0] if rd else None,
        rear_diameter_max_in=rd[1] if rd else None,
        rear_width_min_in=rw[0] if rw else None,
        rear_width_max_in=rw[1] if rw else None,
        rear_offset_min_mm=ro[0] if ro else None,
        rear_offset_max_mm=ro[1] if ro else None,
        url=url,
        fit_ranges_found=found,
    )


def _combos(spec: VehicleSpec, combos: Combos) -> Iterable[tuple[str, str, str]]:
    if combos == "default":
        return (default_combo(spec.vehicle_type),)
    if combos == "all":
        return product(*spec.options)
    if isinstance(combos, tuple) and len(combos) == 3:
        return (combos,)
    raise ValueError(f"combos must be 'default', 'all' or a 3-tuple, not {combos!r}")


def wheel_size_items(
    *,
    year: str | int | None = None,
    make: str | None = None,
    model: str | None = None,
    combos: Combos = "default",
    site_url: str = DEFAULT_SITE_URL,
    seed: int = 0,
    markup: str = "strict",
) -> Iterator[WheelSizeItem]:
    """WheelSizeItems in catalogue order, then option-list order (suspension outermost).

    ``combos``: ``"default"`` (the stock choice per vehicle), ``"all"`` (the full cartesian
    product of the vehicle type's lists) or one explicit (suspension, modification, rubbing)
    tuple, which yields nothing for vehicles whose type does not offer it.
    """
    for spec in _specs(year, make, model, seed):
        template = _UrlTemplate(spec, site_url)
        for suspension, modification, rubbing in _combos(spec, combos):
            item = wheel_size_item(
                spec, suspension, modification, rubbing, markup=markup, _template=template
            )
            if item is not None:
                yield item


def dump(
    kind: Literal["fitment", "wheel_size"],
    stream: TextIO,
    *,
    year: str | int | None = None,
    make: str | None = None,
    model: str | None = None,
    combos: Combos = "default",
    site_url: str = DEFAULT_SITE_URL,
    seed: int = 0,
    record_schema: str = "full",
    markup: str = "strict",
) -> int:
    """Write the items as JSON lines (``dataclasses.asdict``); returns how many were written."""
    items: Iterator[FitmentItem] | Iterator[WheelSizeItem]
    if kind == "fitment":
        items = fitment_items(
            year=year, make=make, model=model, seed=seed, record_schema=record_schema
        )
    elif kind == "wheel_size":
        items = wheel_size_items(
            year=year,
            make=make,
            model=model,
            combos=combos,
            site_url=site_url,
            seed=seed,
            markup=markup,
        )
    else:
        raise ValueError(f"kind must be 'fitment' or 'wheel_size', not {kind!r}")
    count = 0
    write = stream.write
    for item in items:
        write(json.dumps(asdict(item), ensure_ascii=False))
        write("\n")
        count += 1
    return count
