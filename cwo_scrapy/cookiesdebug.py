"""A warning when ``COOKIES_DEBUG`` is on: Scrapy then logs every cookie value, tokens included.

The project keeps tokens out of logs (masked as ``abcd…(N chars)``), but Scrapy's
``CookiesMiddleware`` logs each ``Cookie`` and ``Set-Cookie`` header whole at DEBUG when
``COOKIES_DEBUG`` is set, which includes ``aws-waf-token`` and ``PHPSESSID``. Someone turning it
on to debug a session must know the log now holds secrets.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

MESSAGE = (
    "COOKIES_DEBUG is on: cookie values, the aws-waf-token and PHPSESSID included, will appear "
    "in the log unmasked; do not share this log"
)


class CookiesDebugWarning:
    """Logs :data:`MESSAGE` once per crawl when ``COOKIES_DEBUG`` is true; else not enabled."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("COOKIES_DEBUG"):
            raise NotConfigured
        logger.warning(MESSAGE)
        return cls()
