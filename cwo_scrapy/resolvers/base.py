"""The one interface every challenge resolver implements, and what flows through it.

The middleware only orchestrates: it decides *when* a fresh ``aws-waf-token`` is needed and hands
a :class:`ResolveContext` to whichever resolver the settings chose; the resolver decides *how* to
get one (a real browser, a solver service, a pasted token) and returns a :class:`Resolution`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cwo_scrapy.session.mask import mask

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

__all__ = [
    "BYPASS_META",
    "Downloader",
    "Resolution",
    "ResolutionError",
    "ResolveContext",
    "Resolver",
]

BYPASS_META = "cwo_session_bypass"
"""Request meta key: the session middleware leaves such a request alone (no cookies injected, no
challenge handling), so a resolver can fetch a fresh interstitial through Scrapy without
re-entering the resolution it is part of."""

Downloader = Callable[["Request"], Awaitable["Response"]]


class ResolutionError(Exception):
    """A resolver could not obtain a token. The message is one line and never holds a secret."""


@dataclass(frozen=True, slots=True)
class ResolveContext:
    """Everything a resolver may need for one resolution.

    ``page_url`` is an HTML page of the protected site (the blocked page, or the home page when the
    blocked request was an API call, whose empty 202 carries no interstitial). ``stale_token`` is
    the token the site just rejected (``None`` if there was none), so a resolver can wait for a
    *new* one. ``download`` fetches a request through Scrapy's downloader (proxies, TLS settings)
    when the crawl is running; resolvers must mark such requests with :data:`BYPASS_META`.
    ``proxy`` is the session's egress (``cwo_scrapy.egress``): the proxy URL, credentials
    included, or ``None`` for direct. A token must be earned through it, because the site may
    refuse a token used from another IP than the one that earned it.
    """

    page_url: str
    user_agent: str
    stale_token: str | None
    timeout: float
    download: Downloader | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)  # a secret: never in repr
    #: The session's client hints, Accept-Language and Accept (``cwo_scrapy.identity``): a
    #: browser must present exactly these, so the token fits the requests that will carry it.
    headers: Mapping[str, str] | None = None

    def __repr__(self) -> str:  # never show the stale token
        return (
            f"ResolveContext(page_url={self.page_url!r}, user_agent={self.user_agent!r}, "
            f"timeout={self.timeout!r})"
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """A fresh token, the User-Agent it is bound to, and the PHP session if one came with it."""

    aws_waf_token: str
    user_agent: str
    phpsessid: str | None = None

    def __repr__(self) -> str:  # dataclass repr would print the secrets
        return (
            f"Resolution(aws_waf_token={mask(self.aws_waf_token)}, "
            f"phpsessid={mask(self.phpsessid)}, user_agent={self.user_agent!r})"
        )


@runtime_checkable
class Resolver(Protocol):
    """Obtains a fresh ``aws-waf-token`` for the session's User-Agent.

    ``timeout`` is the longest one :meth:`resolve` may take; the middleware enforces it (plus a
    small grace) so a stuck resolver never hangs the crawl. :meth:`resolve` raises
    :class:`ResolutionError` on failure. :meth:`close` releases long-lived resources (a browser,
    an HTTP client) and is called once when the spider closes.
    """

    timeout: float

    async def resolve(self, ctx: ResolveContext) -> Resolution: ...

    async def close(self) -> None: ...
