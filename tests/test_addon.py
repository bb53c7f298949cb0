"""Defaults in one place: the add-on, the getters and the resolver setting's former name."""

from __future__ import annotations

import re
from pathlib import Path

from scrapy.settings import Settings

from cwo_scrapy.addon import DEFAULTS, CwoAddon
from cwo_scrapy.config import problems
from cwo_scrapy.middleware import SessionMiddleware
from cwo_scrapy.resolvers import resolver_setting


def test_the_addon_gives_another_project_every_default_and_component() -> None:
    settings = Settings()
    settings.set("CWO_SESSION_MAX_RETRIES", 7, priority="cmdline")
    settings.set("EXTENSIONS", {"cwo_scrapy.progress.Progress": None}, priority="project")
    CwoAddon().update_settings(settings)

    for name, value in DEFAULTS.items():
        if name != "CWO_SESSION_MAX_RETRIES":
            assert settings[name] == value, name
    assert settings.getint("CWO_SESSION_MAX_RETRIES") == 7  # the command line still wins
    assert settings.getdict("DOWNLOADER_MIDDLEWARES")[SessionMiddleware] == 585
    assert settings.getdict("EXTENSIONS")["cwo_scrapy.progress.Progress"] is None  # kept off
    assert settings.getdict("FEED_EXPORTERS")["jsonl"].endswith("LineFlushJsonLinesExporter")


def test_every_cwo_setting_the_code_reads_has_its_default_in_default_settings() -> None:
    """A getter without an inline default needs the registry to hold one (else it reads None)."""
    root = Path(__file__).resolve().parents[1]
    getter = re.compile(r"\.get(?:int|float|bool|list|dict)?\(\s*\"(CWO_[A-Z0-9_]+)\"")
    read = {
        name
        for folder in ("cwo_scrapy", "spiders")
        for path in (root / folder).rglob("*.py")
        if "replica" not in path.parts
        for name in getter.findall(path.read_text(encoding="utf-8"))
    }
    assert len(read) > 20
    assert sorted(read - set(DEFAULTS)) == []
    assert DEFAULTS["CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR"] == 30


def _project(**cmdline: str) -> Settings:
    settings = Settings()
    settings.setmodule("cwo_scrapy.settings", priority="project")
    for name, value in cmdline.items():
        settings.set(name, value, priority="cmdline")
    return settings


def test_the_resolver_is_chosen_by_cwo_session_resolver() -> None:
    assert resolver_setting(_project()) == "browser"
    assert resolver_setting(_project(CWO_SESSION_RESOLVER="capsolver")) == "capsolver"


def test_the_former_name_cwo_captcha_resolver_still_works() -> None:
    assert resolver_setting(_project(CWO_CAPTCHA_RESOLVER="static")) == "static"
    # Both on the command line: the new name wins once it is changed from its default.
    both = _project(CWO_CAPTCHA_RESOLVER="static", CWO_SESSION_RESOLVER="capsolver")
    assert resolver_setting(both) == "capsolver"


def test_resolver_and_store_choices_come_from_their_registries() -> None:
    assert list(problems(_project(CWO_SESSION_RESOLVER="magic"))) == [
        "CWO_SESSION_RESOLVER='magic': expected one of browser, capsolver, twocaptcha, static, "
        "or an import path"
    ]
    assert list(problems(_project(CWO_SESSION_STORE="sqlite"))) == [
        "CWO_SESSION_STORE='sqlite': expected one of json, redis"
    ]
