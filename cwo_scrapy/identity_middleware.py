"""One browser identity on every request, whether or not the session middleware is on.

The User-Agent, its client hints (``sec-ch-ua*``) and ``Accept-Language`` must agree on every
request: a Chrome User-Agent without Chrome's hints is a bot tell. With the session on, the
identity is the session's (a WAF token is bound to it; ``cwo_scrapy.session_jar`` puts it here
whenever the session changes); with the session off, it is the ``USER_AGENT`` setting's (or
``CWO_USER_AGENT``'s) with the hints derived from it.

Placement: :data:`PRIORITY` = 587, just after the session middleware (585) in
``process_request``: a request held while the session is repaired goes out with the identity
the repair left, never the one it had before it waited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy.http import Headers

from cwo_scrapy import identity

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

__all__ = ["PRIORITY", "CurrentIdentity", "IdentityMiddleware", "current_identity"]

PRIORITY = 587
"""``DOWNLOADER_MIDDLEWARES`` priority; see the module docstring for why."""

_USER_AGENT = Headers().normkey("User-Agent")
_BY_CRAWLER: WeakKeyDictionary[Crawler, CurrentIdentity] = WeakKeyDictionary()


class CurrentIdentity:
    """The identity requests go out with now, shared by the middlewares of one crawler.

    The headers are normalized the way Scrapy's ``Headers`` stores them once per identity
    change, so applying them is a few dict stores per request (every request carries them,
    and each ``Headers.__setitem__`` would normalize key and value again).
    """

    __slots__ = ("_headers", "user_agent")

    def __init__(self) -> None:
        self.user_agent = ""
        self._headers: tuple[tuple[bytes, bytes], ...] = ()

    def set(self, user_agent: str, stored: Mapping[str, str] | None = None) -> None:
        """Use ``user_agent`` with its stored identity headers (derived from it when absent)."""
        self.user_agent = user_agent
        if not user_agent:  # no User-Agent at all: leave the requests' own headers alone
            self._headers = ()
            return
        normkey = Headers().normkey
        pairs = identity.request_headers(user_agent, stored)
        self._headers = (
            (_USER_AGENT, user_agent.encode("utf-8")),
            *((normkey(name), value) for name, value in pairs),
        )

    def apply(self, headers: Headers) -> None:
        """Put the identity into a request's headers, replacing what was there."""
        store = dict.__setitem__
        for key, value in self._headers:
            store(headers, key, [value])


def current_identity(crawler: Crawler) -> CurrentIdentity:
    """The crawler's :class:`CurrentIdentity` (one per crawler, created on first use)."""
    found = _BY_CRAWLER.get(crawler)
    if found is None:
        found = _BY_CRAWLER[crawler] = CurrentIdentity()
    return found


class IdentityMiddleware:
    """Downloader middleware that gives every request the current identity's headers."""

    def __init__(self, crawler: Crawler) -> None:
        self.identity = current_identity(crawler)
        if not self.identity.user_agent:  # the session middleware replaces it when it opens
            settings = crawler.settings
            self.identity.set(
                identity.pinned_user_agent(settings) or str(settings.get("USER_AGENT") or "")
            )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        self.identity.apply(request.headers)
