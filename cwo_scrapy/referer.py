"""Scrapy's RefererMiddleware, minus the policy lookup for requests that name their Referer.

Every cascade request carries the Referer the site's own pages send (``cwo_scrapy.levels``), and
Scrapy's middleware would only ``setdefault()`` over it, after parsing the response and request
URLs to pick a referrer policy, for every request a callback yields. Requests without a Referer
(and redirects, whose Referer ``RedirectMiddleware`` hands back to this middleware) get Scrapy's
behaviour unchanged. Kept as a subclass, not switched off, so ``RedirectMiddleware`` still finds a
Referer middleware for redirects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.spidermiddlewares.referer import RefererMiddleware

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

__all__ = ["OwnRefererMiddleware"]

_REFERER = b"Referer"


class OwnRefererMiddleware(RefererMiddleware):
    """A request's own Referer wins without a policy lookup; see the module docstring."""

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        if response is None or _REFERER in request.headers:
            return request
        return super().get_processed_request(request, response)
