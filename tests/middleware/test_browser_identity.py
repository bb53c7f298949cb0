"""The browser resolver shows one consistent identity, and the fingerprint-checking WAF believes it.

The replica's ``challenge.js`` reports what the page sees; its token service refuses
inconsistent browsers (``tests/replica/test_fingerprint.py``) and later requests whose client
hints differ from the token's. So a crawl that gets every page proves the browser and Scrapy's
requests told the same story; the deliberately inconsistent set-ups prove the check bites.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from conftest import require_xvfb
from scrapy.utils.defer import deferred_f_from_coro_f
from session_crawl import (
    browser_settings,
    is_real_page,
    run_crawl,
    session_stats,
    site_pages,
)

from cwo_scrapy.identity import chrome_major, is_desktop_chrome, local_chrome_major
from cwo_scrapy.resolvers import ResolutionError, ResolveContext
from cwo_scrapy.resolvers import browser as browser_module
from cwo_scrapy.resolvers.browser import BrowserResolver
from cwo_scrapy.resolvers.display import display_mode

pytestmark = pytest.mark.browser

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.3 Mobile/15E148 Safari/604.1"
)


def _xvfb_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == "Xvfb"]


@pytest.mark.parametrize("mode", ["true", "virtual", "auto"])
@deferred_f_from_coro_f
async def test_the_shipped_identity_passes_the_fingerprint_check(
    mode: str, replica_factory, chromium_path: str, tmp_path: Path, monkeypatch
) -> None:
    if mode != "true":
        require_xvfb()
        monkeypatch.delenv("DISPLAY", raising=False)  # a server: auto means virtual
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    settings = browser_settings(replica, session_file, chromium_path, CWO_BROWSER_HEADLESS=mode)

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 4))

    assert len(items) == 4
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1
    stats = replica.stats()
    assert stats["fingerprint_refused"] == {}  # later requests' client hints agreed too
    stored = json.loads(session_file.read_text())
    ua = stored["user_agent"]
    assert is_desktop_chrome(ua)
    assert chrome_major(ua) == local_chrome_major(chromium_path)
    assert stored["identity_headers"]["sec-ch-ua-mobile"] == "?0"
    seen = stats["last_fingerprint"]
    assert seen["webdriver"] is False
    assert seen["userAgent"] == ua
    assert seen["languages"] == ["en-US", "en"]
    assert seen["screen"]["width"] >= 1280
    assert seen["screen"]["height"] >= 720
    assert 0 < seen["window"]["innerWidth"] <= seen["screen"]["width"]
    assert seen["window"]["innerHeight"] >= 600
    assert not _xvfb_children()  # the virtual display went away with the resolver


def test_auto_means_virtual_on_a_server_and_headless_on_a_desktop() -> None:
    assert display_mode("auto", xvfb="/usr/bin/Xvfb", env={}) == "virtual"
    assert display_mode("auto", xvfb="/usr/bin/Xvfb", env={"DISPLAY": ":0"}) == "headless"
    with pytest.raises(ValueError, match="virtual"):
        display_mode("sometimes")


async def _refused(replica, chromium_path: str, user_agent: str | None = None) -> None:
    resolver = BrowserResolver(chromium_path, headless=True, timeout=8.0)
    ua = user_agent or browser_module.identity.desktop_chrome_ua(
        "linux", local_chrome_major(chromium_path) or 156
    )
    ctx = ResolveContext(
        page_url=replica.site_url + "/", user_agent=ua, stale_token=None, timeout=8.0
    )
    try:
        with pytest.raises(ResolutionError, match="no new token"):
            await resolver.resolve(ctx)
    finally:
        await resolver.close()


@deferred_f_from_coro_f
async def test_a_forced_iphone_ua_in_desktop_chromium_is_refused(
    replica_factory, chromium_path: str
) -> None:
    replica = replica_factory(waf="challenge")
    await _refused(replica, chromium_path, IPHONE)
    stats = replica.stats()
    assert stats["fingerprint_refused"] == {"platform_mismatch": 1}
    assert stats["tokens_issued"] == 0


@deferred_f_from_coro_f
async def test_chromium_with_webdriver_left_on_is_refused(
    replica_factory, chromium_path: str, monkeypatch
) -> None:
    monkeypatch.setattr(browser_module, "IGNORED_DEFAULT_ARGS", [])
    monkeypatch.setattr(
        browser_module,
        "CHROMIUM_ARGS",
        tuple(a for a in browser_module.CHROMIUM_ARGS if "AutomationControlled" not in a),
    )
    replica = replica_factory(waf="challenge")
    await _refused(replica, chromium_path)
    stats = replica.stats()
    assert stats["fingerprint_refused"] == {"webdriver": 1}
    assert stats["tokens_issued"] == 0
