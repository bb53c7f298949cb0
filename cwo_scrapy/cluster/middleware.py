"""Spider middleware of cluster mode: seed once per crawl, and see when a request is finished.

- ``process_start``: only the worker that wins the crawl's seed flag iterates the spider's
  ``async def start()``; the others skip it and consume the shared queue. (scrapy-redis's
  ``RedisSpider`` relied on ``start_requests``, which Scrapy 2.16 removed.)
- ``process_spider_output``: counts the items of each leased request and notes when its
  output is exhausted and its child requests reached the scheduler (see ``tracker.py``);
  strips the lease from child requests (marking them with their parent's instead), so only a
  re-scheduled copy of the same request (retry, redirect) carries a lease.

Placed at order 10, closest to the engine, so it sees the output of every other middleware.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import redis
from scrapy import Request

from cwo_scrapy.cluster.outage import one_line
from cwo_scrapy.cluster.scheduler import REASON_UNREACHABLE, ClusterScheduler
from cwo_scrapy.cluster.tracker import LEASE_KEY, PARENT_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


class ClusterSpiderMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _scheduler(self) -> ClusterScheduler | None:
        scheduler = self.crawler.engine.scheduler if self.crawler.engine else None
        return scheduler if isinstance(scheduler, ClusterScheduler) else None

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        scheduler = self._scheduler()
        if scheduler is None:
            async for item in start:
                yield item
            return
        if not self._claim_seed(scheduler):
            return
        count = 0
        async for item in start:
            count += 1
            yield item
        try:
            scheduler.coord.seed_done()
        except redis.RedisError as exc:
            scheduler.fail(REASON_UNREACHABLE, f"could not record the seeding: {one_line(exc)}")
            return
        logger.info("Cluster: seeded the crawl with %d start requests", count)

    @staticmethod
    def _claim_seed(scheduler: ClusterScheduler) -> bool:
        """True if this worker runs ``start()``: nobody else does, or its seeder died."""
        if scheduler.failed:
            return False
        try:
            verdict = scheduler.coord.claim_seed()
        except redis.RedisError as exc:
            scheduler.fail(REASON_UNREACHABLE, f"could not claim the seeding: {one_line(exc)}")
            return False
        if verdict == "resumed":
            logger.warning("Cluster: the worker seeding this crawl died; seeding again")
        elif verdict == "theirs":
            logger.info("Cluster: another worker seeds this crawl; consuming the shared queue")
        return verdict in ("mine", "resumed")

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        scheduler = self._scheduler()
        lease = response.request.meta.get(LEASE_KEY) if response.request is not None else None
        tracker = scheduler.tracker if scheduler is not None and lease is not None else None
        try:
            async for out in result:
                if isinstance(out, Request):
                    out.meta.pop(LEASE_KEY, None)
                    if tracker is not None:
                        out.meta[PARENT_KEY] = lease
                        tracker.item_started(lease)  # type: ignore[arg-type]
                elif tracker is not None and out is not None:
                    tracker.item_started(lease)  # type: ignore[arg-type]
                yield out
        finally:
            if tracker is not None:
                tracker.output_done(lease)  # type: ignore[arg-type]

    def process_spider_exception(self, response: Response, exception: Exception) -> None:
        scheduler = self._scheduler()
        lease = response.request.meta.get(LEASE_KEY) if response.request is not None else None
        if scheduler is not None and lease is not None:
            scheduler.tracker.output_done(lease)
