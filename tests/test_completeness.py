"""The end-of-crawl checks (``cwo_scrapy.completeness``) and idle closes through ``close_crawl``."""

from __future__ import annotations

from typing import Any

import pytest
import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_f_from_coro_f, maybe_deferred_to_future
from scrapy.utils.test import get_crawler

from cwo_scrapy import completeness
from cwo_scrapy.closing import close_crawl, close_message, close_reason
from cwo_scrapy.completeness import Completeness

_QUIET = {"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False}


class _LosesData(scrapy.Spider):
    """Reports one lost request and makes none: the crawl goes idle at once."""

    name = "loses_data"

    async def start(self) -> Any:
        self.crawler.signals.send_catch_log(completeness.failure)
        return
        yield


class _KeepsOpen:
    """Keeps the spider open on its first idle signal, as a cluster worker does while others
    still work, then lets it close."""

    instances: list[_KeepsOpen] = []

    def __init__(self) -> None:
        self.calls = 0
        _KeepsOpen.instances.append(self)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> _KeepsOpen:
        ext = cls()
        crawler.signals.connect(ext.idle, signal=signals.spider_idle)
        return ext

    def idle(self) -> None:
        self.calls += 1
        if self.calls < 2:
            raise DontCloseSpider


@deferred_f_from_coro_f
async def test_lost_data_closes_incomplete_only_once_no_component_keeps_the_crawl_open() -> None:
    """A failure makes the crawl end ``incomplete`` with a message, but another component's
    DontCloseSpider still wins on that idle signal: the close comes on a later one."""
    settings = Settings({**_QUIET, "EXTENSIONS": {Completeness: 0, _KeepsOpen: 1}})
    crawler = Crawler(_LosesData, settings)
    await maybe_deferred_to_future(crawler.crawl())
    assert crawler.stats.get_value("finish_reason") == "incomplete"
    assert _KeepsOpen.instances[-1].calls == 2
    assert "1 failed request(s) or parse error(s)" in (close_message(crawler) or "")


def test_an_idle_close_is_asked_again_each_time_and_a_later_close_can_still_win() -> None:
    crawler = Crawler(_LosesData, Settings(_QUIET))
    for _ in range(2):
        with pytest.raises(CloseSpider) as raised:
            close_crawl(crawler, "incomplete", "some data is missing", idle=True)
        assert raised.value.reason == "incomplete"
    assert close_reason(crawler) is None  # nothing latched
    assert close_message(crawler) == "some data is missing"
    assert close_crawl(crawler, "redis_unreachable", "cannot reach Redis")
    assert close_message(crawler) == "cannot reach Redis"
    assert close_crawl(crawler, "incomplete", "some data is missing", idle=True) is False


class _Scope:
    year, make, model = 2022, "Fordd", None


def test_a_make_no_list_contained_is_named_in_one_line() -> None:
    ext = Completeness(Crawler(_LosesData, Settings(_QUIET)))
    assert ext.scope_problem(_Scope()) == "make='Fordd': not in the site's make list for 2022"
    ext.on_scope_found(field="make")
    assert ext.scope_problem(_Scope()) is None


def test_a_vehicle_listed_twice_is_not_a_missing_vehicle() -> None:
    """A vehicle request the duplicate filter dropped is discovered twice and done once: the
    crawl still ends ``finished``; one discovered and never done ends ``incomplete``."""
    crawler = get_crawler(_LosesData, _QUIET)
    ext = Completeness(crawler)
    spider = _LosesData()
    crawler.stats.set_value("cwo/vehicles_discovered", 3)
    crawler.stats.set_value("cwo/vehicles_done", 2)
    ext.on_dropped(request=scrapy.Request("http://127.0.0.1/v", meta={"cwo_level": "vehicle"}))
    ext.spider_idle(spider)  # balanced: nothing raised
    crawler.stats.set_value("cwo/vehicles_done", 1)
    with pytest.raises(CloseSpider) as raised:
        ext.spider_idle(spider)
    assert raised.value.reason == "incomplete"
    assert "2 vehicle(s) discovered but 1 done" in (close_message(crawler) or "")
