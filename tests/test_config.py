"""A wrong-typed ``-s CWO_...`` value is reported in one line naming it, before any crawl."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from cwo_scrapy import settings as defaults
from cwo_scrapy.config import SettingsError, check_settings, problems


def _project(**overrides: str) -> Settings:
    settings = Settings()
    settings.setmodule(defaults, priority="project")
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


def test_the_shipped_defaults_are_valid() -> None:
    assert list(problems(_project())) == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CWO_SESSION_MAX_RETRIES", "abc", "expected an integer"),
        ("CWO_SESSION_MAX_AGE", "one day", "expected an integer"),
        ("CWO_RESOLVER_TIMEOUT", "soon", "expected a number"),
        ("CWO_RESOLVER_TIMEOUT", "-1", "must not be negative"),
        ("CWO_BROWSER_HEADLESS", "maybe", "expected one of true, false, virtual, auto"),
        ("CWO_USER_AGENT_OS", "android", "expected one of host, any, windows, macos, linux"),
        ("CWO_CAPTCHA_RESOLVER", "magic", "expected one of browser, capsolver, twocaptcha, static"),
        ("CWO_SESSION_STORE", "mongo", "expected one of json, redis"),
        ("CWO_GC_THRESHOLD", "lots,20,1000", "expected a list of integers"),
    ],
)
def test_a_bad_value_is_named_in_one_line(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        check_settings(_project(**{name: value}))
    message = str(excinfo.value)
    assert "\n" not in message
    assert name in message
    assert repr(value) in message
    assert expected in message


def test_string_forms_of_good_values_are_accepted() -> None:
    settings = _project(
        CWO_SESSION_MAX_RETRIES="5",
        CWO_RESOLVER_TIMEOUT="2.5",
        CWO_BROWSER_HEADLESS="False",
        CWO_CAPTCHA_RESOLVER="my_project.resolvers.Mine",
    )
    assert list(problems(settings)) == []


@pytest.mark.parametrize("value", [True, False, "true", "False", "virtual", "auto", "AUTO"])
def test_every_browser_display_mode_is_accepted(value: object) -> None:
    assert list(problems(_project(CWO_BROWSER_HEADLESS=value))) == []
