"""Honour ``Retry-After`` on 429: pause the download slot, then retry (bounded).

Scrapy's ``RetryMiddleware`` retries a 429 at once, which hammers a site that asked us to wait.
This middleware sits just after it in the response chain (order 555 > 550): it parses
``Retry-After`` (seconds or an HTTP date), clamps it to ``CWO_RETRY_AFTER_MAX`` (default 120 s),
holds back every request of that download slot for that long, and returns a retry of the
request, at most ``CWO_RETRY_AFTER_TIMES`` (default 5) times. A 429 without ``Retry-After``
is left to ``RetryMiddleware``. Stats: ``cwo/retry_after/count``, ``.../max_reached``,
``cwo/retry_after/paused_seconds``.

When the engine starts closing during a pause (Ctrl-C, or a component closing the crawl), the
pause ends at once: the requests held in the paused slots are dropped (``IgnoreRequest``,
stat ``cwo/retry_after/dropped_on_close``) instead of being sent after the wait. The engine
has no "closing" signal, so a 0.25 s check runs while a pause is active.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest, NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

CLOSE_CHECK_INTERVAL = 0.25  # seconds between checks for a closing engine during a pause


def parse_retry_after(value: str | bytes | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or ``None`` if absent or unreadable."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryAfterMiddleware:
    """Pauses the slot that got a 429 for the time the server asked, then retries."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("CWO_RETRY_AFTER_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.max_wait = settings.getfloat("CWO_RETRY_AFTER_MAX")
        self.max_times = settings.getint("CWO_RETRY_AFTER_TIMES")
        self._restore: dict[str, Any] = {}
        self._watch: Any = None  # LoopingCall while a pause is active

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status != 429 or request.meta.get("dont_retry"):
            return response
        wait = parse_retry_after(response.headers.get(b"Retry-After"))
        if wait is None:
            return response
        wait = min(wait, self.max_wait)
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason="429_retry_after",
            max_retry_times=self.max_times,
            stats_base_key="cwo/retry_after",
        )
        if retry is None:
            return response
        self._pause_slot(request, wait)
        return retry

    def _pause_slot(self, request: Request, wait: float) -> None:
        """Hold the slot: set its delay to ``wait`` from now, restore the old delay afterwards."""
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        if slot is None:
            return
        stats = self.crawler.stats
        stats.inc_value("cwo/retry_after/paused_seconds", wait)
        original = self._restore.get(key, {}).get("delay", slot.delay)
        slot.delay = max(wait, original)
        slot.lastseen = time.monotonic()  # the downloader's clock
        logger.info("429 from %s: pausing slot %s for %.1fs", request.url, key, wait)
        handle = self._restore.get(key, {}).get("handle")
        if handle is not None and handle.active():
            handle.cancel()
        from twisted.internet import reactor

        def restore() -> None:
            slot.delay = original
            self._restore.pop(key, None)

        self._restore[key] = {"delay": original, "handle": reactor.callLater(wait, restore)}
        self._watch_for_close()

    def _watch_for_close(self) -> None:
        if self._watch is not None and self._watch.running:
            return
        from twisted.internet.task import LoopingCall

        self._watch = LoopingCall(self._check_closing)
        self._watch.start(CLOSE_CHECK_INTERVAL, now=False)

    def _check_closing(self) -> None:
        if not self._restore:
            self._watch.stop()
            return
        if engine_closing(self.crawler):
            self._watch.stop()
            self.end_pauses()

    def end_pauses(self) -> None:
        """End every pause now and drop the requests they held (the engine is closing)."""
        downloader = self.crawler.engine.downloader
        dropped = 0
        for key, entry in list(self._restore.items()):
            handle = entry.get("handle")
            if handle is not None and handle.active():
                handle.cancel()
            self._restore.pop(key, None)
            slot = downloader.slots.get(key)
            if slot is None:
                continue
            slot.delay = entry["delay"]
            held = list(slot.queue)
            slot.queue.clear()
            for request, deferred in held:
                dropped += 1
                deferred.errback(
                    IgnoreRequest(f"crawl closing during a Retry-After pause: {request}")
                )
        if dropped:
            self.crawler.stats.inc_value("cwo/retry_after/dropped_on_close", dropped)
            logger.info(
                "Crawl closing: ended the Retry-After pause, dropped %d request(s)", dropped
            )


def engine_closing(crawler: Crawler) -> bool:
    """Is the engine stopping or closing the spider? (Scrapy has no signal for this.)"""
    engine = crawler.engine
    if engine is None:
        return True
    slot = getattr(engine, "_slot", None)
    return not engine.running or (slot is not None and slot.closing is not None)
