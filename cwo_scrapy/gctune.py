"""Cyclic garbage collector tuned for long crawls.

With Python's default thresholds (700, 10, 10) the collector runs every 700 container
allocations, and a crawl allocates several per request (Request, headers, meta, cb_kwargs,
items). As the live heap grows its generation-2 passes get longer: measured on the whole
catalogue (``make bench``, scale, 2 cores), per-request cost rose from 1.71 ms in the first
tenth to 2.05 ms in the last (501.7 req/s). With the thresholds below the same crawl ran at
896.1 req/s, flat at 1.12 -> 1.09 ms per request, peak RSS 170 MB instead of 177 MB. Reference
cycles are still collected, only less often; ``gc.freeze()`` after start-up also takes the
imported modules and settings out of every later pass.

``CWO_GC_THRESHOLD`` = ``[gen0, gen1, gen2]`` (default ``[50000, 20, 1000]``); an empty list
leaves Python's defaults.
"""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class GcTuning:
    """Extension: applies ``CWO_GC_THRESHOLD`` and freezes start-up objects."""

    def __init__(self, threshold: tuple[int, int, int]) -> None:
        self.previous = gc.get_threshold()
        self.threshold = threshold
        gc.set_threshold(*threshold)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        values = [int(v) for v in crawler.settings.getlist("CWO_GC_THRESHOLD")]
        if not values:
            raise NotConfigured  # [] = Python's defaults, on purpose: no warning
        if len(values) != 3 or values[0] <= 0:
            raise NotConfigured(f"CWO_GC_THRESHOLD={values!r}: expected [gen0, gen1, gen2]")
        ext = cls((values[0], values[1], values[2]))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        gc.freeze()
        logger.debug(
            "GC thresholds %s (were %s); start-up objects frozen", self.threshold, self.previous
        )

    def spider_closed(self) -> None:
        gc.unfreeze()
        gc.set_threshold(*self.previous)
