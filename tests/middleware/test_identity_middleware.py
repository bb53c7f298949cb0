"""Every request presents one browser identity, with the session middleware on or off."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from cwo_scrapy import default_settings
from cwo_scrapy.identity import client_hints
from cwo_scrapy.identity_middleware import IdentityMiddleware
from cwo_scrapy.middleware import SessionMiddleware
from cwo_scrapy.resolvers import BYPASS_META
from spiders.fitment import FitmentSpider

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/139.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def _middleware(**settings: object) -> IdentityMiddleware:
    crawler = get_crawler(FitmentSpider, {"CWO_SESSION_ENABLED": False, **settings})
    return IdentityMiddleware.from_crawler(crawler)


def test_with_the_session_off_requests_carry_the_hints_of_the_user_agent_setting() -> None:
    mw = _middleware(USER_AGENT=CHROME)
    request = Request("https://www.customwheeloffset.com/store/wheels")

    mw.process_request(request)

    assert request.headers.get("User-Agent") == CHROME.encode()
    for name, value in client_hints(CHROME).items():
        assert request.headers.get(name) == value.encode(), name
    assert b'v="139"' in request.headers.get("Sec-CH-UA")
    assert request.headers.get("Accept-Language") == b"en-US,en;q=0.9"


def test_a_firefox_user_agent_goes_out_without_chrome_client_hints() -> None:
    mw = _middleware(CWO_USER_AGENT=FIREFOX)
    request = Request("https://www.customwheeloffset.com/")

    mw.process_request(request)

    assert request.headers.get("User-Agent") == FIREFOX.encode()
    assert b"sec-ch-ua" not in {key.lower() for key in request.headers}


def test_the_identity_replaces_a_requests_own_values_and_reads_back_like_any_header() -> None:
    mw = _middleware(USER_AGENT=CHROME)
    request = Request(
        "https://www.customwheeloffset.com/",
        headers={"User-Agent": "curl/8.0", "accept-language": "de", "Accept": "*/*"},
    )

    mw.process_request(request)
    mw.process_request(request)  # a retry passes through again: values replaced, not appended

    assert request.headers.getlist("User-Agent") == [CHROME.encode()]
    assert request.headers.getlist("accept-language") == [b"en-US,en;q=0.9"]
    assert request.headers.get("Accept") == b"*/*"  # not part of the identity: left alone
    copied = request.replace(url="https://www.customwheeloffset.com/store/wheels")
    assert copied.headers.to_unicode_dict()["sec-ch-ua-mobile"] == "?0"


def test_with_the_session_on_the_session_middleware_applies_the_sessions_identity(
    tmp_path,
) -> None:
    crawler = get_crawler(
        FitmentSpider,
        {"CWO_SESSION_FILE": str(tmp_path / "session.json"), "USER_AGENT": CHROME},
    )
    session = SessionMiddleware.from_crawler(crawler)  # built first: priority 585 < 587
    with pytest.raises(NotConfigured):
        IdentityMiddleware.from_crawler(crawler)
    newer = CHROME.replace("139.0.0.0", "141.0.0.0")
    session.identity.set(newer)  # what installing a repaired session does
    request = Request("https://www.customwheeloffset.com/", meta={BYPASS_META: True})

    with pytest.raises(StopIteration):  # no repair in flight: it never suspends
        session.process_request(request).send(None)

    assert request.headers.get("User-Agent") == newer.encode()
    assert b'v="141"' in request.headers.get("sec-ch-ua")
    order = default_settings.DOWNLOADER_MIDDLEWARES
    assert (
        order["cwo_scrapy.identity_middleware.IdentityMiddleware"]
        > order["cwo_scrapy.middleware.SessionMiddleware"]
    )
