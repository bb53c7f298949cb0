"""Challenge resolvers behind one interface, chosen by ``CWO_SESSION_RESOLVER``.

They obtain a fresh ``aws-waf-token`` for every WAF answer, the invisible JS challenge as well as
the captcha; ``CWO_CAPTCHA_RESOLVER``, the setting's former name, still works (deprecated).

``browser`` (Playwright + Chromium), ``capsolver`` (the CapSolver API), ``twocaptcha`` (the
2Captcha API), ``static`` (a pasted token), or the import path of any class implementing
:class:`~cwo_scrapy.resolvers.base.Resolver` (built with ``from_crawler`` when it has one).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import build_from_crawler, load_object

from cwo_scrapy import default_settings
from cwo_scrapy.resolvers.base import (
    BYPASS_META,
    Resolution,
    ResolutionError,
    ResolveContext,
    Resolver,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = [
    "BYPASS_META",
    "RESOLVERS",
    "Resolution",
    "ResolutionError",
    "ResolveContext",
    "Resolver",
    "build_resolver",
    "resolver_setting",
]

logger = logging.getLogger(__name__)

SETTING = "CWO_SESSION_RESOLVER"
DEPRECATED_SETTING = "CWO_CAPTCHA_RESOLVER"

RESOLVERS: dict[str, str] = {
    "browser": "cwo_scrapy.resolvers.browser.BrowserResolver",
    "capsolver": "cwo_scrapy.resolvers.capsolver.CapSolverResolver",
    "twocaptcha": "cwo_scrapy.resolvers.twocaptcha.TwoCaptchaResolver",
    "static": "cwo_scrapy.resolvers.static.StaticResolver",
}


def resolver_setting_name(settings: Any) -> str:
    """Which of the two names chooses the resolver.

    The deprecated ``CWO_CAPTCHA_RESOLVER`` wins when it is set at a higher priority than
    ``CWO_SESSION_RESOLVER`` (``-s CWO_CAPTCHA_RESOLVER=static`` over ``settings.py``), or at
    the same priority while ``CWO_SESSION_RESOLVER`` still holds its default, so existing
    settings files and command lines keep working.
    """
    if settings.get(DEPRECATED_SETTING) is None:
        return SETTING
    getpriority = getattr(settings, "getpriority", lambda name: 0)
    new, old = getpriority(SETTING) or 0, getpriority(DEPRECATED_SETTING) or 0
    if old > new or (
        old == new and settings.get(SETTING) in (None, default_settings.CWO_SESSION_RESOLVER)
    ):
        return DEPRECATED_SETTING
    return SETTING


def resolver_setting(settings: Any) -> str:
    """The resolver's short name or import path, as configured (see resolver_setting_name)."""
    return str(settings.get(resolver_setting_name(settings))).strip()


def build_resolver(crawler: Crawler) -> Resolver:
    """Build the resolver named by ``CWO_SESSION_RESOLVER`` (a short name or an import path)."""
    setting = resolver_setting_name(crawler.settings)
    if setting == DEPRECATED_SETTING:
        logger.warning("%s is deprecated; use %s instead", DEPRECATED_SETTING, SETTING)
    name = resolver_setting(crawler.settings)
    path = RESOLVERS.get(name.lower(), name)
    if "." not in path:
        raise NotConfigured(
            f"{setting}={name!r} is not one of {', '.join(RESOLVERS)} nor an import path"
        )
    try:
        cls = load_object(path)
    except (ImportError, AttributeError, NameError, ValueError) as exc:
        raise NotConfigured(f"{setting}={name!r} cannot be imported: {exc}") from None
    resolver = build_from_crawler(cls, crawler)
    if not isinstance(resolver, Resolver):
        raise NotConfigured(
            f"{setting}={name!r} does not implement resolve(ctx), close() and timeout"
        )
    return resolver
