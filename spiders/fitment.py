"""``scrapy crawl fitment``: one :class:`FitmentItem` per vehicle of the catalogue.

Arguments (``-a NAME=VALUE``, any subset):

- ``year=YYYY``: one model year;
- ``make=MAKE`` / ``model=MODEL``: one make / model, as spelled on the site (matched
  case-insensitively; a value the site does not list ends the crawl with ``bad_argument``);
- ``limit=N``: at most N vehicles.

Output: ``<CWO_DATA_DIR>/fitment.jsonl`` (overwritten) when no feed is configured (no ``FEEDS``
setting, no ``-o``/``-O``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scrapy_spider_metadata import Args

from cwo_scrapy.cascade import CascadeSpider, OptionLists
from cwo_scrapy.items import FitmentItem
from cwo_scrapy.parsing import VehicleRecord
from cwo_scrapy.spiderparams import FitmentParams


def fitment_item(v: VehicleRecord, options: OptionLists) -> FitmentItem:
    """The item for a parsed vehicle record and its type's preference lists."""
    return FitmentItem(
        year=v.year,
        make=v.make,
        model=v.model,
        trim=v.trim,
        drive=v.drive,
        chassis_id=v.chassis_id,
        vehicle_type=v.vehicle_type,
        bolt_pattern_mm=v.bolt_pattern_mm,
        bolt_pattern_in=v.bolt_pattern_in,
        lug_count=v.lug_count,
        bolt_circle_mm=v.bolt_circle_mm,
        hub_bore_mm=v.hub_bore_mm,
        lug_type=v.lug_type,
        lug_size=v.lug_size,
        front_wheel_diameter_in=v.front_wheel_diameter_in,
        front_wheel_width_in=v.front_wheel_width_in,
        front_wheel_offset_mm=v.front_wheel_offset_mm,
        front_tire_size=v.front_tire_size,
        rear_wheel_diameter_in=v.rear_wheel_diameter_in,
        rear_wheel_width_in=v.rear_wheel_width_in,
        rear_wheel_offset_mm=v.rear_wheel_offset_mm,
        rear_tire_size=v.rear_tire_size,
        staggered=v.staggered,
        suspension_options=list(options.suspension),
        modification_options=list(options.modification),
        rubbing_options=list(options.rubbing),
    )


class FitmentSpider(CascadeSpider, Args[FitmentParams]):
    """Vehicle data plus the fitment preference options its vehicle type offers.

    The option lists are fetched once per vehicle type; vehicles parsed before their type's
    lists arrived wait in memory and are emitted when the lists come in.
    """

    name = "fitment"
    default_feed = "fitment.jsonl"  # under CWO_DATA_DIR when no feed is configured
    # A vehicle is counted done where its item is made: the cluster's sums are exact.
    cluster_vehicle_check = True

    def vehicle_in_output(self, key: tuple[int, str, str, str, str]) -> bool:
        return self.in_output is not None and self.in_output.has(FitmentItem, key)

    def vehicle_ready(self, vehicle: VehicleRecord, options: OptionLists) -> Iterable[Any]:
        yield fitment_item(vehicle, options)
        self.vehicle_done()
