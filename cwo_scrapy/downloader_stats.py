"""Scrapy's ``downloader/*`` stats, the same figures, without serializing every request.

Scrapy's ``DownloaderStats`` counts a request's bytes as ``len(request_httprepr(request))``:
it builds the request's whole raw HTTP text (a dozen browser headers here) only to measure it,
which was 3.4% of a fitment crawl's samples (py-spy, year 2022). :func:`request_size` adds up
the same length; ``tests/test_downloader_stats.py`` checks it against Scrapy's on varied
requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlunparse

from scrapy.downloadermiddlewares.stats import DownloaderStats as ScrapyDownloaderStats
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.python import to_bytes

if TYPE_CHECKING:
    from scrapy import Request

__all__ = ["DownloaderStats", "request_size"]

_FIXED = len(b" HTTP/1.1\r\n") + len(b"Host: ") + len(b"\r\n") + len(b"\r\n")


def request_size(request: Request) -> int:
    """``len(scrapy.utils.request.request_httprepr(request))``, without building it."""
    parsed = urlparse_cached(request)
    path = urlunparse(("", "", parsed.path or "/", parsed.params, parsed.query, ""))
    size = _FIXED + len(to_bytes(request.method)) + 1 + len(to_bytes(path))
    size += len(to_bytes(parsed.hostname or b""))
    headers = request.headers
    if headers:
        lines = 0
        for key, values in headers.items():
            if isinstance(values, bytes):
                values = (values,)
            for value in values:
                size += len(key) + 2 + len(value)
                lines += 1
        size += 2 * max(lines - 1, 0) + 2  # line breaks between them, and after the last
    return size + len(request.body)


class DownloaderStats(ScrapyDownloaderStats):
    """Drop-in for ``scrapy.downloadermiddlewares.stats.DownloaderStats``: only the request
    side differs (see the module); responses are counted by Scrapy's own code."""

    def process_request(self, request: Request) -> None:
        stats = self.stats
        stats.inc_value("downloader/request_count")
        stats.inc_value(f"downloader/request_method_count/{request.method}")
        stats.inc_value("downloader/request_bytes", request_size(request))
