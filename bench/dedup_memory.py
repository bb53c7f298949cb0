"""Benchmark 7, de-duplication memory of a ``combos=all`` wheel-size crawl.

Two structures of a crawl grow with it: the duplicate guard's record of the items written
(``cwo_scrapy.pipelines.SeenIdentities``) and Scrapy's duplicate filter's fingerprints of the
requests scheduled. With ``combos=all`` the catalogue is 34.5 million store pages, so a
per-item entry in either is gigabytes. For the real identities and store URLs of a slice
(2022 Ford, 236 vehicles, 218,380 combinations) this measures with ``tracemalloc``, in this
process:

- ``guard``: our guard fed every item identity (one digest and one bit mask per vehicle);
- ``per_item_set``: a set of one 8-byte digest per item (the guard's earlier layout);
- ``fingerprints``: Scrapy's ``RFPDupeFilter`` fed the first ``FINGERPRINTS`` store requests
  (it is linear, and building Requests under tracemalloc is slow), the memory that
  ``dont_filter=True`` on store pages (``CascadeSpider.page_request``) keeps out of a crawl;

and extrapolates each to the catalogue (exact vehicle and combination counts from the
replica's data): the guard per vehicle, the other two per page.
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.common import log

SLICE = {"year": 2022, "make": "Ford"}
QUICK_SLICE = {"year": 2022, "make": "Ford", "model": "Mustang"}
FINGERPRINTS = 50_000


def _allocated(build: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated by what ``build`` returns (kept alive until measured)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, kept


def catalogue_combinations() -> tuple[int, int]:
    """(vehicles, store pages of a ``combos=all`` crawl) for the whole catalogue."""
    from cwo_scrapy.replica import truth

    vehicles = pages = 0
    for spec in truth._specs(None, None, None, 0):
        vehicles += 1
        pages += math.prod(len(options) for options in spec.options)
    return vehicles, pages


def run(*, quick: bool = False) -> dict[str, Any]:
    from scrapy import Request
    from scrapy.dupefilters import RFPDupeFilter

    from cwo_scrapy.items import IDENTITY, WheelSizeItem
    from cwo_scrapy.pipelines import SeenIdentities, _digest
    from cwo_scrapy.replica import truth

    scope = QUICK_SLICE if quick else SLICE
    started = time.monotonic()
    fields = IDENTITY[WheelSizeItem]
    identities: list[tuple[Any, ...]] = []
    urls: list[str] = []
    for item in truth.wheel_size_items(combos="all", **scope):
        identities.append(tuple(getattr(item, f) for f in fields))
        urls.append(item.url)
    items = len(identities)
    vehicles = len({ident[:5] for ident in identities})
    log(f"dedup memory: {items} items of {vehicles} vehicles ({scope})")

    def guard() -> SeenIdentities:
        seen = SeenIdentities()
        for ident in identities:
            seen.add(WheelSizeItem, ident)
        assert len(seen) == items
        return seen

    def per_item_set() -> set[bytes]:
        return {_digest(WheelSizeItem, ident) for ident in identities}

    def fingerprints() -> RFPDupeFilter:
        dupefilter = RFPDupeFilter()
        for url in urls[:FINGERPRINTS]:
            dupefilter.request_seen(Request(url))
        return dupefilter

    guard_bytes, _ = _allocated(guard)
    set_bytes, _ = _allocated(per_item_set)
    fp_bytes, _ = _allocated(fingerprints)
    cat_vehicles, cat_pages = catalogue_combinations()

    fingerprinted = min(items, FINGERPRINTS)

    def gb(n: float) -> float:
        return round(n / 2**30, 3)

    return {
        "dedup_memory": {
            "slice": scope,
            "items": items,
            "vehicles": vehicles,
            "guard_bytes_per_vehicle": round(guard_bytes / vehicles, 1),
            "guard_bytes_per_item": round(guard_bytes / items, 2),
            "per_item_set_bytes_per_item": round(set_bytes / items, 2),
            "dupefilter_requests_measured": fingerprinted,
            "dupefilter_bytes_per_request": round(fp_bytes / fingerprinted, 2),
            "catalogue_vehicles": cat_vehicles,
            "catalogue_combos_all_pages": cat_pages,
            "catalogue_guard_gb": gb(guard_bytes / vehicles * cat_vehicles),
            "catalogue_per_item_set_gb": gb(set_bytes / items * cat_pages),
            "catalogue_dupefilter_gb": gb(fp_bytes / fingerprinted * cat_pages),
            "measured_s": round(time.monotonic() - started, 1),
            "method": "tracemalloc, bytes still allocated after feeding every identity / URL",
        }
    }
