"""A probe crawl of the replica's WAF-protected pages, through the project's full middleware stack.

``python -m bench.probe_spider CONFIG.json`` runs :class:`ProbeSpider` with the project settings
plus ``config["settings"]`` and writes a JSON report to ``config["result"]``. The spider fetches
``config["urls"]`` (``rounds`` times, all in flight up to the concurrency limit; it closes early
once ``config["stop_file"]`` exists; progress in ``config["status_file"]``) and watches the
session from the outside: which ``aws-waf-token`` / ``PHPSESSID`` values its requests carried
(as one-way fingerprints, never the values), whether each answer was a real page, and the token
of the last request. The stampede, store-write and reliability scenarios use it because store
pages are protected on every request, unlike the fitment API.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import CloseSpider

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import fingerprint  # noqa: E402
from bench.recorder import json_safe  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.crawler import Crawler

TOKEN = "aws-waf-token"
SESSION = "PHPSESSID"


def cookie_values(header: bytes | None) -> dict[str, str]:
    """``name=value`` pairs of a Cookie request header."""
    out: dict[str, str] = {}
    for part in (header or b"").decode("latin-1").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


class ProbeSpider(scrapy.Spider):
    """Fetches protected pages; records what the session looked like on the wire."""

    name = "bench_probe"

    def __init__(
        self,
        urls: list[str],
        rounds: int = 1,
        status_file: str | None = None,
        stop_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stop_file = Path(stop_file) if stop_file else None
        self.urls = urls
        self.rounds = rounds
        self.status_file = Path(status_file) if status_file else None
        self.pages = 0
        self.real_pages = 0
        self.not_real: dict[str, int] = {}
        self.token_fps: list[str] = []
        self.session_fps: list[str] = []
        self.last_token_fp: str | None = None
        self._last_sent = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ProbeSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._sent, signal=signals.request_reached_downloader)
        return spider

    def _sent(self, request: scrapy.Request, spider: scrapy.Spider) -> None:
        cookies = cookie_values(request.headers.get(b"Cookie"))
        for name, seen in ((TOKEN, self.token_fps), (SESSION, self.session_fps)):
            fp = fingerprint(cookies.get(name))
            if fp and fp not in seen:
                seen.append(fp)

    def _request(self, index: int, round_: int) -> scrapy.Request:
        return scrapy.Request(
            self.urls[index],
            callback=self.parse,
            dont_filter=True,
            cb_kwargs={"index": index, "round": round_},
            headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
        )

    async def start(self) -> AsyncIterator[Any]:
        # Each page asks for itself again in the next round: the queue stays as short as the
        # URL list however many rounds are wanted.
        for index in range(len(self.urls)):
            yield self._request(index, 0)

    def parse(self, response: scrapy.http.Response, index: int, round: int) -> Iterator[Any]:
        self.pages += 1
        body = response.body[:16384]
        real = response.status == 200 and b"gokuProps" not in body
        if real:
            self.real_pages += 1
        else:
            key = str(response.status)
            self.not_real[key] = self.not_real.get(key, 0) + 1
        self.last_token_fp = fingerprint(
            cookie_values(response.request.headers.get(b"Cookie")).get(TOKEN)
            if response.request is not None
            else None
        )
        if self.status_file is not None and time.monotonic() - self._last_sent > 0.1:
            self._last_sent = time.monotonic()
            self.status_file.write_text(json.dumps({"pages": self.pages, "pid": os.getpid()}))
            if self.stop_file is not None and self.stop_file.exists():
                raise CloseSpider("stopped")
        if round + 1 < self.rounds:
            yield self._request(index, round + 1)

    def report(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "real_pages": self.real_pages,
            "not_real": self.not_real,
            "token_fingerprints": self.token_fps,
            "session_fingerprints": self.session_fps,
            "last_token_fingerprint": self.last_token_fp,
        }


def main(argv: list[str]) -> int:
    from scrapy.crawler import AsyncCrawlerProcess
    from scrapy.utils.project import get_project_settings

    config = json.loads(Path(argv[1]).read_text())
    os.chdir(ROOT)
    settings = get_project_settings()
    settings.setdict(
        {"ITEM_PIPELINES": {}, "FEEDS": {}, "LOG_LEVEL": "INFO", **config.get("settings", {})},
        priority="cmdline",
    )
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(ProbeSpider)
    process.crawl(
        crawler,
        urls=config["urls"],
        rounds=config.get("rounds", 1),
        status_file=config.get("status_file"),
        stop_file=config.get("stop_file"),
    )
    process.start()
    spider: ProbeSpider = crawler.spider  # type: ignore[assignment]
    report = spider.report()
    report["stats"] = json_safe(crawler.stats.get_stats())
    Path(config["result"]).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
