"""A small probe spider and crawl helpers for the session middleware's tests.

The spider requests the URLs it is given (one after another, so a test can change the replica
between two requests, or all at once) and records what each answer was, so a test can tell a
real page from a WAF interstitial that slipped through. Runnable as a script for the
multi-process test: ``python session_crawl.py SETTINGS_JSON KWARGS_JSON`` prints the crawl's
stats and item count as one JSON line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.test import get_crawler

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # when run as a script in a subprocess
    sys.path.insert(0, str(PROJECT_ROOT))

from cwo_scrapy import settings as project_settings  # noqa: E402
from cwo_scrapy.urls import CwoUrls  # noqa: E402
from cwo_scrapy.waf_detect import Verdict, classify_response  # noqa: E402

JSON_ACCEPT = {"Accept": "application/json"}


class ProbeSpider(scrapy.Spider):
    """Fetches ``urls``; ``hooks[i]`` runs after the i-th answer (e.g. turn the WAF on)."""

    name = "session_probe"

    def __init__(
        self,
        urls: Iterable[str | tuple[str, dict[str, str]]] = (),
        chained: bool = True,
        hooks: dict[int, Callable[[], None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.targets = [(u, {}) if isinstance(u, str) else (u[0], dict(u[1])) for u in urls]
        self.chained = chained
        self.hooks = hooks or {}

    def _request(self, index: int) -> scrapy.Request:
        url, headers = self.targets[index]
        return scrapy.Request(
            url, headers=headers, callback=self.parse, cb_kwargs={"index": index}, dont_filter=True
        )

    async def start(self) -> Any:
        if not self.targets:
            return
        if self.chained:
            yield self._request(0)
        else:
            for index in range(len(self.targets)):
                yield self._request(index)

    def parse(self, response: scrapy.http.Response, index: int) -> Any:
        yield {
            "index": index,
            "url": response.url,
            "status": response.status,
            "verdict": classify_response(response).value,
            "interstitial": b"gokuProps" in response.body[:8192],
        }
        hook = self.hooks.get(index)
        if hook is not None:
            hook()
        if self.chained and index + 1 < len(self.targets):
            yield self._request(index + 1)


def project_defaults() -> dict[str, Any]:
    return {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}


def crawl_settings(replica: Any, session_file: Path | str, **overrides: Any) -> dict[str, Any]:
    """The project's settings pointed at ``replica``, tuned for fast, deterministic tests."""
    settings = project_defaults()
    settings.update(replica.settings())
    settings.update(
        CWO_SESSION_FILE=str(session_file),
        CWO_CAPTCHA_RESOLVER="capsolver",
        CWO_CAPSOLVER_API_KEY="test-client-key",
        CWO_CAPSOLVER_POLL_INTERVAL=0.1,
        CWO_RESOLVER_TIMEOUT=30.0,
        DOWNLOAD_DELAY=0,
        AUTOTHROTTLE_ENABLED=False,
        CONCURRENT_REQUESTS=8,
        CONCURRENT_REQUESTS_PER_DOMAIN=8,
        RETRY_TIMES=1,
        ITEM_PIPELINES={},
        EXTENSIONS={},
        LOG_LEVEL="DEBUG",
    )
    settings.update(overrides)
    return settings


def browser_settings(
    replica: Any, session_file: Path | str, chromium_path: str, **overrides: Any
) -> dict[str, Any]:
    """:func:`crawl_settings` with the ``browser`` resolver running the local Chromium."""
    return crawl_settings(
        replica,
        session_file,
        CWO_CAPTCHA_RESOLVER="browser",
        CWO_BROWSER_EXECUTABLE=chromium_path,
        CWO_RESOLVER_TIMEOUT=60.0,
        **overrides,
    )


def site_pages(replica: Any, count: int, start_year: int = 2024) -> list[str]:
    """``count`` distinct protected HTML pages of the replica's site."""
    urls = CwoUrls(replica.site_url, replica.api_url)
    return [urls.home()] + [urls.bp(year=start_year - i) for i in range(count - 1)]


async def run_crawl(settings: dict[str, Any], **spider_kwargs: Any) -> tuple[Crawler, list[dict]]:
    """Run ProbeSpider to completion in this process; returns the crawler and its items."""
    crawler = get_crawler(ProbeSpider, settings)
    items: list[dict[str, Any]] = []

    def collect(item: dict[str, Any]) -> None:
        items.append(item)

    crawler.signals.connect(collect, signal=signals.item_scraped, weak=False)
    await maybe_deferred_to_future(crawler.crawl(**spider_kwargs))
    return crawler, items


def session_stats(crawler: Crawler) -> dict[str, Any]:
    """The ``cwo_session/...`` stats without their prefix."""
    return {
        key.removeprefix("cwo_session/"): value
        for key, value in crawler.stats.get_stats().items()
        if key.startswith("cwo_session/")
    }


def is_real_page(item: dict[str, Any]) -> bool:
    return (
        item["status"] == 200 and item["verdict"] == Verdict.NONE.value and not item["interstitial"]
    )


def _main(argv: list[str]) -> int:
    """Subprocess entry point: one crawl, stats and item count printed as JSON."""
    from scrapy.crawler import AsyncCrawlerProcess

    settings = json.loads(argv[1])
    kwargs = json.loads(argv[2])
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(ProbeSpider)
    items: list[dict[str, Any]] = []

    def collect(item: dict[str, Any]) -> None:
        items.append(item)

    crawler.signals.connect(collect, signal=signals.item_scraped, weak=False)
    process.crawl(crawler, **kwargs)
    process.start()
    stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, int | float | str)}
    good = sum(1 for item in items if is_real_page(item))
    print(json.dumps({"stats": stats, "items": len(items), "real_pages": good}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))


class HangingResolver:
    """A resolver that never answers: the middleware's timeout must still end the crawl."""

    timeout = 0.5

    async def resolve(self, ctx: Any) -> Any:
        import asyncio

        await asyncio.Event().wait()

    async def close(self) -> None:
        """Nothing to release."""


def seed_session(
    session_file: Path, user_agent: str, token: str | None = None, *, age: float = 0.0
) -> None:
    """Write a session file the way a previous run ``age`` seconds ago would have."""
    import time

    from cwo_scrapy.session import open_store

    then = time.time() - age
    open_store("json", str(session_file)).update(
        user_agent=user_agent,
        created_at=then,
        aws_waf_token=token,
        token_obtained_at=then if token else None,
    )
