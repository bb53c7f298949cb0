"""Requests of the vehicle cascade's levels, and what a failed one means.

:class:`CascadeLevels` is the base of :class:`cwo_scrapy.cascade.CascadeSpider`: it builds each
level's request (priority, ``meta["cwo_level"]``, the headers the site's own pages send),
counts vehicles done and failed (``cwo/...`` stats), reports lost data to
:mod:`cwo_scrapy.completeness`, and turns a failed request into the right outcome: a failed
vehicle, a failed store page, a retried option chain, or ``site_unreachable`` when a host was
never reached. Callbacks and errbacks stay spider methods, so requests serialise (``JOBDIR``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectError, DNSLookupError, TCPTimedOutError, TimeoutError

from cwo_scrapy import completeness
from cwo_scrapy.closing import close_crawl
from cwo_scrapy.completeness import REASON_BAD_ARGUMENT
from cwo_scrapy.headers import HeaderSet, header_set
from cwo_scrapy.headers import apply as apply_headers

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from cwo_scrapy.options import OptionChain
    from cwo_scrapy.urls import CwoUrls

logger = logging.getLogger(__name__)

_CONNECT_ERRORS = (
    DownloadConnectionRefusedError,
    CannotResolveHostError,
    DownloadTimeoutError,
    ConnectError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)

# Deeper levels first: vehicles are finished (and items written) before more lists are opened,
# which keeps the queue small and lets ``limit`` stop the cascade early.
PRIORITY = {
    "years": 0,
    "makes": 1,
    "models": 2,
    "trims": 3,
    "drives": 4,
    "vehicle": 5,
    "store": 6,
    "options": 10,
}

# Close reasons other than "finished" that the crawl command turns into exit code 1 (the
# completeness ones are checked by cwo_scrapy.completeness when the crawl goes idle).
REASON_UNREACHABLE = "site_unreachable"
# REASON_SITE_CHANGED ("site_changed") is cwo_scrapy.drift's: the parsers stopped understanding.


class CascadeLevels(scrapy.Spider):
    """Request building, vehicle accounting and failure handling of the cascade's levels."""

    urls: CwoUrls
    options: OptionChain
    close_message: str | None
    _hosts_ok: set[str]
    _ok_prefixes: tuple[str, ...] = ()
    _run: str | None

    # -- helpers for subclasses ---------------------------------------------------------------
    def inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"cwo/{key}", count)

    def vehicle_done(self) -> None:
        self.inc("vehicles_done")

    def vehicle_failed(self, reason: str) -> None:
        """A vehicle whose items could not be produced: the crawl will end ``incomplete``."""
        self.inc(f"vehicles_failed/{reason}")
        self.inc("vehicles_done")
        self.count_failure()

    def count_failure(self) -> None:
        """Data lost for good: the crawl will end ``incomplete`` (``cwo_scrapy.completeness``)."""
        self.crawler.signals.send_catch_log(completeness.failure)

    def _request(
        self,
        url: str,
        callback: Any,
        level: str,
        headers: HeaderSet,
        cb_kwargs: dict[str, Any],
        *,
        dont_filter: bool = False,
    ) -> scrapy.Request:
        """A request of one cascade level (its priority, and ``meta["cwo_level"]``)."""
        request = scrapy.Request(
            url,
            callback=callback,
            errback=self._errback,
            cb_kwargs=cb_kwargs,
            priority=PRIORITY[level],
            dont_filter=dont_filter,
            meta={"cwo_level": level, "cwo_cluster_local": level == "options"},
        )
        apply_headers(request.headers, headers)
        return request

    @cached_property
    def _fetch_headers(self) -> dict[str, HeaderSet]:
        """The headers of each kind of fetch, as the site's own pages send them (built once)."""
        site = self.urls.site_url
        return {
            "api": header_set(
                {
                    "Accept": "application/json, text/plain, */*",
                    "Origin": site,
                    "Referer": f"{site}/",
                    "Sec-Fetch-Site": "cross-site",
                    "Sec-Fetch-Mode": "cors",
                    "Sec-Fetch-Dest": "empty",
                }
            ),
            "xhr": header_set(
                {
                    "Accept": "*/*",
                    "X-Requested-With": "XMLHttpRequest",
                    "Referer": f"{site}/store/wheels",
                    "Sec-Fetch-Site": "same-origin",
                    "Sec-Fetch-Mode": "cors",
                    "Sec-Fetch-Dest": "empty",
                }
            ),
            "page": header_set(
                {
                    "Accept": (
                        "text/html,application/xhtml+xml,application/xml;q=0.9,"
                        "image/avif,image/webp,*/*;q=0.8"
                    ),
                    "Sec-Fetch-Site": "same-origin",
                    "Sec-Fetch-Mode": "navigate",
                    "Sec-Fetch-Dest": "document",
                    "Sec-Fetch-User": "?1",
                    "Upgrade-Insecure-Requests": "1",
                    "Referer": f"{site}/store/wheels",
                }
            ),
        }

    def api_request(self, url: str, callback: Any, level: str, **cb_kwargs: Any) -> scrapy.Request:
        """A fitment-API request with the CORS headers the site's own JavaScript sends."""
        return self._request(url, callback, level, self._fetch_headers["api"], cb_kwargs)

    def xhr_request(
        self, url: str, callback: Any, level: str = "options", **cb_kwargs: Any
    ) -> scrapy.Request:
        """An ``api/ymm-temp.php`` request as the store page's XHR sends it.

        Not through the duplicate filter: the same list is fetched again after a session restart.
        """
        return self._request(
            url, callback, level, self._fetch_headers["xhr"], cb_kwargs, dont_filter=True
        )

    def page_request(self, url: str, callback: Any, **cb_kwargs: Any) -> scrapy.Request:
        """A store page fetched like a browser navigation.

        Not through the duplicate filter: each is made once, from a vehicle response that the
        filter already let through once, and ``combos=all`` makes ~590 per vehicle, so the
        filter would hold 34.5 million fingerprints (~3 GB) for the catalogue
        (``bench/dedup_memory.py``).
        """
        return self._request(
            url, callback, "store", self._fetch_headers["page"], cb_kwargs, dont_filter=True
        )

    def _received(self, response: scrapy.http.Response) -> None:
        """Note that the response's host answered (connect errors after that are not fatal).

        Called for every response: a prefix test settles the hosts already seen without
        parsing the URL.
        """
        url = response.url
        if url.startswith(self._ok_prefixes):
            return
        parts = urlsplit(url)
        self._hosts_ok.add(parts.netloc)
        self._ok_prefixes = (*self._ok_prefixes, f"{parts.scheme}://{parts.netloc}/")

    def _vehicle_carried_over(self, request: scrapy.Request) -> None:
        """A vehicle request a previous run (JOBDIR) queued: discovered for this run's count."""
        if self._run is not None and request.meta.get("cwo_run") != self._run:
            self.inc("vehicles_discovered")

    # -- failures -----------------------------------------------------------------------------
    def _errback(self, failure: Failure) -> Iterable[Any]:
        request = failure.request  # type: ignore[attr-defined]
        level = request.meta.get("cwo_level", "other")
        if failure.check(HttpError):
            what = f"http_{failure.value.response.status}"
            self._hosts_ok.add(urlsplit(request.url).netloc)
        else:
            what = type(failure.value).__name__
        self.inc(f"requests_failed/{level}/{what}")
        host = urlsplit(request.url).netloc
        if failure.check(*_CONNECT_ERRORS) and host not in self._hosts_ok:
            message = f"cannot reach {host}: {failure.getErrorMessage()}"
            logger.error("Site unreachable: %s", message)
            self.stop_crawl(REASON_UNREACHABLE, message)
            return ()
        if level == "options":
            vehicle_type = request.cb_kwargs["vehicle_type"]
            logger.error(
                "ymm-temp.php %s request for %r failed: %s",
                request.cb_kwargs.get("kind"),
                vehicle_type,
                what,
            )
            return self.options._option_error(failure, vehicle_type)
        logger.error("%s request %s failed: %s", level, request.url, what)
        if level == "vehicle":
            self._vehicle_carried_over(request)
            self.vehicle_failed(what)
        elif level == "store":
            return self.on_store_failure(request, what)
        else:
            self.count_failure()
        return ()

    def on_store_failure(self, request: scrapy.Request, what: str) -> Iterable[Any]:
        """A store page could not be fetched (hook for the wheel_size spider)."""
        self.count_failure()
        return ()

    # The option chain's callbacks are spider methods, so its requests serialise (JOBDIR).
    def options_after_set(self, response: scrapy.http.Response, **kw: Any) -> Iterable[Any]:
        return self.options._after_set(response, **kw)

    def options_after_list(self, response: scrapy.http.Response, **kw: Any) -> Iterable[Any]:
        return self.options._after_list(response, **kw)

    def stop_crawl(self, reason: str, message: str) -> None:
        """Close the crawl with ``reason`` (once); ``scrapy crawl`` prints ``message``."""
        if close_crawl(self.crawler, reason, message):
            self.close_message = message

    def bad_argument(self, message: str) -> None:
        """A scope value is not on the site: stop before crawling anything else."""
        logger.error("Bad argument: %s", message)
        self.stop_crawl(REASON_BAD_ARGUMENT, message)
