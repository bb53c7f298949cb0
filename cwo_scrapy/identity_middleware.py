"""One browser identity on every request, whether or not the session middleware is on.

The User-Agent, its client hints (``sec-ch-ua*``) and ``Accept-Language`` must agree on every
request: a Chrome User-Agent without Chrome's hints is a bot tell. With the session on, the
session middleware applies the session's identity itself (a WAF token is bound to it;
``cwo_scrapy.session_jar`` keeps :class:`CurrentIdentity` up to date) and
:class:`IdentityMiddleware` switches itself off. With the session off (or the session
middleware not enabled), :class:`IdentityMiddleware` applies the identity of the
``USER_AGENT`` setting (or ``CWO_USER_AGENT``) with the hints derived from it.

Placement: :data:`PRIORITY` = 587, after the session middleware (585), which is built first and
claims the identity when it is enabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy.exceptions import NotConfigured

from cwo_scrapy import identity
from cwo_scrapy.headers import HeaderSet, header_set
from cwo_scrapy.headers import apply as apply_headers

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Headers

__all__ = ["PRIORITY", "CurrentIdentity", "IdentityMiddleware", "current_identity"]

PRIORITY = 587
"""``DOWNLOADER_MIDDLEWARES`` priority; see the module docstring for why."""

_BY_CRAWLER: WeakKeyDictionary[Crawler, CurrentIdentity] = WeakKeyDictionary()


class CurrentIdentity:
    """The identity requests go out with now, shared by the middlewares of one crawler.

    The headers are normalized once per identity change (``cwo_scrapy.headers``): applying
    them to a request is a few dict stores.
    """

    __slots__ = ("_headers", "owned_by_session", "user_agent")

    def __init__(self) -> None:
        self.user_agent = ""
        self.owned_by_session = False  # the session middleware applies it to requests
        self._headers: HeaderSet = ()

    def set(self, user_agent: str, stored: Mapping[str, str] | None = None) -> None:
        """Use ``user_agent`` with its stored identity headers (derived from it when absent)."""
        self.user_agent = user_agent
        if not user_agent:  # no User-Agent at all: leave the requests' own headers alone
            self._headers = ()
            return
        self._headers = header_set(
            (("User-Agent", user_agent), *identity.request_headers(user_agent, stored))
        )

    def apply(self, headers: Headers) -> None:
        """Put the identity into a request's headers, replacing what was there."""
        apply_headers(headers, self._headers)


def current_identity(crawler: Crawler) -> CurrentIdentity:
    """The crawler's :class:`CurrentIdentity` (one per crawler, created on first use)."""
    found = _BY_CRAWLER.get(crawler)
    if found is None:
        found = _BY_CRAWLER[crawler] = CurrentIdentity()
    return found


class IdentityMiddleware:
    """Downloader middleware that gives every request the identity of the UA setting.

    Off (``NotConfigured``, no warning) when the session middleware owns the identity.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.identity = current_identity(crawler)
        if self.identity.owned_by_session:
            raise NotConfigured
        settings = crawler.settings
        self.identity.set(
            identity.pinned_user_agent(settings) or str(settings.get("USER_AGENT") or "")
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        self.identity.apply(request.headers)
