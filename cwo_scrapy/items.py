"""Typed items the spiders yield and the replica's ground truth is made of.

Both spiders and ``cwo_scrapy.replica.truth`` build these classes, so a crawl's output and
``scrapy replica --dump-truth`` can be compared line by line. Inches and millimetres are
numbers with the unit in the field name; an empty range on the site is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class FitmentItem:
    """One vehicle: identity, OEM data and the fitment preference options it offers.

    Values the site's record lacks are ``None`` (fallbacks: ``parsing.parse_vehicle``).
    """

    year: int
    make: str
    model: str
    trim: str
    drive: str
    chassis_id: str
    vehicle_type: str  # lower-case: "car" or "truck"
    bolt_pattern_mm: str | None  # "5x114.3"
    bolt_pattern_in: str | None  # "5x4.5"
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
    suspension_options: list[str] = field(default_factory=list)
    modification_options: list[str] = field(default_factory=list)
    rubbing_options: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WheelSizeItem:
    """Front and rear wheel-size ranges for one vehicle and one preference combination."""

    year: int
    make: str
    model: str
    trim: str
    drive: str
    chassis_id: str
    vehicle_type: str
    suspension: str
    modification: str
    rubbing: str
    staggered: bool
    bolt_pattern_mm: str | None
    bolt_pattern_in: str | None
    front_diameter_min_in: float | None
    front_diameter_max_in: float | None
    front_width_min_in: float | None
    front_width_max_in: float | None
    front_offset_min_mm: int | None
    front_offset_max_mm: int | None
    rear_diameter_min_in: float | None
    rear_diameter_max_in: float | None
    rear_width_min_in: float | None
    rear_width_max_in: float | None
    rear_offset_min_mm: int | None
    rear_offset_max_mm: int | None
    url: str
    # False: the page had products but neither fit ranges nor "no results" (ranges all None).
    fit_ranges_found: bool


#: Fields that tell one item from another (the duplicate guard, the cluster merge and the
#: benchmarks' ground-truth comparison key items on them): a vehicle, and for wheel sizes also
#: the preference combination.
IDENTITY: dict[type, tuple[str, ...]] = {
    FitmentItem: ("year", "make", "model", "trim", "drive"),
    WheelSizeItem: (
        "year",
        "make",
        "model",
        "trim",
        "drive",
        "suspension",
        "modification",
        "rubbing",
    ),
}
