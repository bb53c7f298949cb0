"""The crawl's egress: which proxy a session belongs to, and that its password never shows."""

from __future__ import annotations

import pprint
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from cwo_scrapy.config import problems
from cwo_scrapy.egress import (
    DIRECT,
    Egress,
    EgressAddon,
    EgressTracker,
    SecretUrl,
    crawl_egress,
)
from cwo_scrapy.resolvers.browser import launch_proxy
from cwo_scrapy.resolvers.capsolver import capsolver_proxy
from cwo_scrapy.resolvers.twocaptcha import amazon_task
from cwo_scrapy.session import SessionState
from cwo_scrapy.session.mask import mask_url

SITE = "https://www.customwheeloffset.com"
PASSWORD = "hunter2Secret"
PROXY = f"http://alice-session-42:{PASSWORD}@proxy.example.net:8080"


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (PROXY, "http://alice-session-42:****@proxy.example.net:8080"),
        ("http://proxy:3128", "http://proxy:3128"),
        ("http://u:p@h:1/x?pass=abc&session=7", "http://u:****@h:1/x?pass=****&session=7"),
        ("http://h/?password=1&auth=2", "http://h/?password=****&auth=****"),
    ],
)
def test_mask_url_hides_passwords_but_keeps_what_tells_proxies_apart(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_configured_proxy_wins_over_the_environment(no_env_proxy: pytest.MonkeyPatch) -> None:
    no_env_proxy.setenv("https_proxy", "http://env-proxy:1")
    egress = crawl_egress(Settings({"CWO_PROXY": PROXY}), SITE)
    assert egress.proxy == PROXY
    assert egress.key == "http://alice-session-42:****@proxy.example.net:8080"


def test_environment_proxy_for_the_sites_scheme_is_the_egress(
    no_env_proxy: pytest.MonkeyPatch,
) -> None:
    no_env_proxy.setenv("https_proxy", "http://u:pw@env-proxy:3128")
    assert crawl_egress(Settings(), SITE).key == "http://u:****@env-proxy:3128"
    assert crawl_egress(Settings(), "http://127.0.0.1:8000").key == DIRECT  # http: none set
    assert crawl_egress(Settings({"HTTPPROXY_ENABLED": False}), SITE).key == DIRECT


def test_no_proxy_hosts_go_direct(no_env_proxy: pytest.MonkeyPatch) -> None:
    no_env_proxy.setenv("https_proxy", "http://env-proxy:3128")
    no_env_proxy.setenv("no_proxy", "customwheeloffset.com")
    assert crawl_egress(Settings(), SITE).key == DIRECT


@pytest.mark.parametrize("bad", ["ftp://h:1", "http://h:99999", "http://:1"])
def test_a_bad_cwo_proxy_is_a_one_line_masked_settings_error(bad: str) -> None:
    value = bad.replace("://", f"://u:{PASSWORD}@")
    found = list(problems(Settings({"CWO_PROXY": value})))
    assert len(found) == 1
    assert found[0].startswith("CWO_PROXY: ")
    assert PASSWORD not in found[0]


def test_overridden_settings_log_shows_the_proxy_masked() -> None:
    """Scrapy logs every overridden setting with pprint; the add-on makes that one masked."""
    settings = Settings({"CWO_PROXY": PROXY})
    EgressAddon().update_settings(settings)
    assert isinstance(settings["CWO_PROXY"], SecretUrl)
    assert settings["CWO_PROXY"] == PROXY  # the value itself is intact
    shown = pprint.pformat({"CWO_PROXY": settings["CWO_PROXY"], "X": "y" * 200})
    assert PASSWORD not in shown
    assert "alice-session-42:****@" in shown


def test_egress_repr_scrub_and_aiohttp_arguments() -> None:
    egress = Egress(PROXY)
    assert PASSWORD not in repr(egress)
    assert egress.scrub(f"could not connect to {PROXY}") == (
        "could not connect to http://alice-session-42:****@proxy.example.net:8080"
    )
    plain = egress.aiohttp_request("http://site/", {"User-Agent": "UA"})
    assert plain["proxy"] == "http://proxy.example.net:8080"
    assert plain["headers"]["Proxy-Authorization"].startswith("Basic ")
    tls = egress.aiohttp_request("https://site/", {"User-Agent": "UA"})
    assert "Proxy-Authorization" not in tls["headers"]
    assert tls["proxy_headers"]["Proxy-Authorization"] == plain["headers"]["Proxy-Authorization"]
    assert Egress().aiohttp_request("http://site/", {"A": "b"}) == {"headers": {"A": "b"}}


def test_chromium_is_launched_with_the_proxy_and_loopback_not_bypassed() -> None:
    assert launch_proxy(None) == {}
    option = launch_proxy(PROXY)["proxy"]
    assert option == {
        "server": "http://proxy.example.net:8080",
        "bypass": "<-loopback>",
        "username": "alice-session-42",
        "password": PASSWORD,
    }


def test_capsolver_gets_its_one_string_proxy_form() -> None:
    assert capsolver_proxy(Egress(PROXY)) == (
        f"http:proxy.example.net:8080:alice-session-42:{PASSWORD}"
    )
    assert capsolver_proxy(Egress("http://p:3128")) == "http:p:3128"


INTERSTITIAL = b"""<html><head><script>
window.gokuProps = {"key":"AQIDAHkey","iv":"ivvalue","context":"ctxvalue"};
</script>
<script src="https://tok.example/acct/a/b/challenge.js"></script>
<script src="https://cap.example/captcha/acct/a/b/captcha.js"></script></head></html>"""


def test_twocaptcha_task_carries_gokuprops_scripts_and_proxy_fields() -> None:
    task = amazon_task(INTERSTITIAL, "https://site/page", Egress(PROXY))
    assert task == {
        "type": "AmazonTask",
        "websiteURL": "https://site/page",
        "websiteKey": "AQIDAHkey",
        "iv": "ivvalue",
        "context": "ctxvalue",
        "challengeScript": "https://tok.example/acct/a/b/challenge.js",
        "captchaScript": "https://cap.example/captcha/acct/a/b/captcha.js",
        "proxyType": "http",
        "proxyAddress": "proxy.example.net",
        "proxyPort": 8080,
        "proxyLogin": "alice-session-42",
        "proxyPassword": PASSWORD,
    }
    direct = amazon_task(INTERSTITIAL, "https://site/page", Egress())
    assert direct["type"] == "AmazonTaskProxyless"
    assert not [k for k in direct if k.startswith("proxy")]


def _tracker(**settings: Any) -> EgressTracker:
    crawler = get_crawler(settings_dict=settings)
    crawler.stats = SimpleNamespace(  # type: ignore[assignment]
        values={},
        set_value=lambda k, v: crawler.stats.values.__setitem__(k, v),
        inc_value=lambda k, n=1: crawler.stats.values.__setitem__(
            k, crawler.stats.values.get(k, 0) + n
        ),
    )
    return EgressTracker(crawler, SITE)


def test_cwo_proxy_is_put_on_requests_that_name_no_proxy(no_env_proxy: Any) -> None:
    tracker = _tracker(CWO_PROXY=PROXY)
    request = Request(SITE + "/")
    assert tracker.on_request(request) is False
    assert request.meta["proxy"] == PROXY  # HttpProxyMiddleware turns creds into a header
    other_host = Request("https://api.example/", meta={"proxy": None})
    assert tracker.on_request(other_host) is False  # another host's route is its own
    assert other_host.meta["proxy"] is None
    assert tracker.key != DIRECT
    direct = Request(SITE + "/", meta={"proxy": None})  # a user's middleware: site goes direct
    assert tracker.on_request(direct) is True
    assert tracker.key == DIRECT


def test_a_user_middleware_proxy_becomes_the_sessions_egress(no_env_proxy: Any) -> None:
    tracker = _tracker()
    assert tracker.key == DIRECT
    assert tracker.on_request(Request(SITE, meta={"proxy": "http://u:pw@sticky:1"})) is True
    assert tracker.key == "http://u:****@sticky:1"
    assert tracker.crawler.stats.values["cwo_session/egress"] == tracker.key
    # The same proxy again, or after HttpProxyMiddleware stripped its credentials: no change.
    assert tracker.on_request(Request(SITE, meta={"proxy": "http://u:pw@sticky:1"})) is False
    assert tracker.on_request(Request(SITE, meta={"proxy": "http://sticky:1"})) is False


def test_a_session_of_another_egress_is_foreign_and_a_legacy_one_is_kept(
    no_env_proxy: Any,
) -> None:
    tracker = _tracker(CWO_PROXY=PROXY)
    assert tracker.foreign(SessionState(user_agent="UA", egress="direct")) is True
    assert tracker.crawler.stats.values["cwo_session/egress_mismatch"] == 1
    assert tracker.foreign(SessionState(user_agent="UA", egress=tracker.key)) is False
    assert tracker.foreign(SessionState(user_agent="UA")) is False  # written before egresses
    assert tracker.owns(SessionState(egress="http://other:1")) is False
