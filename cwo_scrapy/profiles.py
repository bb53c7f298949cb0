"""Named setting profiles applied by an add-on (``ADDONS``), chosen with ``CWO_PROFILE``.

- ``polite`` (default): the values in ``settings.py``, meant for the real site (AutoThrottle,
  a download delay, 4 requests per domain).
- ``fast``: for the offline replica and benchmarks: no delay, no AutoThrottle, high
  concurrency, INFO logging.

The add-on writes at ``project`` priority, so a profile replaces ``settings.py`` values while
``custom_settings`` and ``-s NAME=VALUE`` still win: ``-s CWO_PROFILE=fast -s
CONCURRENT_REQUESTS=8`` is fast with 8 requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cwo_scrapy import default_settings

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

POLITE: dict[str, Any] = {}

# CONCURRENT_ITEMS is set for every profile in settings.py, with its measurement.
FAST: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 64,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
    "LOG_LEVEL": "INFO",
    "CWO_PROGRESS_INTERVAL": 10,
}

PROFILES: dict[str, dict[str, Any]] = {"polite": POLITE, "fast": FAST}


class ProfileError(ValueError):
    """``CWO_PROFILE`` names no profile."""


def profile_settings(name: str) -> dict[str, Any]:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"CWO_PROFILE={name!r}: unknown profile (known: {', '.join(PROFILES)})"
        ) from None


class ProfileAddon:
    """Applies the ``CWO_PROFILE`` profile over the project settings."""

    def update_settings(self, settings: BaseSettings) -> None:
        name = settings.get("CWO_PROFILE") or default_settings.CWO_PROFILE
        for key, value in profile_settings(name).items():
            settings.set(key, value, priority="project")
