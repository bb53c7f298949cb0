"""Challenge resolvers behind one interface, chosen by ``CWO_CAPTCHA_RESOLVER``.

``browser`` (Playwright + Chromium), ``capsolver`` (the CapSolver API), ``twocaptcha`` (the
2Captcha API), ``static`` (a pasted token), or the import path of any class implementing
:class:`~cwo_scrapy.resolvers.base.Resolver` (built with ``from_crawler`` when it has one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import build_from_crawler, load_object

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
]

RESOLVERS: dict[str, str] = {
    "browser": "cwo_scrapy.resolvers.browser.BrowserResolver",
    "capsolver": "cwo_scrapy.resolvers.capsolver.CapSolverResolver",
    "static": "cwo_scrapy.resolvers.static.StaticResolver",
    "twocaptcha": "cwo_scrapy.resolvers.twocaptcha.TwoCaptchaResolver",
}


def build_resolver(crawler: Crawler) -> Resolver:
    """Build the resolver named by ``CWO_CAPTCHA_RESOLVER`` (a short name or an import path)."""
    name = str(crawler.settings.get("CWO_CAPTCHA_RESOLVER") or "browser").strip()
    path = RESOLVERS.get(name.lower(), name)
    if "." not in path:
        raise NotConfigured(
            f"CWO_CAPTCHA_RESOLVER={name!r} is not one of {', '.join(RESOLVERS)} nor an import path"
        )
    try:
        cls = load_object(path)
    except (ImportError, AttributeError, NameError, ValueError) as exc:
        raise NotConfigured(f"CWO_CAPTCHA_RESOLVER={name!r} cannot be imported: {exc}") from None
    resolver = build_from_crawler(cls, crawler)
    if not isinstance(resolver, Resolver):
        raise NotConfigured(
            f"CWO_CAPTCHA_RESOLVER={name!r} does not implement resolve(ctx), close() and timeout"
        )
    return resolver
