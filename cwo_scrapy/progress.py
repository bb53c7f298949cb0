"""A progress line at a fixed interval for long unattended crawls.

``CWO_PROGRESS_INTERVAL`` seconds (default 30, 0 disables) between lines such as::

    Progress: vehicles 812 done / 1,904 discovered, 812 items, 27.1 vehicles/s, ETA 40s

The ETA divides the vehicles discovered but not done by the rate since the crawl started; the
cascade keeps discovering vehicles, so it is a lower bound until the lists are exhausted.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_line(*, discovered: int, done: int, items: int, elapsed: float) -> str:
    """The progress message (pure, for tests)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (discovered - done) / rate if rate > 0 else None
    return (
        f"Progress: vehicles {done:,} done / {discovered:,} discovered, {items:,} items, "
        f"{rate:.1f} vehicles/s, ETA {format_eta(eta)}"
    )


class Progress:
    """Logs :func:`progress_line` every ``CWO_PROGRESS_INTERVAL`` seconds."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.started = time.monotonic()
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = crawler.settings.getfloat("CWO_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured
        ext = cls(crawler, interval)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self.task = create_looping_call(self.log)
        self.task.start(self.interval, now=False)

    def line(self) -> str:
        stats = self.crawler.stats
        return progress_line(
            discovered=stats.get_value("cwo/vehicles_discovered", 0),
            done=stats.get_value("cwo/vehicles_done", 0),
            items=stats.get_value("item_scraped_count", 0),
            elapsed=time.monotonic() - self.started,
        )

    def log(self) -> None:
        logger.info(self.line())

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        logger.info("%s (closed: %s)", self.line(), reason)
