"""Server errors, dropped connections and 429s: retried into exact output, or reported."""

from __future__ import annotations

import time
from pathlib import Path

from scrapy.utils.defer import deferred_f_from_coro_f
from spider_crawl import as_lines, run_spider, spider_settings

from cwo_scrapy.closing import close_message
from cwo_scrapy.replica import truth
from spiders.fitment import FitmentSpider
from spiders.wheel_size import WheelSizeSpider

SCOPE = {"year": "2021", "make": "Subaru"}


@deferred_f_from_coro_f
async def test_server_errors_and_drops_are_retried_into_exact_output(
    replica_factory, tmp_path: Path
) -> None:
    replica = replica_factory(waf="off")
    replica.control(error_rate=0.05, drop_rate=0.02)
    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False, RETRY_TIMES=8)
    crawler, items = await run_spider(WheelSizeSpider, settings, **SCOPE)
    assert crawler.stats.get_value("finish_reason") == "finished"
    assert crawler.stats.get_value("retry/count", 0) > 0
    assert as_lines(items) == as_lines(
        truth.wheel_size_items(year=2021, make="Subaru", site_url=replica.site_url)
    )


@deferred_f_from_coro_f
async def test_lost_requests_end_the_crawl_as_incomplete(replica_factory, tmp_path: Path) -> None:
    """Without retries some vehicles are lost: the close reason says so (exit code 1)."""
    replica = replica_factory(waf="off")
    replica.control(error_rate=0.1)
    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False, RETRY_ENABLED=False)
    crawler, items = await run_spider(FitmentSpider, settings, **SCOPE)
    assert crawler.stats.get_value("finish_reason") == "incomplete"
    expected = as_lines(truth.fitment_items(year=2021, make="Subaru"))
    got = as_lines(items)
    assert len(got) < len(expected)
    assert set(got) <= set(expected)  # what was scraped is still right


@deferred_f_from_coro_f
async def test_retry_after_pauses_then_retries(replica_factory, tmp_path: Path) -> None:
    """429 + Retry-After: 1 s: requests wait, nothing is lost, the pause shows in the stats."""
    replica = replica_factory(waf="off")
    replica.control(retry_after_rate=0.05, retry_after=1)
    settings = spider_settings(
        replica, tmp_path, CWO_SESSION_ENABLED=False, RETRY_HTTP_CODES=[500]
    )  # 429 is only retried by the Retry-After middleware here
    started = time.monotonic()
    crawler, items = await run_spider(FitmentSpider, settings, **SCOPE)
    assert crawler.stats.get_value("finish_reason") == "finished"
    assert crawler.stats.get_value("cwo/retry_after/count", 0) > 0
    assert crawler.stats.get_value("cwo/retry_after/paused_seconds", 0) >= 1
    assert time.monotonic() - started >= 1
    assert as_lines(items) == as_lines(truth.fitment_items(year=2021, make="Subaru"))


def test_ctrl_c_during_a_retry_after_pause_ends_it_and_drops_the_request(
    replica_factory, tmp_path: Path
) -> None:
    """SIGINT while every slot waits out a 120 s Retry-After: the crawl ends now, sends nothing."""
    import os
    import signal
    import subprocess

    from test_cli import PROJECT_ROOT, SCRAPY, replica_flags

    replica = replica_factory(waf="off")
    replica.control(retry_after_rate=1.0, retry_after=120)
    log = tmp_path / "crawl.log"
    proc = subprocess.Popen(
        [*SCRAPY, "crawl", "fitment", "-a", "year=2021", "-O", str(tmp_path / "o.jsonl"),
         "-s", "CWO_PROFILE=fast", "-s", "CWO_SESSION_ENABLED=False",
         "-s", "RETRY_HTTP_CODES=500", "-s", f"LOG_FILE={log}", *replica_flags(replica)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "pausing slot" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, "the crawl ended before a pause began"
            assert time.monotonic() < deadline, "no pause began"
            time.sleep(0.2)
        requests_before = replica.stats()["requests"]
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=100)  # without the fix: the 120 s pause, then the request
        waited = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "'cwo/retry_after/dropped_on_close'" in text
    assert "Spider closed (shutdown)" in text
    assert replica.stats()["requests"] == requests_before  # the held request was not sent
    assert waited < 100


class SwallowSomeVehicles:
    """A spider middleware that throws away, unread, every 4th vehicle record's callback output.

    Nothing fails and nothing is logged: the vehicle's data simply never appears, the kind of
    silent loss only the discovered/done balance can see.
    """

    def __init__(self) -> None:
        self.seen = 0

    def _swallow(self, response) -> bool:
        if response.meta.get("cwo_level") != "vehicle":
            return False
        self.seen += 1
        return self.seen % 4 == 0

    def process_spider_output(self, response, result):
        return [] if self._swallow(response) else result

    async def process_spider_output_async(self, response, result):
        if self._swallow(response):
            return
        async for item in result:
            yield item


@deferred_f_from_coro_f
async def test_vehicles_lost_without_an_error_end_the_crawl_as_incomplete(
    replica_factory, tmp_path: Path
) -> None:
    """Vehicles discovered but never done (no failure anywhere) still make the crawl end
    ``incomplete`` (exit code 1), with a message that says how many."""
    replica = replica_factory(waf="off")
    settings = spider_settings(
        replica,
        tmp_path,
        CWO_SESSION_ENABLED=False,
        SPIDER_MIDDLEWARES={SwallowSomeVehicles: 1000},
    )
    crawler, items = await run_spider(FitmentSpider, settings, **SCOPE)
    assert crawler.stats.get_value("finish_reason") == "incomplete"
    expected = as_lines(truth.fitment_items(year=2021, make="Subaru"))
    discovered = crawler.stats.get_value("cwo/vehicles_discovered")
    done = crawler.stats.get_value("cwo/vehicles_done")
    assert discovered == len(expected) > done == len(items)
    assert f"{discovered} vehicle(s) discovered but {done} done" in close_message(crawler)
    assert set(as_lines(items)) < set(expected)


@deferred_f_from_coro_f
async def test_every_vehicle_done_with_a_limit_ends_finished(
    replica_factory, tmp_path: Path
) -> None:
    """``limit=N`` stops discovering at N vehicles: N discovered, N done, ``finished``."""
    replica = replica_factory(waf="off")
    settings = spider_settings(replica, tmp_path, CWO_SESSION_ENABLED=False)
    crawler, items = await run_spider(WheelSizeSpider, settings, **SCOPE, limit="3")
    assert crawler.stats.get_value("finish_reason") == "finished"
    assert crawler.stats.get_value("cwo/vehicles_discovered") == 3
    assert crawler.stats.get_value("cwo/vehicles_done") == 3
    assert len(items) == 3
