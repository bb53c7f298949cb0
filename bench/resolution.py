"""How long one challenge resolution takes with the browser resolver, headless and on Xvfb.

A "fresh" resolution is what the first challenge of a crawl costs: a new ``BrowserResolver``
(Xvfb started for ``virtual``, Chromium launched), the replica's challenge solved with the
session's identity against the fingerprint-checking token service, and everything closed again.
Median of 10 per mode (3 with ``--quick``); target: a median of at most 3 s in both modes. The
"warm" figure is a further resolution on the already running browser (a token renewal mid-crawl).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from typing import Any

from bench.common import cpu_plan, log, replica

MODES = ("headless", "virtual")
SETTING = {"headless": "true", "virtual": "virtual"}
RUNS, QUICK_RUNS = 10, 3
TARGET_S = 3.0
CHROMIUM = "/usr/bin/chromium"


def _context(site_url: str, user_agent: str, headers: dict[str, str]) -> Any:
    from cwo_scrapy.resolvers import ResolveContext

    return ResolveContext(
        page_url=site_url + "/",
        user_agent=user_agent,
        stale_token=None,
        timeout=60.0,
        headers=headers,
    )


def _resolver(mode: str) -> Any:
    from cwo_scrapy.resolvers.browser import BrowserResolver

    return BrowserResolver(CHROMIUM, headless=SETTING[mode], timeout=60.0)


async def _fresh(
    site_url: str, mode: str, user_agent: str, headers: dict[str, str]
) -> tuple[float, float]:
    """Seconds the crawl waits for one resolution by a new resolver (Xvfb and Chromium start
    included), and seconds its close takes afterwards (at the spider's close, not waited for)."""
    ctx = _context(site_url, user_agent, headers)
    started = time.perf_counter()
    resolver = _resolver(mode)
    try:
        await resolver.resolve(ctx)
        resolved = time.perf_counter() - started
    finally:
        closing = time.perf_counter()
        await resolver.close()
    return resolved, time.perf_counter() - closing


async def _warm(
    site_url: str, mode: str, user_agent: str, headers: dict[str, str], n: int
) -> list[float]:
    """Seconds for each of ``n`` resolutions on one running browser (a mid-crawl renewal)."""
    ctx = _context(site_url, user_agent, headers)
    resolver = _resolver(mode)
    times: list[float] = []
    try:
        await resolver.resolve(ctx)  # launch outside the measurement
        for _ in range(n):
            started = time.perf_counter()
            await resolver.resolve(ctx)
            times.append(time.perf_counter() - started)
    finally:
        await resolver.close()
    return times


def run(*, quick: bool = False) -> dict[str, Any]:
    from cwo_scrapy.identity import desktop_chrome_ua, host_os, local_chrome_major, session_headers

    runs = QUICK_RUNS if quick else RUNS
    user_agent = desktop_chrome_ua(host_os(), local_chrome_major(CHROMIUM) or 156)
    headers = session_headers(user_agent)
    modes = [m for m in MODES if m != "virtual" or shutil.which("Xvfb")]
    result: dict[str, Any] = {"runs_per_mode": runs, "target_median_s": TARGET_S, "modes": {}}
    with replica(cpu_plan(), waf="challenge") as rep:
        for mode in modes:
            pairs = [
                asyncio.run(_fresh(rep.site_url, mode, user_agent, headers)) for _ in range(runs)
            ]
            fresh = [resolved for resolved, _ in pairs]
            warm = asyncio.run(_warm(rep.site_url, mode, user_agent, headers, runs))
            median = statistics.median(fresh)
            result["modes"][mode] = {
                "fresh_median_s": round(median, 2),
                "fresh_min_s": round(min(fresh), 2),
                "fresh_max_s": round(max(fresh), 2),
                "close_median_s": round(statistics.median(c for _, c in pairs), 2),
                "warm_median_s": round(statistics.median(warm), 2),
                "meets_target": median <= TARGET_S,
            }
            log(
                f"resolution {mode}: fresh median {median:.2f} s "
                f"(min {min(fresh):.2f}, max {max(fresh):.2f}; close "
                f"{result['modes'][mode]['close_median_s']:.2f} s); warm median "
                f"{statistics.median(warm):.2f} s"
            )
        stats = rep.stats()
    result["tokens_issued"] = stats["tokens_issued"]
    result["fingerprint_refused"] = stats["fingerprint_refused"]
    if stats["fingerprint_refused"]:
        raise RuntimeError(f"the replica refused the resolver: {stats['fingerprint_refused']}")
    return {"resolution": result}
