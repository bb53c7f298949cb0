"""A bench-only Scrapy extension: the crawl's stats, response timing and URL list, as files.

Enabled by the benchmarks through ``-s EXTENSIONS=...`` (never by the project settings):

- ``BENCH_STATS_FILE``: at ``spider_closed``, the crawl's stats (JSON-safe) plus timing:
  ``bench/responses``, ``bench/requests_per_s`` (first -> last response), ``bench/active_s``
  (spider opened -> last response) and, with
  ``BENCH_TIMELINE_EVERY=N``, ``bench/timeline``: the monotonic time of every N-th response,
  relative to the spider opening (per-request cost over the crawl's course);
- ``BENCH_URLS_FILE``: every downloaded request's URL, one a line, in response order (the URL
  list the bare-Scrapy ceiling run fetches).

The per-response handler is a counter and one clock read, so it costs the same in every run it
is compared across (the bare spider connects the same handler, see ``bench.bare``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import IO, Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response


def json_safe(value: Any) -> Any:
    """Stats values as JSON: datetimes to ISO strings, anything odd to its repr."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


class ResponseClock:
    """Counts responses and keeps the time of every ``every``-th one (bounded memory)."""

    def __init__(self, every: int = 0) -> None:
        self.every = every
        self.opened = time.monotonic()
        self.first: float | None = None
        self.last = self.opened
        # Process CPU time at the first and the last response: the steady window's CPU cost,
        # which a busy neighbour on a shared VM disturbs far less than the wall-clock rate.
        self.first_cpu = 0.0
        self.last_cpu = 0.0
        self.count = 0
        self.timeline = array("d")

    def tick(self) -> None:
        now = time.monotonic()
        cpu = time.process_time()
        if self.first is None:
            self.first = now
            self.first_cpu = cpu
        self.last = now
        self.last_cpu = cpu
        self.count += 1
        if self.every and self.count % self.every == 0:
            self.timeline.append(now - self.opened)

    @property
    def steady_rate(self) -> float:
        """Responses per second between the first and the last response.

        Start-up (spider opening, session loading, the first request's round trip) is left
        out, so the rate compares the per-request work of two crawls of the same URLs.
        """
        if self.first is None or self.count < 2 or self.last <= self.first:
            return 0.0
        return (self.count - 1) / (self.last - self.first)

    @property
    def cpu_ms_per_response(self) -> float:
        """Crawler CPU milliseconds per response over the same window as :attr:`steady_rate`."""
        if self.count < 2:
            return 0.0
        return (self.last_cpu - self.first_cpu) * 1000.0 / (self.count - 1)

    def summary(self) -> dict[str, Any]:
        return {
            "bench/responses": self.count,
            "bench/requests_per_s": self.steady_rate,
            "bench/cpu_ms_per_response": self.cpu_ms_per_response,
            "bench/cpu_busy": (
                (self.last_cpu - self.first_cpu) / (self.last - self.first)
                if self.first is not None and self.last > self.first
                else 0.0
            ),
            "bench/first_response_s": (self.first or self.opened) - self.opened,
            "bench/active_s": self.last - self.opened,
            "bench/timeline_every": self.every,
            # CLOCK_MONOTONIC is system-wide: timelines of concurrent crawls can be aligned.
            "bench/opened_monotonic": self.opened,
            "bench/timeline": [round(t, 4) for t in self.timeline],
        }


class BenchRecorder:
    """See the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        stats_file = settings.get("BENCH_STATS_FILE")
        urls_file = settings.get("BENCH_URLS_FILE")
        if not stats_file and not urls_file:
            raise NotConfigured("no BENCH_STATS_FILE / BENCH_URLS_FILE")
        self.stats_file = Path(stats_file) if stats_file else None
        self.clock = ResponseClock(settings.getint("BENCH_TIMELINE_EVERY", 0))
        self._urls: IO[str] | None = Path(urls_file).open("w") if urls_file else None  # noqa: SIM115
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.response_received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        self.clock = ResponseClock(self.clock.every)

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        self.clock.tick()
        if self._urls is not None:
            self._urls.write(request.url + "\n")

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self._urls is not None:
            self._urls.close()
        if self.stats_file is None:
            return
        stats = json_safe(self.crawler.stats.get_stats())
        stats.update(self.clock.summary())
        stats["bench/close_reason"] = reason
        self.stats_file.parent.mkdir(parents=True, exist_ok=True)
        self.stats_file.write_text(json.dumps(stats))
