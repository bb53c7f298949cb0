"""Session middleware: keeps one CWO session alive across requests, runs, spiders and processes.

It only orchestrates three pieces: :class:`~cwo_scrapy.session_jar.JarSync` keeps Scrapy's
cookie jar and the session store in step; ``cwo_scrapy.waf_detect`` says what a response means;
:class:`~cwo_scrapy.session_repair.SessionRepair` repairs a blocked session once (single
flight, also across processes through the store's resolution lock) and decides when to give
up. Blocked requests are retried through Scrapy's ``get_retry_request``.

Placement: :data:`PRIORITY` = 585 in ``DOWNLOADER_MIDDLEWARES``.

- ``process_request`` runs before ``CookiesMiddleware`` (700), so the ``cookiejar`` key it sets
  is the jar Scrapy then reads, and before ``HttpCompressionMiddleware`` (590) and
  ``RedirectMiddleware`` (600), which do not care.
- ``process_response`` runs after ``CookiesMiddleware`` stored the response's ``Set-Cookie``
  in the jar, after ``HttpCompressionMiddleware`` decompressed the body (the "Human
  Verification" title check needs plain bytes) and after ``RedirectMiddleware``, and before
  ``RetryMiddleware`` (550), so a 202/401/403/405 WAF answer becomes a session retry instead of
  a blind retry or an interstitial handed to a callback.

Every request leaves with the session's identity (User-Agent, client hints, Accept-Language:
``cwo_scrapy.identity_middleware.CurrentIdentity``, kept up to date by :class:`JarSync`),
applied after any wait for a repair, so a held request leaves with the repaired identity.

The per-request hot path is a few dict operations and a bounded classification of the
response: no store I/O (except a stat every ``CWO_SESSION_SYNC_INTERVAL`` seconds), no jar
scans, no allocation.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, NoReturn

from scrapy import Request, signals
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import CloseSpider, IgnoreRequest, NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from cwo_scrapy import identity
from cwo_scrapy.closing import close_crawl
from cwo_scrapy.egress import EgressTracker
from cwo_scrapy.identity_middleware import current_identity
from cwo_scrapy.resolvers import BYPASS_META, ResolutionError, build_resolver, resolver_setting
from cwo_scrapy.session import SessionStoreError, mask, store_from_settings
from cwo_scrapy.session_jar import JarSync
from cwo_scrapy.session_repair import INIT_META, SessionRepair
from cwo_scrapy.waf_detect import Verdict, classify_response

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.http.cookies import CookieJar

__all__ = [
    "EPOCH_META",
    "INIT_META",
    "PRIORITY",
    "RETRIES_META",
    "STATS_PREFIX",
    "SessionMiddleware",
]

logger = logging.getLogger(__name__)

PRIORITY = 585
"""``DOWNLOADER_MIDDLEWARES`` priority; see the module docstring for why."""

STATS_PREFIX = "cwo_session/"
RETRIES_META = "cwo_session_retries"  # session retries of this request so far
EPOCH_META = "_cwo_session_epoch"  # the session epoch the request was sent with
CLOSE_REASON = "session_unrecoverable"
_SET_COOKIE = b"Set-Cookie"
_UNRECOVERABLE = "CWO session unrecoverable; not sending more requests"


class SessionMiddleware:
    """Downloader middleware that owns the CWO session; see the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("CWO_SESSION_ENABLED"):
            raise NotConfigured  # switched off on purpose: no "Disabled ..." warning
        if not settings.getbool("COOKIES_ENABLED"):
            raise NotConfigured("the session middleware needs COOKIES_ENABLED")
        self.crawler = crawler
        self.cookiejar: str = settings.get("CWO_COOKIEJAR")
        self.max_retries = settings.getint("CWO_SESSION_MAX_RETRIES")
        site_url = settings.get("CWO_SITE_URL").rstrip("/")
        self.store = store_from_settings(settings)
        self.identity = current_identity(crawler)
        self.identity.owned_by_session = True  # IdentityMiddleware stays off
        self.sync = JarSync(
            self.store,
            site_url=site_url,
            max_age=settings.getfloat("CWO_SESSION_MAX_AGE"),
            sync_interval=settings.getfloat("CWO_SESSION_SYNC_INTERVAL"),
            new_identity=lambda: identity.new_identity(settings),
            pinned_user_agent=lambda: identity.pinned_user_agent(settings),
            inc=self._inc,
            egress=EgressTracker(crawler, site_url),  # one proxy (or none) per session
            identity=self.identity,
        )
        self.site_host = self.sync.site_host
        self.resolver = build_resolver(crawler)
        self.resolver_name = resolver_setting(settings)
        self.repair = SessionRepair(
            self.sync,
            self.resolver,
            resolver_name=self.resolver_name,
            download=lambda request: crawler.engine.download_async(request),
            close=lambda message: close_crawl(crawler, CLOSE_REASON, message),
            inc=self._inc,
            home_url=f"{site_url}/",
            init_url=settings.get("CWO_SESSION_INIT_URL") or f"{site_url}/",
            cookiejar=self.cookiejar,
            max_failed=settings.getint("CWO_SESSION_MAX_FAILED_RESOLUTIONS"),
            max_per_hour=settings.getint("CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR"),
        )
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def spider_opened(self) -> None:
        """Load (or start) the session and put its cookies into Scrapy's jar."""
        try:
            jar = self._find_cookie_jar()
        except LookupError as exc:
            logger.error("Session middleware misconfigured: %s", exc)
            raise CloseSpider("session_misconfigured") from None
        try:
            state = self.sync.open(jar)
        except SessionStoreError as exc:
            logger.error("Session store unusable: %s", exc)
            self.crawler.stats.set_value(f"{STATS_PREFIX}close_message", str(exc))
            raise CloseSpider("session_store_error") from None
        logger.info(
            "Session: %s store %s, token %s, PHPSESSID %s, resolver %s, egress %s, User-Agent %r",
            "reusing" if state.aws_waf_token or state.phpsessid else "starting an empty",
            self.store.location,
            mask(state.aws_waf_token),
            mask(state.phpsessid),
            self.resolver_name,
            self.sync.egress.key,
            self.sync.user_agent,
        )

    async def spider_closed(self) -> None:
        await self.repair.close()

    def _find_cookie_jar(self) -> CookieJar:
        for mw in self.crawler.engine.downloader.middleware.middlewares:
            if isinstance(mw, CookiesMiddleware):
                return mw.jars[self.cookiejar]
        raise LookupError("it needs Scrapy's CookiesMiddleware in DOWNLOADER_MIDDLEWARES")

    # ------------------------------------------------------------------ hot path

    async def process_request(self, request: Request) -> None:
        meta = request.meta
        sync, repair = self.sync, self.repair
        if repair.unrecoverable and not meta.get(BYPASS_META):
            raise IgnoreRequest(_UNRECOVERABLE)
        if sync.egress.on_request(request):  # a user's middleware chose another proxy
            sync.start_fresh()
        if meta.get(BYPASS_META):
            self.identity.apply(request.headers)  # the resolver's own calls look alike
            return
        if "cookiejar" not in meta:
            meta["cookiejar"] = self.cookiejar
        if repair.flights and not meta.get(INIT_META):
            # Hold new requests while the session is being repaired instead of sending them
            # with cookies the site is known to reject.
            await repair.wait()
            if repair.unrecoverable:
                raise IgnoreRequest(_UNRECOVERABLE)
        if sync.sync_interval > 0 and time.monotonic() >= sync.next_sync:
            sync.sync_from_store()
        self.identity.apply(request.headers)  # after any wait: the identity it goes out with
        meta[EPOCH_META] = sync.epoch

    async def process_response(self, request: Request, response: Response) -> Response | Request:
        meta = request.meta
        if meta.get(BYPASS_META):
            return response
        if _SET_COOKIE in response.headers:
            self.sync.write_back(response)
        verdict = classify_response(response)
        if verdict is Verdict.NONE:
            repair = self.repair
            if (
                repair.unproven  # only after a repair: the page proves the new session works
                and meta.get(EPOCH_META, -1) >= repair.proof_epoch
                and (urlparse_cached(request).hostname or "").lower() == self.site_host
            ):
                repair.proven()
            return response
        if (urlparse_cached(request).hostname or "").lower() != self.site_host:
            return response  # another host's 401/403 is not this session's business
        return await self._handle_blocked(request, verdict)

    # ------------------------------------------------------------------ blocked

    async def _handle_blocked(self, request: Request, verdict: Verdict) -> Request:
        if verdict is Verdict.SESSION:
            self._inc("session_expired")
        else:
            self._inc("challenges_detected")
            self._inc(f"challenges_detected/{verdict.value}")
        meta = request.meta
        retries = meta.get(RETRIES_META, 0)
        if self.repair.unrecoverable:
            self._give_up(request, verdict, "the session is unrecoverable")
        if retries >= self.max_retries:
            self._give_up(request, verdict, f"{retries} session retries")
        if meta.get(INIT_META) and verdict is Verdict.SESSION:
            self._give_up(request, verdict, "the session-init request itself got a 401")
        try:
            await self.repair.repair(request, verdict, meta.get(EPOCH_META, -1))
        except ResolutionError:
            if self.repair.unrecoverable:
                self._give_up(request, verdict, "the session is unrecoverable")
        return self._retry(request, verdict)

    def _retry(self, request: Request, verdict: Verdict) -> Request:
        """A retry through Scrapy's ``get_retry_request``, on the session's own budget.

        ``retry_times`` (``RetryMiddleware``'s count, ``RETRY_TIMES``) is swapped for the
        session count during the call and restored after, so the two budgets stay apart.
        """
        meta = request.meta
        shared = meta.get("retry_times")
        meta["retry_times"] = meta.get(RETRIES_META, 0)
        try:
            retry = get_retry_request(
                request,
                spider=self.crawler.spider,
                reason=verdict.value,
                max_retry_times=self.max_retries,
                priority_adjust=0,
                stats_base_key=f"{STATS_PREFIX}retry",
                logger=logger,
            )
        finally:
            _restore(meta, shared)
        if retry is None:
            self._give_up(request, verdict, f"{self.max_retries} session retries")
        retry.meta[RETRIES_META] = retry.meta["retry_times"]
        _restore(retry.meta, shared)
        retry.meta.pop(EPOCH_META, None)
        self._inc("retries")
        return retry

    def _give_up(self, request: Request, verdict: Verdict, why: str) -> NoReturn:
        self._inc("gave_up")
        logger.warning("Session: gave up on %s (%s): %s", request, verdict.value, why)
        raise IgnoreRequest(f"CWO session: gave up after {verdict.value} ({why})")

    def _inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(STATS_PREFIX + key, count)


def _restore(meta: dict, shared: int | None) -> None:
    """Put ``RetryMiddleware``'s own ``retry_times`` back as it was."""
    if shared is None:
        meta.pop("retry_times", None)
    else:
        meta["retry_times"] = shared
