"""A real headless Chromium obtains a token from the replica's JavaScript; Scrapy then reuses it.

Playwright's sync API runs in a worker thread (the test thread hosts the asyncio reactor), and
the crawl is a tiny spider run with ``get_crawler`` on that reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
import scrapy
from scrapy import signals
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.internet import threads

from cwo_scrapy.replica.harness import ReplicaProcess
from cwo_scrapy.urls import CwoUrls

pytestmark = pytest.mark.browser

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36 cwo-scrapy-tests"
)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# These tests are about challenge.js and the token cookie; a plain Playwright Chromium (webdriver
# on, UA override without client hints) fails the browser interrogation, which
# tests/middleware/test_browser_identity.py covers.
NO_FINGERPRINT_CHECK = ["--no-fingerprint-check"]
# Counts crypto.subtle SHA-256 calls across the interstitial's reload; optionally hides the
# secure context so challenge.js must use its pure-JS SHA-256.
INIT_SCRIPT = """
(() => {
  if (%(insecure)s) {
    Object.defineProperty(window, "isSecureContext", { get: () => false });
  }
  const subtle = window.crypto && window.crypto.subtle;
  if (subtle) {
    const digest = subtle.digest.bind(subtle);
    subtle.digest = (...args) => {
      const n = Number(sessionStorage.getItem("digest_calls") || 0) + 1;
      sessionStorage.setItem("digest_calls", String(n));
      return digest(...args);
    };
  }
})();
"""


def browser_token(
    chromium: str, url: str, *, captcha: bool = False, pure_js: bool = False
) -> dict[str, Any]:
    """Load ``url`` in Chromium until the real page shows; return the token cookie and facts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(user_agent=UA)
            context.add_init_script(INIT_SCRIPT % {"insecure": "true" if pure_js else "false"})
            page = context.new_page()
            first = page.goto(url)
            assert first is not None
            first_status = first.status
            if captcha:
                assert page.title() == "Human Verification"
                button = page.locator("#amzn-captcha-verify-button")
                button.wait_for(state="visible", timeout=15_000)
                button.click()
            page.wait_for_selector("ol.ymm-list", timeout=30_000)
            cookies = {c["name"]: c for c in context.cookies(url)}
            return {
                "first_status": first_status,
                "cookie": cookies.get("aws-waf-token"),
                "title": page.title(),
                "digest_calls": int(page.evaluate("sessionStorage.getItem('digest_calls') || 0")),
                "user_agent": page.evaluate("navigator.userAgent"),
            }
        finally:
            browser.close()


class ProbeSpider(scrapy.Spider):
    """Fetches given URLs with a token cookie and reports what the WAF answered."""

    name = "probe"

    def __init__(self, urls: list[str], token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.token = token

    async def start(self) -> Any:
        for url in self.urls:
            yield scrapy.Request(
                url,
                cookies={"aws-waf-token": self.token},
                meta={"handle_httpstatus_all": True},
                dont_filter=True,
            )

    def parse(self, response: Response) -> Any:
        yield {
            "url": response.url,
            "status": response.status,
            "waf_action": response.headers.get("x-amzn-waf-action"),
            "years": response.css("ol.ymm-list li.ymm-li::attr(data-value)").getall(),
        }


async def crawl_with_token(rep: ReplicaProcess, token: str, user_agent: str) -> list[dict]:
    urls = CwoUrls(rep.site_url, rep.api_url)
    settings = {
        **rep.settings(),
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }
    crawler = get_crawler(ProbeSpider, settings)
    items: list[dict] = []

    def collect(item: dict) -> None:  # a named function: signal receivers are weak references
        items.append(item)

    crawler.signals.connect(collect, signal=signals.item_scraped)
    await crawler.crawl(urls=[urls.home(), urls.bp(2020)], token=token)
    return items


async def in_thread(fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict:
    return await threads.deferToThread(fn, *args, **kwargs)


@pytest.mark.parametrize("pure_js", [False, True], ids=["crypto.subtle", "pure-js-sha256"])
@pytest_twisted.ensureDeferred
async def test_chromium_solves_the_challenge_and_scrapy_reuses_the_token(
    replica_factory: Callable[..., ReplicaProcess], chromium_path: str, pure_js: bool
) -> None:
    """challenge.js runs in headless Chromium (inputs -> SHA-256 PoW -> verify -> cookie), the
    page reloads to the real content, and Scrapy with the same UA gets 200s with that cookie."""
    rep = replica_factory(waf="challenge", extra_args=NO_FINGERPRINT_CHECK)
    got = await in_thread(browser_token, chromium_path, rep.site_url + "/", pure_js=pure_js)
    assert got["first_status"] == 202
    assert got["user_agent"] == UA
    assert (got["digest_calls"] == 0) is pure_js
    cookie = got["cookie"]
    assert cookie is not None
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain http: a Secure cookie would never reach Scrapy
    assert cookie["domain"] == "127.0.0.1"  # host-only
    stats = rep.stats()
    assert stats["tokens_issued"] == 1
    assert stats["verifies"] == 1

    items = await crawl_with_token(rep, cookie["value"], UA)
    assert sorted(i["status"] for i in items) == [200, 200]
    assert all(i["waf_action"] is None for i in items)
    home = next(i for i in items if i["url"].endswith("/"))
    assert "2020" in home["years"]

    # The same token from another User-Agent is challenged: the binding is real.
    items = await crawl_with_token(rep, cookie["value"], "Mozilla/5.0 SomeoneElse")
    assert {i["status"] for i in items} == {202}


@pytest_twisted.ensureDeferred
async def test_chromium_completes_the_captcha_by_clicking_begin(
    replica_factory: Callable[..., ReplicaProcess], chromium_path: str
) -> None:
    """On the 405 "Human Verification" page a click on Begin yields a voucher, the voucher a
    token with a CAPTCHA timestamp, and Scrapy passes the captcha-mode WAF with it."""
    rep = replica_factory(waf="captcha", extra_args=NO_FINGERPRINT_CHECK)
    got = await in_thread(browser_token, chromium_path, rep.site_url + "/", captcha=True)
    assert got["first_status"] == 405
    assert got["title"] != "Human Verification"
    assert got["cookie"] is not None
    stats = rep.stats()
    assert stats["captcha_solved"] == 1
    assert stats["vouchers"] == 1

    items = await crawl_with_token(rep, got["cookie"]["value"], UA)
    assert sorted(i["status"] for i in items) == [200, 200]
    assert all(i["waf_action"] is None for i in items)
