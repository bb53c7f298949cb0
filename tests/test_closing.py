"""``close_crawl``: the first reason wins, and a close asked for before the spider opened waits."""

from __future__ import annotations

from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_f_from_coro_f, maybe_deferred_to_future

from cwo_scrapy.closing import close_crawl, close_message, close_reason

_QUIET = {"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False}


class _Idle(scrapy.Spider):
    """Keeps the crawl open until someone closes it (no requests, never idle-closes)."""

    name = "idle"

    async def start(self) -> Any:
        return
        yield

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> _Idle:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    def idle(self) -> None:
        from scrapy.exceptions import DontCloseSpider

        if close_reason(self.crawler) is None:
            raise DontCloseSpider


class _EarlyCloser:
    """An extension that asks to close before the spider opened, like a failing scheduler."""

    def __init__(self, crawler: Any) -> None:
        self.first = close_crawl(crawler, "first_reason", "the first problem")
        self.second = close_crawl(crawler, "second_reason", "a later problem")

    @classmethod
    def from_crawler(cls, crawler: Any) -> _EarlyCloser:
        return cls(crawler)


@deferred_f_from_coro_f
async def test_a_close_asked_before_the_spider_opened_closes_with_the_first_reason() -> None:
    closed: list[str] = []
    crawler = Crawler(_Idle, Settings({**_QUIET, "EXTENSIONS": {_EarlyCloser: 0}}))
    crawler.signals.connect(
        lambda reason: closed.append(reason), signal=signals.spider_closed, weak=False
    )
    await maybe_deferred_to_future(crawler.crawl())
    assert closed == ["first_reason"]
    assert close_reason(crawler) == "first_reason"
    assert close_message(crawler) == "the first problem"
    assert crawler.extensions.middlewares[-1].second is False


@deferred_f_from_coro_f
async def test_a_close_asked_mid_crawl_ends_the_crawl() -> None:
    closed: list[str] = []

    class _Later(_Idle):
        def idle(self) -> None:
            close_crawl(self.crawler, "mid_crawl", "stopped on purpose")
            super().idle()

    crawler = Crawler(_Later, Settings(_QUIET))
    crawler.signals.connect(
        lambda reason: closed.append(reason), signal=signals.spider_closed, weak=False
    )
    await maybe_deferred_to_future(crawler.crawl())
    assert closed == ["mid_crawl"]
    assert close_message(crawler) == "stopped on purpose"
