"""One browser identity per session: a desktop Chrome UA and exactly what Chrome sends with it."""

from __future__ import annotations

import logging

import pytest
from scrapy.settings import Settings
from test_useragent import project_settings

from cwo_scrapy import identity
from cwo_scrapy.identity import (
    DesktopChromeProvider,
    chrome_major,
    client_hints,
    is_desktop_chrome,
    local_chrome_major,
    new_identity,
    os_of,
    pinned_user_agent,
    user_agent_override,
)
from cwo_scrapy.session import SessionState

CHROMIUM = "/usr/bin/chromium"


class MobileProvider:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def get_random_ua(self) -> str:
        return (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/135.0.0.0 Mobile Safari/537.36"
        )


@pytest.mark.parametrize(
    ("major", "sec_ch_ua"),
    [  # what Google Chrome sent, as recorded from real browsers
        (120, '"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"'),
        (124, '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
        (131, '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    ],
)
def test_client_hints_are_those_google_chrome_sends(major: int, sec_ch_ua: str) -> None:
    ua = identity.desktop_chrome_ua("windows", major)
    assert client_hints(ua) == {
        "sec-ch-ua": sec_ch_ua,
        "sec-ch-ua-mobile": "?0",
        "sec-ch-ua-platform": '"Windows"',
    }


def test_a_non_chrome_user_agent_sends_no_client_hints() -> None:
    assert (
        client_hints("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0") == {}
    )


@pytest.mark.parametrize(
    ("os_name", "platform", "ch_platform"),
    [
        ("windows", "Win32", "Windows"),
        ("macos", "MacIntel", "macOS"),
        ("linux", "Linux x86_64", "Linux"),
    ],
)
def test_the_browser_override_makes_platform_and_user_agent_data_fit_the_ua(
    os_name: str, platform: str, ch_platform: str
) -> None:
    ua = identity.desktop_chrome_ua(os_name, 156)
    params = user_agent_override(ua, None)
    assert params["userAgent"] == ua
    assert params["platform"] == platform
    meta = params["userAgentMetadata"]
    assert meta["platform"] == ch_platform
    assert meta["mobile"] is False
    assert {b["version"] for b in meta["brands"] if "Chrom" in b["brand"]} == {"156"}
    assert params["acceptLanguage"].split(",")[0] == identity.ACCEPT_LANGUAGE.split(",")[0]


def test_the_browser_resolver_draws_desktop_chrome_at_the_local_chromium_major() -> None:
    settings = project_settings(CWO_BROWSER_EXECUTABLE=CHROMIUM, CWO_USER_AGENT_OS="any")
    local = local_chrome_major(CHROMIUM)
    if local is None:
        pytest.skip("no local Chromium to match")
    provider = DesktopChromeProvider(settings)
    agents = [provider.get_random_ua() for _ in range(300)]
    assert all(is_desktop_chrome(ua) for ua in agents), agents
    assert {chrome_major(ua) for ua in agents} == {local}
    assert not any("HeadlessChrome" in ua or "Mobile" in ua for ua in agents)
    assert {os_of(ua) for ua in agents} <= {"windows", "macos", "linux"}
    assert len({os_of(ua) for ua in agents}) > 1  # "any" draws with fake-useragent's shares


def test_other_resolvers_draw_within_two_majors_on_the_host_os_by_default() -> None:
    settings = project_settings(CWO_CAPTCHA_RESOLVER="capsolver")
    provider = DesktopChromeProvider(settings)
    agents = [provider.get_random_ua() for _ in range(100)]
    assert all(is_desktop_chrome(ua) for ua in agents)
    assert all(provider.major - 2 <= (chrome_major(ua) or 0) <= provider.major for ua in agents)
    assert {os_of(ua) for ua in agents} == {identity.host_os()}


def test_a_provider_giving_a_mobile_ua_is_overruled_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = project_settings(
        FAKEUSERAGENT_PROVIDERS=[f"{__name__}.MobileProvider"], CWO_BROWSER_EXECUTABLE=CHROMIUM
    )
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.identity"):
        ua, headers = new_identity(settings)
    assert is_desktop_chrome(ua)
    assert "not a desktop Chrome UA" in caplog.text
    assert headers["sec-ch-ua-mobile"] == "?0"
    assert headers["accept-language"] == identity.ACCEPT_LANGUAGE


def test_cwo_user_agent_and_an_explicit_user_agent_pin_the_session_ua() -> None:
    pinned = "Mozilla/5.0 (Pasted) Chrome/150.0.0.0 Safari/537.36"
    assert pinned_user_agent(project_settings(CWO_USER_AGENT=pinned)) == pinned
    assert pinned_user_agent(project_settings(USER_AGENT=pinned)) == pinned  # -s USER_AGENT=...
    assert pinned_user_agent(project_settings()) is None  # the shipped USER_AGENT pins nothing
    assert pinned_user_agent(Settings()) is None  # nor does Scrapy's own
    assert new_identity(project_settings(USER_AGENT=pinned))[0] == pinned


def test_the_identity_is_stored_with_the_session() -> None:
    ua, headers = new_identity(project_settings(CWO_BROWSER_EXECUTABLE=CHROMIUM))
    state = SessionState(user_agent=ua, identity_headers=headers)
    again = SessionState.from_json(state.to_json())
    assert again.identity_headers == headers
    assert again.user_agent == ua
    with pytest.raises(ValueError, match="identity_headers"):
        SessionState.from_json({"identity_headers": {"sec-ch-ua": 3}})
