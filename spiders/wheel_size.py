"""``scrapy crawl wheel_size``: front/rear wheel-size ranges per vehicle and preference choice.

For each vehicle in scope and each chosen combination of fitment preferences, page 1 of
``store/wheels`` is fetched and one :class:`WheelSizeItem` is yielded.

Arguments (``-a NAME=VALUE``, any subset):

- ``year=YYYY``, ``make=MAKE``, ``model=MODEL``, ``limit=N``: scope, as for ``fitment``;
- ``suspension=...``, ``modification=...``, ``rubbing=...``: override the default choice for
  that axis (values as the site lists them, e.g. ``-a "suspension=Leveling Kit"``). A value the
  vehicle type does not offer skips that type's vehicles with a warning
  (stat ``cwo/wheel_size/combination_not_offered``);
- ``combos=default`` (default): one combination per vehicle, the stock choice, i.e. the first
  element of each of the vehicle type's lists (``Stock`` / ``No Trimming`` /
  ``No rubbing or scrubbing`` on trucks), with the overrides above applied;
- ``combos=all``: the cartesian product suspension x modification x rubbing of the type's lists
  (hundreds of pages per vehicle; overrides then fix their axis to one value).

A store page with products but neither fit ranges nor a no-results marker still gives its item,
with null ranges and ``fit_ranges_found`` False (stat ``cwo/wheel_size/no_fit_block``).

Output: ``<CWO_DATA_DIR>/wheel_sizes.jsonl`` (overwritten) when no feed is configured (no
``FEEDS`` setting, no ``-o``/``-O``).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy_spider_metadata import Args

from cwo_scrapy.cascade import CascadeSpider, OptionLists, vehicle_key
from cwo_scrapy.cluster.tracker import PAGE_KEY
from cwo_scrapy.items import WheelSizeItem
from cwo_scrapy.parsing import FitRanges, ParseError, VehicleRecord, parse_fit_ranges
from cwo_scrapy.spiderparams import AXES, WheelSizeParams

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

Combo = tuple[str, str, str]  # suspension, modification, rubbing


def wheel_size_item(v: VehicleRecord, combo: Combo, ranges: FitRanges, url: str) -> WheelSizeItem:
    """The item for one store page of one vehicle and combination."""
    front, rear = ranges.front, ranges.rear
    return WheelSizeItem(
        year=v.year,
        make=v.make,
        model=v.model,
        trim=v.trim,
        drive=v.drive,
        chassis_id=v.chassis_id,
        vehicle_type=v.vehicle_type,
        suspension=combo[0],
        modification=combo[1],
        rubbing=combo[2],
        staggered=ranges.staggered,
        bolt_pattern_mm=ranges.bolt_pattern_mm,
        bolt_pattern_in=ranges.bolt_pattern_in,
        front_diameter_min_in=front.diameter_min_in,
        front_diameter_max_in=front.diameter_max_in,
        front_width_min_in=front.width_min_in,
        front_width_max_in=front.width_max_in,
        front_offset_min_mm=front.offset_min_mm,
        front_offset_max_mm=front.offset_max_mm,
        rear_diameter_min_in=rear.diameter_min_in,
        rear_diameter_max_in=rear.diameter_max_in,
        rear_width_min_in=rear.width_min_in,
        rear_width_max_in=rear.width_max_in,
        rear_offset_min_mm=rear.offset_min_mm,
        rear_offset_max_mm=rear.offset_max_mm,
        url=url,
        fit_ranges_found=ranges.found,
    )


class WheelSizeSpider(CascadeSpider, Args[WheelSizeParams]):
    """Wheel-size ranges from the store page (arguments: ``WheelSizeParams``)."""

    name = "wheel_size"
    default_feed = "wheel_sizes.jsonl"  # under CWO_DATA_DIR when no feed is configured
    # In a cluster a vehicle's store pages are tagged (meta[PAGE_KEY]) and it is counted done
    # where its last page is acknowledged (cwo_scrapy/cluster/coordinator.py): sums are exact.
    cluster_vehicle_check = True

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._tag_pages = crawler.settings.getbool("CWO_CLUSTER")
        return spider

    @classmethod
    def parse_arguments(cls, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        parsed = super().parse_arguments(kwargs)
        params = parsed["params"]
        parsed["combos"] = params.combos
        parsed["overrides"] = {
            axis: value for axis in AXES if (value := getattr(params, axis)) is not None
        }
        return parsed

    def apply_arguments(self, parsed: dict[str, Any]) -> None:
        self.combos: str = parsed["combos"]
        self.overrides: dict[str, str] = parsed["overrides"]
        self._remaining: dict[tuple[int, str, str, str, str], int] = {}
        self._combos_by_type: dict[str, list[Combo]] = {}
        self._tag_pages = False  # cluster mode (from_crawler)

    # -- combinations -------------------------------------------------------------------------
    def combinations(self, vehicle_type: str, options: OptionLists) -> list[Combo]:
        """The combinations to fetch for a vehicle type, given its lists."""
        axes: dict[str, list[str]] = {
            "suspension": options.suspension,
            "modification": options.modification,
            "rubbing": options.rubbing,
        }
        for axis, value in self.overrides.items():
            if value not in axes[axis]:
                self.inc("wheel_size/combination_not_offered")
                logger.warning(
                    "%s=%r is not offered for vehicle type %r (offered: %s); skipping its vehicles",
                    axis,
                    value,
                    vehicle_type,
                    ", ".join(axes[axis]),
                )
                return []
            axes[axis] = [value]
        if self.combos == "default":
            return [(axes["suspension"][0], axes["modification"][0], axes["rubbing"][0])]
        return list(itertools.product(axes["suspension"], axes["modification"], axes["rubbing"]))

    # -- cascade hook ---------------------------------------------------------------------------
    def on_options(self, vehicle_type: str, options: OptionLists | None) -> Iterable[Any]:
        if options is not None:
            self._combos_by_type[vehicle_type] = self.combinations(vehicle_type, options)
        yield from super().on_options(vehicle_type, options)

    def vehicle_ready(self, vehicle: VehicleRecord, options: OptionLists) -> Iterable[Any]:
        yield from self._store_requests(vehicle)

    def _store_requests(self, v: VehicleRecord) -> Iterable[scrapy.Request]:
        if v.vehicle_type not in self._combos_by_type:
            lists, _ = self.options.options_for(v)
            assert lists is not None
            self._combos_by_type[v.vehicle_type] = self.combinations(v.vehicle_type, lists)
        combos = every = self._combos_by_type[v.vehicle_type]
        if self.in_output is not None:  # a resumed crawl: pages whose items are written
            todo = self.in_output.missing(WheelSizeItem, vehicle_key(v), combos)
            self.inc("wheel_size/store_pages_skipped", len(combos) - len(todo))
            combos = todo
        if not combos:
            self.vehicle_done()
            return
        if self._tag_pages:
            yield from self._tagged_pages(v, every, combos)
            return
        self._remaining[vehicle_key(v)] = len(combos)
        for combo in combos:
            yield self._store_request(v, combo)

    def _tagged_pages(
        self, v: VehicleRecord, every: list[Combo], combos: list[Combo]
    ) -> Iterable[scrapy.Request]:
        """Cluster mode: the pages spread over the workers, each tagged with its vehicle and
        its number in the vehicle's full list, so Redis counts the vehicle done once, wherever
        its last page finishes (``cwo_scrapy/cluster/coordinator.py``, ``pages``)."""
        unit = hashlib.blake2b(repr(vehicle_key(v)).encode(), digest_size=8).hexdigest()
        number = {combo: n for n, combo in enumerate(every)}
        for combo in combos:
            request = self._store_request(v, combo)
            request.meta[PAGE_KEY] = [unit, number[combo], len(combos), len(every)]
            yield request

    def _store_request(self, v: VehicleRecord, combo: Combo) -> scrapy.Request:
        url = self.urls.store_wheels(
            **v.url_args(),
            suspension=combo[0],
            modification=combo[1],
            rubbing=combo[2],
        )
        return self.page_request(url, self.parse_store, vehicle=v, combo=combo, source_url=url)

    def _combo_finished(self, v: VehicleRecord) -> None:
        key = vehicle_key(v)
        if key not in self._remaining:
            # A cluster page (counted in Redis when acknowledged, see _tagged_pages) or one
            # scheduled by the run a JOBDIR crawl resumes: its item is written all the same;
            # only this process's progress count skips it.
            return
        self._remaining[key] -= 1
        if self._remaining[key] == 0:
            del self._remaining[key]
            self.vehicle_done()

    def parse_store(
        self,
        response: scrapy.http.Response,
        vehicle: VehicleRecord,
        combo: Combo,
        source_url: str,
    ) -> Iterable[WheelSizeItem]:
        self._received(response)
        try:
            ranges = parse_fit_ranges(response.body, square=not vehicle.staggered)
        except ParseError as exc:
            self.inc("parse_errors/store")
            self.on_store_failure(response.request, "parse_error")
            logger.error("Cannot parse store page %s: %s", response.url, exc)
            if self.drift is not None:
                self.drift.failed("store", response, exc)
            return
        if self.drift is not None:
            self.drift.ok("store")
        if ranges is not None and not ranges.found:
            self.inc("wheel_size/no_fit_block")
        if ranges is None:
            self.inc("wheel_size/no_fit_range")
            logger.warning("Store page without fit ranges: %s", response.url)
            self._combo_finished(vehicle)
            return
        yield wheel_size_item(vehicle, combo, ranges, source_url)
        self._combo_finished(vehicle)

    def on_store_failure(self, request: scrapy.Request, what: str) -> Iterable[Any]:
        self.count_failure()
        self.inc(f"wheel_size/store_failed/{what}")
        self._combo_finished(request.cb_kwargs["vehicle"])
        return ()
