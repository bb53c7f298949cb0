"""Crawls through a real proxy (Debian's tinyproxy, egress 127.0.0.2) against a replica that
binds every token to the client IP that earned it (``--ip-binding``): each resolver earns the
token through the crawl's proxy, and a session earned elsewhere is not replayed through it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f
from spider_crawl import PROJECT_ROOT, as_lines, cwo_stats, run_spider, spider_settings

from cwo_scrapy.replica import truth
from cwo_scrapy.session import open_store
from cwo_scrapy.settings import FAKEUSERAGENT_FALLBACK as UA
from spiders.fitment import FitmentSpider

YEAR, MAKE = 2022, "Lamborghini"  # six vehicles: a whole cascade, quickly
PROXY_USER, PROXY_PASSWORD = "crawler", "Tp9xQ2vLm7sEcReT"
RESOLVERS = ["browser", "capsolver", "twocaptcha"]


def resolver_settings(resolver: str, chromium: str | None) -> dict[str, Any]:
    if resolver == "browser":
        return {"CWO_CAPTCHA_RESOLVER": "browser", "CWO_BROWSER_EXECUTABLE": chromium}
    if resolver == "twocaptcha":
        return {
            "CWO_CAPTCHA_RESOLVER": "twocaptcha",
            "CWO_TWOCAPTCHA_API_KEY": "test-2captcha-key",
            "CWO_TWOCAPTCHA_POLL_INTERVAL": 0.1,
        }
    return {"CWO_CAPTCHA_RESOLVER": "capsolver"}


@pytest.fixture(params=RESOLVERS)
def resolver(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    name = request.param
    chromium = None
    if name == "browser":
        chromium = request.getfixturevalue("chromium_path")
    return name, chromium


def truth_lines() -> list[str]:
    return as_lines(truth.fitment_items(year=YEAR, make=MAKE))


def assert_no_password(*texts: str) -> None:
    for text in texts:
        assert PROXY_PASSWORD not in text


def cleansession_status(session_file: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("scrapy")),
            "cleansession",
            "--status",
            "-s",
            f"CWO_SESSION_FILE={session_file}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@deferred_f_from_coro_f
async def test_crawl_through_a_proxy_earns_its_token_through_that_proxy(
    replica_factory, tinyproxy_factory, resolver, tmp_path: Path, caplog
) -> None:
    """Every item equals the truth with one resolution and no IP refusal: the browser, CapSolver
    and 2Captcha all earned the token from the proxy's IP. The proxy password shows nowhere."""
    name, chromium = resolver
    replica = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    proxy = tinyproxy_factory(auth=(PROXY_USER, PROXY_PASSWORD))
    settings = spider_settings(
        replica,
        tmp_path,
        CWO_PROXY=proxy.url,
        CWO_RESOLVER_TIMEOUT=60.0,
        LOG_LEVEL="DEBUG",
        **resolver_settings(name, chromium),
    )
    caplog.set_level(logging.DEBUG)

    crawler, items = await run_spider(FitmentSpider, settings, year=str(YEAR), make=MAKE)

    stats = cwo_stats(crawler)
    assert as_lines(items) == truth_lines(), stats
    assert stats["cwo_session/resolutions"] == 1, stats
    replica_stats = replica.stats()
    assert replica_stats["challenges"] >= 1
    assert replica_stats["ip_refused"] == 0, replica_stats  # nothing earned from 127.0.0.1
    assert "GET http://127.0.0.1" in proxy.log()  # the crawl really went through tinyproxy
    masked = f"http://{PROXY_USER}:****@127.0.0.1:{proxy.port}"
    assert stats["cwo_session/egress"] == masked
    session_file = tmp_path / "session.json"
    assert json.loads(session_file.read_text())["egress"] == masked
    status = cleansession_status(session_file)
    assert masked in status
    assert_no_password(
        caplog.text,
        json.dumps(crawler.stats.get_stats(), default=str),
        session_file.read_text(),
        status,
    )


@deferred_f_from_coro_f
async def test_session_earned_direct_is_not_replayed_through_a_proxy(
    replica_factory, tinyproxy_factory, resolver, tmp_path: Path, caplog
) -> None:
    """A session file whose token was earned direct (127.0.0.1) and is then used through the
    proxy starts a fresh session (one INFO line) instead of looping on refused tokens."""
    name, chromium = resolver
    replica = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    proxy = tinyproxy_factory()
    session_file = tmp_path / "session.json"
    open_store("json", str(session_file)).update(
        user_agent=UA,
        aws_waf_token=replica.mint_token(UA),  # earned from 127.0.0.1
        egress="direct",
    )
    settings = spider_settings(
        replica,
        tmp_path,
        CWO_PROXY=proxy.url,
        CWO_RESOLVER_TIMEOUT=60.0,
        **resolver_settings(name, chromium),
    )
    caplog.set_level(logging.INFO)

    crawler, items = await run_spider(FitmentSpider, settings, year=str(YEAR), make=MAKE)

    stats = cwo_stats(crawler)
    assert as_lines(items) == truth_lines(), stats
    assert stats["cwo_session/egress_mismatch"] == 1
    assert stats["cwo_session/resolutions"] == 1, stats
    assert replica.stats()["ip_refused"] == 0  # the direct token was never sent through it
    fresh = [r for r in caplog.records if "earned through direct" in r.getMessage()]
    assert len(fresh) == 1
    assert fresh[0].levelno == logging.INFO
    assert json.loads(session_file.read_text())["egress"] == proxy.endpoint


@deferred_f_from_coro_f
async def test_token_of_unknown_origin_refused_through_a_proxy_is_renewed_once(
    replica_factory, tinyproxy_factory, tmp_path: Path
) -> None:
    """A session file of an older version (no egress recorded) holding a direct token: the
    replica refuses it from the proxy's IP, counts the refusal, and one resolution through the
    proxy repairs the session."""
    replica = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    proxy = tinyproxy_factory()
    session_file = tmp_path / "session.json"
    open_store("json", str(session_file)).update(
        user_agent=UA, aws_waf_token=replica.mint_token(UA)
    )
    settings = spider_settings(replica, tmp_path, CWO_PROXY=proxy.url)

    crawler, items = await run_spider(FitmentSpider, settings, year=str(YEAR), make=MAKE)

    assert as_lines(items) == truth_lines()
    assert cwo_stats(crawler)["cwo_session/resolutions"] == 1
    replica_stats = replica.stats()
    assert replica_stats["ip_refused"] >= 1
    assert replica_stats["rejected_tokens"]["ip_mismatch"] >= 1


@deferred_f_from_coro_f
async def test_environment_proxy_is_the_egress_too(
    replica_factory, tinyproxy_factory, tmp_path: Path, monkeypatch, caplog
) -> None:
    """``http_proxy`` in the environment (Scrapy's HttpProxyMiddleware) is the session's egress:
    the CapSolver task gets it, and its password is masked in logs and stats."""
    replica = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    proxy = tinyproxy_factory(auth=(PROXY_USER, PROXY_PASSWORD))
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)

    crawler, items = await run_spider(
        FitmentSpider, spider_settings(replica, tmp_path), year=str(YEAR), make=MAKE
    )

    stats = cwo_stats(crawler)
    assert as_lines(items) == truth_lines()
    assert stats["cwo_session/egress"] == f"http://{PROXY_USER}:****@127.0.0.1:{proxy.port}"
    assert replica.stats()["ip_refused"] == 0
    assert_no_password(caplog.text, json.dumps(crawler.stats.get_stats(), default=str))


@deferred_f_from_coro_f
async def test_wrong_proxy_password_fails_without_showing_it(
    replica_factory, tinyproxy_factory, tmp_path: Path, caplog
) -> None:
    """A proxy that refuses the credentials: the crawl fails visibly, and neither the errors nor
    the logs nor the stats show the password that was tried."""
    replica = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    proxy = tinyproxy_factory(auth=(PROXY_USER, "TheRightOne42"))
    settings = spider_settings(
        replica,
        tmp_path,
        CWO_PROXY=f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}",
        CWO_SESSION_MAX_FAILED_RESOLUTIONS=1,
    )
    caplog.set_level(logging.DEBUG)

    crawler, items = await run_spider(FitmentSpider, settings, year=str(YEAR), make=MAKE)

    assert items == []
    assert_no_password(caplog.text, json.dumps(crawler.stats.get_stats(), default=str))


class StickyProxyMiddleware:
    """What a user's proxy middleware does: every request through one (sticky) proxy."""

    url = ""

    def process_request(self, request: Any) -> None:
        request.meta.setdefault("proxy", self.url)


@deferred_f_from_coro_f
async def test_proxy_set_by_a_users_middleware_is_the_sessions_egress(
    replica_factory, tinyproxy_factory, tmp_path: Path, caplog
) -> None:
    """``meta["proxy"]`` set by a user's middleware (priority below 585): the session follows
    it, CapSolver earns the token through it, and the data is exact."""
    replica = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    proxy = tinyproxy_factory(auth=(PROXY_USER, PROXY_PASSWORD))
    StickyProxyMiddleware.url = proxy.url
    settings = spider_settings(
        replica,
        tmp_path,
        DOWNLOADER_MIDDLEWARES={
            "cwo_scrapy.middleware.SessionMiddleware": 585,
            "cwo_scrapy.retry_after.RetryAfterMiddleware": 555,
            StickyProxyMiddleware: 500,
        },
    )
    caplog.set_level(logging.DEBUG)

    crawler, items = await run_spider(FitmentSpider, settings, year=str(YEAR), make=MAKE)

    stats = cwo_stats(crawler)
    assert as_lines(items) == truth_lines(), stats
    assert stats["cwo_session/egress"] == f"http://{PROXY_USER}:****@127.0.0.1:{proxy.port}"
    assert stats["cwo_session/resolutions"] == 1
    assert replica.stats()["ip_refused"] == 0
    assert_no_password(caplog.text, json.dumps(crawler.stats.get_stats(), default=str))
