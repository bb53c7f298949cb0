"""choose_user_agent(): a real browser UA from the configured providers, never Scrapy's own."""

from __future__ import annotations

import logging

import pytest
from scrapy.settings import Settings

from cwo_scrapy.useragent import LAST_RESORT_USER_AGENT, choose_user_agent

FALLBACK = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Fallback/1.0"


class RaisingProvider:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def get_random_ua(self) -> str:
        raise RuntimeError("provider data missing")


class EmptyProvider(RaisingProvider):
    def get_random_ua(self) -> str:
        return ""


class SecondProvider(RaisingProvider):
    def get_random_ua(self) -> str:
        return "Mozilla/5.0 (Second) Gecko/20100101 Firefox/140.0"


def project_settings(**overrides: object) -> Settings:
    settings = Settings()
    settings.setmodule("cwo_scrapy.settings", priority="project")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


def test_project_settings_give_a_random_real_browser_user_agent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the shipped settings the project's provider answers, no fallback."""
    settings = project_settings(CWO_USER_AGENT_OS="any")
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.useragent"):
        agents = {choose_user_agent(settings) for _ in range(25)}
    assert all(ua.startswith("Mozilla/5.0 (") for ua in agents)
    assert not any("Scrapy" in ua for ua in agents)
    assert len(agents) > 1  # OSes drawn with fake-useragent's shares, not the fixed fallback
    assert not caplog.records


def test_broken_provider_list_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = project_settings(
        FAKEUSERAGENT_PROVIDERS=["cwo_scrapy.no_such_module.Provider", RaisingProvider],
        FAKEUSERAGENT_FALLBACK=FALLBACK,
    )
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.useragent"):
        assert choose_user_agent(settings) == FALLBACK
    text = caplog.text
    assert "no_such_module" in text
    assert "provider data missing" in text
    assert "FAKEUSERAGENT_FALLBACK" in text


def test_a_failing_provider_is_skipped_for_the_next_one() -> None:
    settings = project_settings(
        FAKEUSERAGENT_PROVIDERS=[RaisingProvider, EmptyProvider, SecondProvider]
    )
    assert choose_user_agent(settings).endswith("Firefox/140.0")


def test_scrapy_default_user_agent_is_never_returned(caplog: pytest.LogCaptureFixture) -> None:
    """The package's trap: no FAKEUSERAGENT_FALLBACK makes fake-useragent 2.x fail, and the
    fixed provider then hands out ``Scrapy/x.y (+https://scrapy.org)``."""
    settings = Settings()  # Scrapy defaults: USER_AGENT is Scrapy's own
    settings.set(
        "FAKEUSERAGENT_PROVIDERS",
        [
            "scrapy_fake_useragent.providers.FakeUserAgentProvider",
            "scrapy_fake_useragent.providers.FixedUserAgentProvider",
        ],
    )
    assert settings.get("USER_AGENT").startswith("Scrapy/")
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.useragent"):
        chosen = choose_user_agent(settings)
    assert chosen == LAST_RESORT_USER_AGENT
    assert "Scrapy" not in chosen
    assert "identify the crawler as Scrapy" in caplog.text
    assert "FAKEUSERAGENT_FALLBACK is unset" in caplog.text


def test_fallback_is_used_when_the_fixed_provider_would_leak_scrapys_agent() -> None:
    settings = Settings()
    settings.set(
        "FAKEUSERAGENT_PROVIDERS", ["scrapy_fake_useragent.providers.FixedUserAgentProvider"]
    )
    settings.set("FAKEUSERAGENT_FALLBACK", FALLBACK)
    assert choose_user_agent(settings) == FALLBACK


def test_a_scrapy_fallback_is_refused_too() -> None:
    settings = Settings()
    settings.set("FAKEUSERAGENT_PROVIDERS", [EmptyProvider])
    settings.set("FAKEUSERAGENT_FALLBACK", "Scrapy/2.19.0 (+https://scrapy.org)")
    assert choose_user_agent(settings) == LAST_RESORT_USER_AGENT
