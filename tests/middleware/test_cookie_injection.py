"""Persisted cookies reach Scrapy's jar in a form Python's cookiejar really sends back."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.http.cookies import CookieJar
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from cwo_scrapy.addon import CwoAddon
from cwo_scrapy.middleware import SessionMiddleware
from cwo_scrapy.session import SessionState

TOKEN = "0c2a6a4e-1111-4222-8333-944455556666:EQoAf0APpGIKAAAA:AJam3Zm9vYmFyYmF6"
NEW_TOKEN = "7f1d2c3b-aaaa-4bbb-8ccc-ddddeeeeffff:CgoAgqOBFeoQAAAA:UbYXYmF6cXV4"


def middleware(site_url: str, tmp_path: Path) -> tuple[SessionMiddleware, CookieJar]:
    crawler = get_crawler(
        settings_dict={
            "CWO_SITE_URL": site_url,
            "CWO_SESSION_FILE": str(tmp_path / "session.json"),
            "CWO_SESSION_RESOLVER": "static",
            "ADDONS": {CwoAddon: 0},  # the CWO_* defaults, as in any project using the add-on
        }
    )
    mw = build_from_crawler(SessionMiddleware, crawler)
    jar = CookieJar()
    mw.sync.jar = jar  # what spider_opened finds in CookiesMiddleware.jars["cwo"]
    return mw, jar


def cookie_header(jar: CookieJar, url: str) -> str:
    request = Request(url)
    jar.add_cookie_header(request)
    return (request.headers.get(b"Cookie") or b"").decode()


@pytest.mark.parametrize(
    "site_url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://shop.example.com"]
)
def test_stored_cookies_are_sent_to_the_site_over_plain_http(site_url: str, tmp_path: Path):
    """IPs and localhost included (cookiejar drops Domain=localhost and Secure-over-http)."""
    mw, jar = middleware(site_url, tmp_path)
    mw.sync.install(
        SessionState(aws_waf_token=TOKEN, phpsessid="abc123", user_agent="UA"), reset=False
    )

    header = cookie_header(jar, f"{site_url}/store/wheels?year=2020")

    assert f"aws-waf-token={TOKEN}" in header
    assert "PHPSESSID=abc123" in header
    assert cookie_header(jar, "http://other.example.org/") == ""


def test_https_site_gets_secure_host_only_cookies(tmp_path: Path) -> None:
    mw, jar = middleware("https://www.customwheeloffset.com", tmp_path)
    mw.sync.install(SessionState(aws_waf_token=TOKEN, user_agent="UA"), reset=False)

    assert TOKEN in cookie_header(jar, "https://www.customwheeloffset.com/")
    assert cookie_header(jar, "http://www.customwheeloffset.com/") == ""  # never in clear
    assert cookie_header(jar, "https://api.customwheeloffset.com/") == ""  # exact host only
    assert all(cookie.secure and not cookie.domain_specified for cookie in jar)


def test_a_new_token_replaces_the_old_one_instead_of_joining_it(tmp_path: Path) -> None:
    mw, jar = middleware("http://127.0.0.1:8000", tmp_path)
    mw.sync.install(SessionState(aws_waf_token=TOKEN, user_agent="UA"), reset=False)
    mw.sync.install(SessionState(aws_waf_token=NEW_TOKEN, user_agent="UA"), reset=False)

    header = cookie_header(jar, "http://127.0.0.1:8000/")

    assert header == f"aws-waf-token={NEW_TOKEN}"


def test_site_set_cookie_with_a_parent_domain_does_not_duplicate_the_stored_one(
    tmp_path: Path,
) -> None:
    """A PHPSESSID the site scopes to .customwheeloffset.com replaces our host-only copy, and
    the new value is written to the session file."""
    site = "https://www.customwheeloffset.com"
    mw, jar = middleware(site, tmp_path)
    mw.sync.install(SessionState(phpsessid="oldsession", user_agent="UA"), reset=False)
    request = Request(f"{site}/api/ymm-temp.php?type=set")
    response = Response(
        request.url,
        headers={"Set-Cookie": "PHPSESSID=newsession; path=/; domain=.customwheeloffset.com"},
        request=request,
    )
    jar.extract_cookies(response, request)  # what CookiesMiddleware.process_response does

    mw.sync.write_back(response)

    assert cookie_header(jar, f"{site}/store/wheels").count("PHPSESSID=") == 1
    assert "PHPSESSID=newsession" in cookie_header(jar, f"{site}/store/wheels")
    assert mw.store.load().phpsessid == "newsession"


def test_unchanged_cookies_are_not_written_again(tmp_path: Path) -> None:
    """Write-back happens when a value changes, not once per response."""
    site = "http://127.0.0.1:8000"
    mw, _ = middleware(site, tmp_path)
    mw.sync.install(SessionState(user_agent="UA"), reset=False)
    request = Request(f"{site}/")
    answer = Response(request.url, headers={"Set-Cookie": "PHPSESSID=s1; path=/"}, request=request)

    mw.sync.write_back(answer)
    mw.sync.write_back(answer)
    mw.sync.write_back(answer)

    assert mw.store.writes == 1
    assert mw.crawler.stats.get_value("cwo_session/store_writes") == 1


def test_session_retries_use_their_own_budget_not_retry_times(tmp_path: Path) -> None:
    """A session retry goes through Scrapy's get_retry_request (stats cwo_session/retry/*) but
    leaves RetryMiddleware's count alone: network retries and session repairs never eat each
    other's budget."""
    from cwo_scrapy.waf_detect import Verdict

    mw, _ = middleware("https://www.customwheeloffset.com", tmp_path)
    mw.crawler.spider = mw.crawler._create_spider()
    request = Request("https://www.customwheeloffset.com/", meta={"retry_times": 4}, priority=3)

    retry = mw._retry(request, Verdict.CHALLENGE)
    again = mw._retry(retry, Verdict.CHALLENGE)

    assert again.meta["cwo_session_retries"] == 2
    assert again.meta["retry_times"] == 4  # RetryMiddleware's count, untouched
    assert request.meta["retry_times"] == 4
    assert again.priority == 3
    assert again.dont_filter
    stats = mw.crawler.stats
    assert stats.get_value("cwo_session/retry/count") == 2
    assert stats.get_value("cwo_session/retry/reason_count/challenge") == 2
    assert stats.get_value("cwo_session/retries") == 2
