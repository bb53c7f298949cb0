"""The ceiling: bare Scrapy fetching a fixed URL list, with Scrapy's defaults only.

``python -m bench.bare URLS_FILE STATS_FILE --concurrency N`` runs a minimal spider with no
project settings at all (no middleware, pipeline or extension of ours, no add-on, no feed): it
requests every URL of the file (the list a fitment crawl recorded) and does nothing with the
answers. Timing uses the same response clock as ``bench.recorder`` so the two crawls are
measured alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.crawler import AsyncCrawlerProcess

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.recorder import ResponseClock, json_safe  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.crawler import Crawler


class BareSpider(scrapy.Spider):
    """Requests each URL once, all at once; ignores the bodies."""

    name = "bare"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.clock = ResponseClock()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> BareSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._received, signal=signals.response_received)
        return spider

    def _opened(self, spider: scrapy.Spider) -> None:
        self.clock = ResponseClock()

    def _received(self, **_: Any) -> None:
        self.clock.tick()

    async def start(self) -> AsyncIterator[Any]:
        for url in self.urls:
            # Non-2xx answers (a 401 from an option list fetched without a session) still count
            # as fetched requests; let them reach the callback instead of an error log line.
            yield scrapy.Request(url, dont_filter=True, meta={"handle_httpstatus_all": True})

    def parse(self, response: scrapy.http.Response) -> None:
        return None


def bare_settings(concurrency: int) -> dict[str, Any]:
    """Scrapy defaults, except the engine knobs the compared crawl also sets.

    ``CONCURRENT_ITEMS`` included: with Scrapy's default of 100 the bare crawl spawns 100
    asyncio tasks per callback output even for an empty one, and would be a ceiling below us.
    """
    from cwo_scrapy import settings as project

    return {
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "CONCURRENT_ITEMS": project.CONCURRENT_ITEMS,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "INFO",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file", type=Path)
    parser.add_argument("stats_file", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    urls = [line.strip() for line in args.urls_file.read_text().splitlines() if line.strip()]
    # Same process-level GC tuning as our crawl (cwo_scrapy.gctune), for a like-for-like ceiling.
    from cwo_scrapy import settings as project

    gc.set_threshold(*project.CWO_GC_THRESHOLD)
    gc.freeze()
    process = AsyncCrawlerProcess(bare_settings(args.concurrency), install_root_handler=True)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, urls=urls)
    process.start()
    spider: BareSpider = crawler.spider  # type: ignore[assignment]
    stats = json_safe(crawler.stats.get_stats())
    stats.update(spider.clock.summary())
    args.stats_file.write_text(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
