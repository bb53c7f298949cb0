"""Named setting profiles applied by an add-on (``ADDONS``), chosen with ``CWO_PROFILE``.

- ``polite`` (default): the values in ``settings.py``, meant for the real site (AutoThrottle,
  a download delay, 4 requests per domain).
- ``fast``: for the offline replica and benchmarks: no delay, no AutoThrottle, high
  concurrency, INFO logging, and ``CONCURRENT_ITEMS`` chosen by measurement (see ``FAST``).

The add-on writes at ``project`` priority, so a profile replaces ``settings.py`` values while
``custom_settings`` and ``-s NAME=VALUE`` still win: ``-s CWO_PROFILE=fast -s
CONCURRENT_REQUESTS=8`` is fast with 8 requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

POLITE: dict[str, Any] = {}

# CONCURRENT_ITEMS, measured with `scrapy crawl X -a year=2022 -s CWO_PROFILE=fast
# -s CWO_SESSION_ENABLED=False -s LOG_LEVEL=WARNING` on a local WAF-off replica (2,534 vehicles,
# 2 shared cores, Scrapy 2.19; wall time, the crawl process is CPU-bound):
#   fitment     CONCURRENT_ITEMS=100: 18.2 s / 19.0 s   16: 10.2 / 9.9   4: 9.6 / 9.4   1: 9.5 / 9.3
#   wheel_size  CONCURRENT_ITEMS=100: 35.5 s            4: 18.9          1: 18.7
# Scrapy's default of 100 halves throughput (one asyncio task per callback output); below 16 the
# differences are noise. 4 keeps a little parallelism for an async pipeline or feed storage.
FAST: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 64,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
    "CONCURRENT_ITEMS": 4,
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
        name = settings.get("CWO_PROFILE") or "polite"
        for key, value in profile_settings(name).items():
            settings.set(key, value, priority="project")
