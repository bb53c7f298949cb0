"""The session middleware's own cost per request, measured in-process (part of the overhead key).

The with/without crawl comparison (``bench.overhead``) is the figure the target is about, but on
a shared VM identical crawls differ by several percent. This measures the middleware's direct
work without that noise: ``process_request`` and ``process_response`` of a
:class:`~cwo_scrapy.middleware.SessionMiddleware` holding a full session (token, PHPSESSID,
User-Agent), on a fitment API request and its 200 JSON answer, as Scrapy drives them (the
coroutines run to completion), best of several repeats. Divided by a crawl's CPU per response it
is the share of the crawl's CPU the middleware's own code takes (Scrapy's dispatch of one more
middleware comes on top and is not included).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any


def _complete(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (the hot path of the middleware) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the middleware suspended on its hot path")


def measure(iterations: int = 20_000, repeats: int = 7) -> dict[str, Any]:
    from scrapy import Request
    from scrapy.http import TextResponse
    from scrapy.http.cookies import CookieJar
    from scrapy.utils.test import get_crawler

    from cwo_scrapy.middleware import SessionMiddleware
    from cwo_scrapy.session import SessionState
    from cwo_scrapy.urls import CwoUrls
    from spiders.fitment import FitmentSpider

    site = "https://www.customwheeloffset.com"
    urls = CwoUrls()
    with tempfile.TemporaryDirectory(prefix="bench-mw-") as d:
        crawler = get_crawler(
            FitmentSpider,
            {
                "CWO_SESSION_FILE": str(Path(d) / "session.json"),
                "CWO_SESSION_SYNC_INTERVAL": 0,
                "ADDONS": {"cwo_scrapy.addon.CwoAddon": 0},
            },
        )
        mw = SessionMiddleware(crawler)
        mw.sync.jar = CookieJar()
        mw.sync.install(
            SessionState(
                aws_waf_token="t" * 318,
                phpsessid="p" * 26,
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/141.0.0.0 Safari/537.36",
                created_at=time.time(),
            ),
            reset=False,
        )
        url = urls.vehicle(2022, "Ford", "F-150", "XLT", "4WD")
        request = Request(
            url,
            headers={"Accept": "application/json, text/plain, */*", "Origin": site},
            meta={"cwo_level": "vehicle"},
        )
        response = TextResponse(
            url,
            status=200,
            headers={"Content-Type": "application/json", "Server": "nginx"},
            body=b'{"data": [{"id": 1}]}',
            request=request,
        )
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(iterations):
                _complete(mw.process_request(request))
                _complete(mw.process_response(request, response))
            best = min(best, time.perf_counter() - started)
    return {
        "middleware_us_per_request": round(best / iterations * 1e6, 2),
        "method": f"process_request + process_response, best of {repeats} x {iterations}",
    }
