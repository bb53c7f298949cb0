"""Choose the one User-Agent a session keeps for its whole life.

A WAF token is bound to the client that earned it, so the UA is picked once per session (not per
request) through scrapy-fake-useragent's providers, which users already configure with
``FAKEUSERAGENT_PROVIDERS``. The package's own middleware silently falls back to Scrapy's
``Scrapy/x.y (+https://scrapy.org)`` UA when a provider fails (fake-useragent 2.x rejects a
missing ``FAKEUSERAGENT_FALLBACK``), which gets a crawler blocked on sight; this chooser refuses
that UA and says why.
"""

from __future__ import annotations

import logging
import re

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

logger = logging.getLogger(__name__)

DEFAULT_PROVIDERS = ["scrapy_fake_useragent.providers.FakeUserAgentProvider"]

#: Used only when every provider fails and ``FAKEUSERAGENT_FALLBACK`` is unset or unusable.
LAST_RESORT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)

_SCRAPY_UA = re.compile(r"^\s*Scrapy/", re.IGNORECASE)


def is_usable_user_agent(value: object) -> bool:
    """A non-empty string that is not Scrapy's self-identifying default UA."""
    return isinstance(value, str) and bool(value.strip()) and not _SCRAPY_UA.match(value)


def choose_user_agent(settings: BaseSettings) -> str:
    """The UA of the first provider in ``FAKEUSERAGENT_PROVIDERS`` that loads and gives one.

    Providers are built with the Scrapy settings, as scrapy-fake-useragent does. A provider that
    fails to load, raises, or yields an empty or ``Scrapy/...`` UA is skipped with a warning;
    then ``FAKEUSERAGENT_FALLBACK`` is used, and only if that is unusable too a built-in
    browser UA. Never returns Scrapy's default UA.
    """
    paths = settings.getlist("FAKEUSERAGENT_PROVIDERS") or DEFAULT_PROVIDERS
    for path in paths:
        try:
            provider = load_object(path)(settings)
            user_agent = provider.get_random_ua()
        except Exception as exc:  # a provider can raise anything (see scrapy-fake-useragent)
            logger.warning(
                "User-Agent provider %s failed (%s: %s); trying the next one",
                path,
                type(exc).__name__,
                exc,
            )
            continue
        if is_usable_user_agent(user_agent):
            logger.debug("User-Agent chosen by provider %s", path)
            return str(user_agent).strip()
        logger.warning(
            "User-Agent provider %s gave %s, which would identify the crawler as Scrapy; "
            "trying the next one",
            path,
            "an empty User-Agent" if not user_agent else repr(user_agent),
        )
    fallback = settings.get("FAKEUSERAGENT_FALLBACK")
    if is_usable_user_agent(fallback):
        logger.warning("No User-Agent provider worked; using FAKEUSERAGENT_FALLBACK")
        return str(fallback).strip()
    logger.warning(
        "No User-Agent provider worked and FAKEUSERAGENT_FALLBACK is %s; using a built-in "
        "browser User-Agent. Set FAKEUSERAGENT_FALLBACK to a real browser's User-Agent.",
        "unset" if not fallback else "Scrapy's own User-Agent",
    )
    return LAST_RESORT_USER_AGENT
