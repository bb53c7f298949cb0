"""Static resolver: a token the user pasted from their own browser.

Useful when the real site shows a captcha no automation passes: solve it once in a normal
browser, copy the ``aws-waf-token`` cookie and the browser's User-Agent, and crawl with them.
A pasted token cannot be renewed, so once the site rejects it the resolver fails instead of
handing the same token back in a loop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cwo_scrapy.resolvers.base import Resolution, ResolutionError, ResolveContext

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

__all__ = ["StaticResolver"]

ENV_TOKEN = "CWO_AWS_WAF_TOKEN"


class StaticResolver:
    """Hands out ``CWO_AWS_WAF_TOKEN`` (setting, else environment variable) once."""

    def __init__(self, token: str, timeout: float = 5.0) -> None:
        self._token = token.strip().removeprefix("aws-waf-token=")
        self.timeout = timeout
        self._rejected = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        token = settings.get("CWO_AWS_WAF_TOKEN") or os.environ.get(ENV_TOKEN, "")
        return cls(str(token), timeout=settings.getfloat("CWO_RESOLVER_TIMEOUT"))

    async def resolve(self, ctx: ResolveContext) -> Resolution:
        if not self._token:
            raise ResolutionError(
                "static resolver: no token configured (set CWO_AWS_WAF_TOKEN as a setting or "
                "environment variable)"
            )
        if self._rejected or ctx.stale_token == self._token:
            # The site already refused this exact token: giving it back would only loop.
            self._rejected = True
            raise ResolutionError(
                "static resolver: the configured CWO_AWS_WAF_TOKEN was rejected by the site; "
                "paste a fresh token from your browser"
            )
        return Resolution(aws_waf_token=self._token, user_agent=ctx.user_agent)

    async def close(self) -> None:
        """Nothing to release."""
