"""The one way this project ends a crawl early: ``close_crawl(crawler, reason, message)``.

The session middleware, the cluster scheduler, the spiders and the extensions each learn of a
reason to stop in a different place: a callback, an errback, a signal handler, a scheduler that
opens before the spider does. Closing through here gives all of them the same guarantees:

- the first reason wins, later ones are ignored (a crawl has one close reason);
- its one-line message is what ``scrapy crawl`` prints on exit (it must hold no secret);
- closing is scheduled on the engine, never raised, so an errback does not also log the original
  download error with a traceback, and a close asked for before the spider opened waits for
  ``spider_opened`` instead of racing the other components' start-up;
- except from a ``spider_idle`` handler (``idle=True``): there the close is Scrapy's own
  ``CloseSpider`` raised from the handler, so another handler's ``DontCloseSpider`` still keeps
  the spider open (a cluster worker waits for the other workers), and nothing is latched: the
  handler asks again on the next idle signal, and a later non-idle close can still win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.defer import deferred_from_coro

if TYPE_CHECKING:
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Close:
    reason: str
    message: str


_closes: WeakKeyDictionary[Crawler, _Close] = WeakKeyDictionary()
_idle_closes: WeakKeyDictionary[Crawler, _Close] = WeakKeyDictionary()


def close_crawl(crawler: Crawler, reason: str, message: str, *, idle: bool = False) -> bool:
    """Close the crawl with ``reason`` and ``message``; False when a close was already asked for.

    With ``idle=True`` (only from a ``spider_idle`` handler) it raises ``CloseSpider(reason)``
    instead of returning True; see the module docstring.
    """
    if crawler in _closes:
        return False
    if idle:
        previous = _idle_closes.get(crawler)
        if previous is None or previous.message != message:
            logger.error("Closing the crawl when idle (%s): %s", reason, message)
        _idle_closes[crawler] = _Close(reason, message)
        raise CloseSpider(reason)
    _closes[crawler] = _Close(reason, message)
    logger.error("Closing the crawl (%s): %s", reason, message)
    if _opened(crawler):
        _schedule(crawler)
    else:

        def on_opened() -> None:
            _schedule(crawler)

        crawler.signals.connect(on_opened, signal=signals.spider_opened, weak=False)
    return True


def close_reason(crawler: Crawler) -> str | None:
    """The reason a component asked to close with, or None."""
    close = _closes.get(crawler)
    return close.reason if close else None


def close_message(crawler: Crawler) -> str | None:
    """The one-line message of the close a component asked for, or None."""
    close = _closes.get(crawler) or _idle_closes.get(crawler)
    return close.message if close else None


def _engine(crawler: Crawler) -> ExecutionEngine | None:
    try:
        return crawler.engine
    except RuntimeError:  # Scrapy 2.14+: not set before the crawl starts
        return None


def _opened(crawler: Crawler) -> bool:
    engine = _engine(crawler)
    if engine is None or engine.spider is None or getattr(engine, "_slot", None) is None:
        return False
    # CoreStats records the start time in the first spider_opened handler; without CoreStats
    # an engine with a slot is taken as open.
    stats = crawler.stats
    return stats is None or stats.get_value("start_time") is not None or not _has_corestats(crawler)


def _has_corestats(crawler: Crawler) -> bool:
    extensions = getattr(crawler, "extensions", None)
    middlewares = getattr(extensions, "middlewares", ())
    return any(type(m).__name__ == "CoreStats" for m in middlewares)


def _schedule(crawler: Crawler) -> None:
    engine = _engine(crawler)
    close = _closes[crawler]
    if engine is None or engine.spider is None:
        return  # the crawl already ended
    d = deferred_from_coro(engine.close_spider_async(reason=close.reason))
    d.addErrback(lambda failure: logger.debug("Close of the crawl failed: %s", failure.value))
