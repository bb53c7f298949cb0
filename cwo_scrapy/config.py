"""Up-front validation of the project's ``CWO_*`` settings.

Components read their settings once with Scrapy's typed getters; a value of the wrong type
(``-s CWO_SESSION_MAX_RETRIES=abc``) would otherwise surface as a ``ValueError`` traceback from
deep inside a ``from_crawler``. Commands call :func:`check_settings` first and turn the first
problem into a one-line error that names the setting and the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.settings import BaseSettings

from cwo_scrapy.addon import DEFAULTS
from cwo_scrapy.egress import setting_problems
from cwo_scrapy.identity import OS_CHOICES
from cwo_scrapy.resolvers import DEPRECATED_SETTING, RESOLVERS
from cwo_scrapy.resolvers import SETTING as RESOLVER_SETTING
from cwo_scrapy.resolvers.display import HEADLESS_MODES, display_mode
from cwo_scrapy.session import STORE_KINDS
from cwo_scrapy.session.mask import mask_url

# Settings whose value is one of a closed set, taken from the registries that define the set
# (an import path is also allowed where noted).
CHOICES: dict[str, tuple[tuple[str, ...], bool]] = {
    RESOLVER_SETTING: (tuple(RESOLVERS), True),
    DEPRECATED_SETTING: (tuple(RESOLVERS), True),
    "CWO_SESSION_STORE": (tuple(STORE_KINDS), False),
    "CWO_USER_AGENT_OS": (OS_CHOICES, False),
}


class SettingsError(ValueError):
    """A ``CWO_*`` setting has a value of the wrong type or outside its range."""


def _defaults() -> Iterator[tuple[str, Any]]:
    yield from DEFAULTS.items()


def problems(settings: BaseSettings) -> Iterator[str]:
    """One line per invalid ``CWO_*`` setting, typed after its documented default."""
    for name, default in _defaults():
        raw = settings.get(name)
        if raw is None or raw is default:
            continue
        try:
            if isinstance(default, bool):
                settings.getbool(name)
            elif isinstance(default, int):
                value = settings.getint(name)
                if value < 0:
                    yield f"{name}={raw!r}: must not be negative"
            elif isinstance(default, float):
                value = settings.getfloat(name)
                if not math.isfinite(value):
                    yield f"{name}={raw!r}: must be a finite number"
                elif value < 0:
                    yield f"{name}={raw!r}: must not be negative"
            elif isinstance(default, str) and name.endswith("_URL") and raw:
                problem = url_problem(str(raw))
                if problem:
                    yield f"{name}={mask_url(str(raw))!r}: {problem}"
            elif isinstance(default, list):
                values = settings.getlist(name)
                if default and all(isinstance(v, int) for v in default):
                    [int(v) for v in values]
        except (TypeError, ValueError):
            kind = {
                bool: "true or false",
                int: "an integer",
                float: "a number",
                list: "a list of integers",
            }.get(type(default), type(default).__name__)
            yield f"{name}={raw!r}: expected {kind}"
    for name, (choices, import_path_ok) in CHOICES.items():
        value = settings.get(name)
        if value is None or value in choices or (import_path_ok and "." in str(value)):
            continue
        allowed = ", ".join(choices) + (", or an import path" if import_path_ok else "")
        yield f"{name}={value!r}: expected one of {allowed}"
    headless = settings.get("CWO_BROWSER_HEADLESS")
    try:
        if headless is not None:
            display_mode(headless, xvfb="")
    except ValueError:
        yield f"CWO_BROWSER_HEADLESS={headless!r}: expected one of {', '.join(HEADLESS_MODES)}"
    yield from setting_problems(settings)  # CWO_PROXY, masked


def url_problem(url: str) -> str | None:
    """Why a URL setting cannot be used (a port outside 0-65535), or None."""
    try:
        urlsplit(url).port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return "port out of range 0-65535" if "range" in str(exc) else "port is not a number"
    return None


def check_settings(settings: BaseSettings) -> None:
    """Raise :class:`SettingsError` naming the first invalid ``CWO_*`` setting."""
    for problem in problems(settings):
        raise SettingsError(f"invalid setting {problem}")
