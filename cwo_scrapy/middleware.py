"""Session middleware: keeps one CWO session alive across requests, runs, spiders and processes.

It only orchestrates: the store (``cwo_scrapy.session``) persists ``PHPSESSID``,
``aws-waf-token`` and the session's User-Agent; ``cwo_scrapy.waf_detect`` says what a response
means; a resolver (``cwo_scrapy.resolvers``) obtains a fresh token. The middleware injects the
persisted cookies into Scrapy's own cookie jar, writes changed cookies back, and on a 401, a
403 or a WAF challenge repairs the session once (single flight, also across processes through
the store's resolution lock) and retries the blocked requests.

Placement: :data:`PRIORITY` = 585 in ``DOWNLOADER_MIDDLEWARES``.

- ``process_request`` runs before ``CookiesMiddleware`` (700), so the ``cookiejar`` key it sets
  is the jar Scrapy then reads, and before ``HttpCompressionMiddleware`` (590) and
  ``RedirectMiddleware`` (600), which do not care.
- ``process_response`` runs after ``CookiesMiddleware`` stored the response's ``Set-Cookie``
  in the jar, after ``HttpCompressionMiddleware`` decompressed the body (the "Human
  Verification" title check needs plain bytes) and after ``RedirectMiddleware``, and before
  ``RetryMiddleware`` (550), so a 202/401/403/405 WAF answer becomes a session retry instead of
  a blind retry or an interstitial handed to a callback.

The per-request hot path is a few dict operations, one header assignment and a bounded
classification of the response: no store I/O (except a stat every ``CWO_SESSION_SYNC_INTERVAL``
seconds), no jar scans.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import Cookie
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlparse

from scrapy import Request, signals
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.exceptions import CloseSpider, IgnoreRequest, NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from cwo_scrapy import identity
from cwo_scrapy.closing import close_crawl
from cwo_scrapy.egress import EgressTracker
from cwo_scrapy.resolvers import BYPASS_META, ResolutionError, ResolveContext, build_resolver
from cwo_scrapy.session import SessionFileError, SessionState, mask, store_from_settings
from cwo_scrapy.session.state import SESSION_COOKIE, TOKEN_COOKIE
from cwo_scrapy.urls import DEFAULT_SITE_URL
from cwo_scrapy.waf_detect import Verdict, classify_response

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.http.cookies import CookieJar

    from cwo_scrapy.resolvers import Resolver
    from cwo_scrapy.session import SessionStore

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
INIT_META = "_cwo_session_init"  # marks the middleware's own session-init request
CLOSE_REASON = "session_unrecoverable"
_SET_COOKIE = b"Set-Cookie"
_TOKEN_NAME = TOKEN_COOKIE.encode()
_SESSION_NAME = SESSION_COOKIE.encode()


class SessionMiddleware:
    """Downloader middleware that owns the CWO session; see the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("CWO_SESSION_ENABLED", True):
            raise NotConfigured  # switched off on purpose: no "Disabled ..." warning
        if not settings.getbool("COOKIES_ENABLED", True):
            raise NotConfigured("the session middleware needs COOKIES_ENABLED")
        self.crawler = crawler
        self.cookiejar: str = settings.get("CWO_COOKIEJAR") or "cwo"
        self.max_age = settings.getfloat("CWO_SESSION_MAX_AGE", 24 * 3600.0)
        self.max_retries = settings.getint("CWO_SESSION_MAX_RETRIES", 3)
        self.max_failed = max(1, settings.getint("CWO_SESSION_MAX_FAILED_RESOLUTIONS", 3))
        self.sync_interval = settings.getfloat("CWO_SESSION_SYNC_INTERVAL", 30.0)
        site_url = (settings.get("CWO_SITE_URL") or DEFAULT_SITE_URL).rstrip("/")
        self.home_url = f"{site_url}/"
        self.init_url: str = settings.get("CWO_SESSION_INIT_URL") or self.home_url
        parsed = urlparse(site_url)
        self.site_host = (parsed.hostname or "").lower()
        self._secure = parsed.scheme == "https"
        self._cookie_domain = _host_only_domain(self.site_host)
        self.store: SessionStore = store_from_settings(settings)
        self.resolver: Resolver = build_resolver(crawler)
        self.resolver_name: str = settings.get("CWO_CAPTCHA_RESOLVER") or "browser"
        self.egress = EgressTracker(crawler, site_url)  # one proxy (or none) per session
        self._lock_timeout = float(self.resolver.timeout) + 30.0

        self._state = SessionState()  # last persisted state this middleware knows
        self._user_agent = ""
        self._ua_header = b""
        self._id_headers: tuple[tuple[bytes, bytes], ...] = ()  # client hints, Accept-Language
        self._jar_token: str | None = None  # the token currently in the jar
        self._epoch = 0  # +1 whenever the cookies requests go out with are repaired
        self._flights: dict[str, asyncio.Future[None]] = {}
        self._failures = 0  # consecutive failed resolutions
        self._unrecoverable = False
        self._next_sync = 0.0
        self._jar: CookieJar | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # ------------------------------------------------------------------ life cycle

    def spider_opened(self) -> None:
        """Load (or start) the session and put its cookies into Scrapy's jar."""
        try:
            self._jar = self._find_cookie_jar()
        except LookupError as exc:
            logger.error("Session middleware misconfigured: %s", exc)
            raise CloseSpider("session_misconfigured") from None
        try:
            state = self._ensure_fresh(self.store.load())
        except SessionFileError as exc:
            logger.error("Session store unusable: %s", exc)
            self._close_message(str(exc))
            raise CloseSpider("session_store_error") from None
        self._install(state, reset=False)
        self._next_sync = time.monotonic() + self.sync_interval
        logger.info(
            "Session: %s store %s, token %s, PHPSESSID %s, resolver %s, egress %s, User-Agent %r",
            "reusing" if state.aws_waf_token or state.phpsessid else "starting an empty",
            self.store.location,
            mask(state.aws_waf_token),
            mask(state.phpsessid),
            self.resolver_name,
            self.egress.key,
            self._user_agent,
        )

    async def spider_closed(self) -> None:
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        if flights:  # let them release the resolution lock before the executor goes away
            await asyncio.wait(flights, timeout=10)
        try:
            await self.resolver.close()
        except Exception as exc:
            logger.warning("Session: closing the resolver failed (%s)", type(exc).__name__)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _find_cookie_jar(self) -> CookieJar:
        for mw in self.crawler.engine.downloader.middleware.middlewares:
            if isinstance(mw, CookiesMiddleware):
                return mw.jars[self.cookiejar]
        raise LookupError("it needs Scrapy's CookiesMiddleware in DOWNLOADER_MIDDLEWARES")

    def _ensure_fresh(self, state: SessionState) -> SessionState:
        """A session with a User-Agent that is younger than ``CWO_SESSION_MAX_AGE``.

        Written with ``expect_generation`` so two processes starting together agree on one
        User-Agent: the loser adopts the winner's session instead of overwriting it.
        """
        for _ in range(5):
            now = time.time()
            age = state.age(now)
            too_old = self.max_age > 0 and age is not None and age > self.max_age
            foreign = not too_old and self.egress.foreign(state)  # earned through another proxy
            pinned = identity.pinned_user_agent(self.crawler.settings)
            repinned = bool(pinned and state.user_agent and state.user_agent != pinned)
            if state.user_agent and not too_old and not foreign and not repinned:
                return state
            changes: dict[str, Any] = {}
            if repinned:
                logger.info(
                    "Session: the pinned User-Agent differs from the stored session's; "
                    "starting a fresh session"
                )
            elif too_old:
                logger.info(
                    "Session: stored session is %.0fs old (CWO_SESSION_MAX_AGE=%.0fs); "
                    "starting a fresh one",
                    age,
                    self.max_age,
                )
            if too_old or repinned or foreign:
                changes = {
                    "aws_waf_token": None,
                    "phpsessid": None,
                    "token_obtained_at": None,
                    "phpsessid_obtained_at": None,
                }
            user_agent, headers = identity.new_identity(self.crawler.settings)
            new = self._write(
                expect_generation=state.generation,
                user_agent=user_agent,
                identity_headers=headers,
                created_at=now,
                egress=self.egress.key,
                **changes,
            )
            if new.user_agent == user_agent and new.created_at == now:
                return new
            state = new  # another process started a session first: adopt it
        return state

    # ------------------------------------------------------------------ hot path

    async def process_request(self, request: Request) -> None:
        meta = request.meta
        if self._unrecoverable and not meta.get(BYPASS_META):
            raise IgnoreRequest("CWO session unrecoverable; not sending more requests")
        request.headers[b"User-Agent"] = self._ua_header
        for name, value in self._id_headers:
            request.headers[name] = value
        if self.egress.on_request(request):  # a user's middleware chose another proxy
            self._start_fresh()
        if meta.get(BYPASS_META):
            return
        if "cookiejar" not in meta:
            meta["cookiejar"] = self.cookiejar
        if self._flights and not meta.get(INIT_META):
            # Hold new requests while the session is being repaired instead of sending them
            # with cookies the site is known to reject.
            await asyncio.wait(list(self._flights.values()))
            if self._unrecoverable:
                raise IgnoreRequest("CWO session unrecoverable; not sending more requests")
        if self.sync_interval > 0 and time.monotonic() >= self._next_sync:
            self._sync_from_store()
        meta[EPOCH_META] = self._epoch

    async def process_response(self, request: Request, response: Response) -> Response | Request:
        if request.meta.get(BYPASS_META):
            return response
        if _SET_COOKIE in response.headers:
            self._write_back(response)
        verdict = classify_response(response)
        if verdict is Verdict.NONE:
            return response
        if (urlparse_cached(request).hostname or "").lower() != self.site_host:
            return response  # another host's 401/403 is not this session's business
        return await self._handle_blocked(request, response, verdict)

    # ------------------------------------------------------------------ store <-> jar

    def _install(self, state: SessionState, *, reset: bool) -> None:
        """Make ``state`` the session requests go out with (jar cookies and User-Agent)."""
        assert self._jar is not None
        if reset:
            self._jar.clear()
        self._state = state
        if state.user_agent and state.user_agent != self._user_agent:
            self._user_agent = state.user_agent
            self._ua_header = state.user_agent.encode("utf-8")
            self._id_headers = identity.request_headers(state.user_agent, state.identity_headers)
        for name, value in ((TOKEN_COOKIE, state.aws_waf_token), (SESSION_COOKIE, state.phpsessid)):
            if value:
                self._set_cookie(name, value)
        self._jar_token = state.aws_waf_token

    def _drop_cookies(self, name: str, keep_value: str | None = None) -> None:
        """Remove the site's cookies called ``name`` (except those holding ``keep_value``)."""
        assert self._jar is not None
        hosts = self._hosts()
        stale = [
            c
            for c in self._jar
            if c.name == name and c.value != keep_value and c.domain.lstrip(".") in hosts
        ]
        for cookie in stale:
            with contextlib.suppress(KeyError):
                self._jar.clear(cookie.domain, cookie.path, cookie.name)

    def _set_cookie(self, name: str, value: str) -> None:
        """Replace any cookie of that name with a host-only one for the site host."""
        assert self._jar is not None
        self._drop_cookies(name)
        self._jar.set_cookie(
            Cookie(
                version=0,
                name=name,
                value=value,
                port=None,
                port_specified=False,
                domain=self._cookie_domain,
                domain_specified=False,  # host-only: AWS tokens match the exact host anyway
                domain_initial_dot=False,
                path="/",
                path_specified=True,
                secure=self._secure,  # cookiejar never sends Secure cookies over plain http
                expires=None,
                discard=True,
                comment=None,
                comment_url=None,
                rest={},
            )
        )

    def _hosts(self) -> set[str]:
        host = self.site_host
        hosts = {host, self._cookie_domain}
        parts = host.split(".")
        if len(parts) > 2 and not _is_ip(host):  # a Domain=.example.com cookie from the site
            hosts.add(".".join(parts[1:]))
        return hosts

    def _write(self, expect_generation: int | None = None, **changes: Any) -> SessionState:
        """Persist ``changes``; counts the write. Store errors propagate (SessionFileError)."""
        before = self.store.writes
        new = self.store.update(expect_generation=expect_generation, **changes)
        written = self.store.writes - before
        if written > 0:
            self._inc("store_writes", written)
        return new

    def _persist(self, **changes: Any) -> SessionState | None:
        """Persist during the crawl: a store failure is logged, the crawl goes on in memory."""
        try:
            new = self._write(**changes)
        except (SessionFileError, TimeoutError) as exc:
            self._inc("store_errors")
            logger.warning("Session: could not persist a session change: %s", exc)
            self._state = self._state.replace(**changes)
            return None
        self._state = new
        return new

    def _write_back(self, response: Response) -> None:
        """Persist ``PHPSESSID``/``aws-waf-token`` the site set, only when they changed."""
        if (urlparse_cached(response).hostname or "").lower() != self.site_host:
            return
        changes: dict[str, Any] = {}
        now = time.time()
        for raw in response.headers.getlist(_SET_COOKIE):
            name, _, rest = raw.partition(b"=")
            name = name.strip()
            if name not in (_TOKEN_NAME, _SESSION_NAME):
                continue
            value_bytes, _, attributes = rest.partition(b";")
            value = value_bytes.strip().decode("latin-1")
            if not value or b"max-age=0" in attributes.lower().replace(b" ", b""):
                continue
            if name == _SESSION_NAME and value != self._state.phpsessid:
                changes.update(phpsessid=value, phpsessid_obtained_at=now)
            elif name == _TOKEN_NAME and value != self._jar_token:
                changes.update(aws_waf_token=value, token_obtained_at=now)
        if not changes:
            return
        if "aws_waf_token" in changes:
            self._jar_token = changes["aws_waf_token"]
        self._persist(**changes)
        # The site may scope its cookie differently from our injected host-only one; keep only
        # its value so the two never go out side by side (a rare jar scan: values changed).
        for key, cookie_name in (("phpsessid", SESSION_COOKIE), ("aws_waf_token", TOKEN_COOKIE)):
            if key in changes:
                self._drop_cookies(cookie_name, keep_value=changes[key])
        logger.info(
            "Session: the site set %s; saved to the session store",
            ", ".join(
                f"{label} {mask(changes[key])}"
                for key, label in (("phpsessid", SESSION_COOKIE), ("aws_waf_token", TOKEN_COOKIE))
                if key in changes
            ),
        )

    def _sync_from_store(self) -> None:
        """Pick up a change another process made (new token, clean, expiry); a stat when idle."""
        self._next_sync = time.monotonic() + self.sync_interval
        try:
            state = self.store.load()
            if state == self._state:
                if self.max_age > 0 and (state.age(time.time()) or 0.0) > self.max_age:
                    self._start_fresh()
                return
            if not state.user_agent:  # emptied by `scrapy cleansession --clean`
                logger.info("Session: the session store was emptied; starting a fresh session")
                self._start_fresh()
                return
            state = self._ensure_fresh(state)
        except (SessionFileError, TimeoutError) as exc:
            logger.warning("Session: could not read the session store: %s", exc)
            return
        changed = state.aws_waf_token != self._jar_token or state.user_agent != self._user_agent
        self._install(state, reset=False)
        if changed:
            self._epoch += 1
            logger.info(
                "Session: picked up token %s from the session store", mask(state.aws_waf_token)
            )

    def _start_fresh(self) -> None:
        state = self._ensure_fresh(self.store.load())
        self._install(state, reset=True)
        self._epoch += 1
        self._inc("jar_resets")

    # ------------------------------------------------------------------ recovery

    async def _handle_blocked(
        self, request: Request, response: Response, verdict: Verdict
    ) -> Request:
        if verdict is Verdict.SESSION:
            self._inc("session_expired")
        else:
            self._inc("challenges_detected")
            self._inc(f"challenges_detected/{verdict.value}")
        meta = request.meta
        retries = meta.get(RETRIES_META, 0)
        if self._unrecoverable:
            self._give_up(request, verdict, "the session is unrecoverable")
        if retries >= self.max_retries:
            self._give_up(request, verdict, f"{retries} session retries")
        if meta.get(INIT_META) and verdict is Verdict.SESSION:
            self._give_up(request, verdict, "the session-init request itself got a 401")
        if meta.get(EPOCH_META, -1) >= self._epoch:
            # Nothing has been repaired since this request went out: repair it (or join the
            # repair already running for the same epoch).
            try:
                if verdict is Verdict.SESSION:
                    await self._single_flight("session", self._reinit_session)
                else:
                    await self._single_flight("token", lambda: self._renew_token(request, verdict))
            except ResolutionError:
                if self._unrecoverable:
                    self._give_up(request, verdict, "the session is unrecoverable")
        else:
            logger.debug(
                "Session: %s was blocked with an older session; retrying with the current one",
                request,
            )
        return self._retry(request, verdict)

    async def _single_flight(self, kind: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run one repair of ``kind`` at a time; every caller awaits the same outcome."""
        flight = self._flights.get(kind)
        if flight is None:
            flight = asyncio.ensure_future(factory())
            self._flights[kind] = flight
            flight.add_done_callback(lambda done: self._flight_done(kind, done))
        await asyncio.shield(flight)

    def _flight_done(self, kind: str, flight: asyncio.Future[None]) -> None:
        if self._flights.get(kind) is flight:
            del self._flights[kind]
        if not flight.cancelled():
            flight.exception()  # retrieved here so an unawaited failure is not reported twice

    def _retry(self, request: Request, verdict: Verdict) -> Request:
        retries = request.meta.get(RETRIES_META, 0) + 1
        retry = request.replace(dont_filter=True)  # callback, errback, meta, priority kept
        retry.meta[RETRIES_META] = retries
        retry.meta.pop(EPOCH_META, None)
        self._inc("retries")
        logger.debug(
            "Session: retrying %s after %s (session retry %d/%d)",
            request,
            verdict.value,
            retries,
            self.max_retries,
        )
        return retry

    def _give_up(self, request: Request, verdict: Verdict, why: str) -> NoReturn:
        self._inc("gave_up")
        logger.warning("Session: gave up on %s (%s): %s", request, verdict.value, why)
        raise IgnoreRequest(f"CWO session: gave up after {verdict.value} ({why})")

    def _reset_jar(self) -> None:
        """Drop every cookie of the session's jar and the stored ``PHPSESSID``; keep the token."""
        self._inc("jar_resets")
        state = self._persist(phpsessid=None, phpsessid_obtained_at=None) or self._state
        self._install(state, reset=True)

    async def _reinit_session(self) -> None:
        """401: the PHP session is gone. Reset the jar and let the home page start a new one."""
        old = self._state.phpsessid
        self._reset_jar()
        self._inc("session_inits")
        logger.info(
            "Session: 401 Unauthorized (PHPSESSID %s); cookie jar reset, starting a new PHP "
            "session at %s",
            mask(old),
            self.init_url,
        )
        init = Request(
            self.init_url,
            dont_filter=True,
            meta={"cookiejar": self.cookiejar, INIT_META: True},
        )
        try:
            response = await self.crawler.engine.download_async(init)
        except Exception as exc:  # IgnoreRequest after its own retries, connection errors
            self._inc("session_init_failures")
            logger.warning(
                "Session: the session-init request failed (%s); retrying the blocked requests "
                "anyway",
                type(exc).__name__,
            )
        else:
            if self._state.phpsessid and self._state.phpsessid != old:
                logger.info("Session: new PHPSESSID %s", mask(self._state.phpsessid))
            else:
                self._inc("session_init_failures")
                logger.warning(
                    "Session: the session-init request (HTTP %d) set no new PHPSESSID",
                    response.status,
                )
        self._epoch += 1

    async def _renew_token(self, request: Request, verdict: Verdict) -> None:
        """Get a token the site accepts: adopt one another process obtained, else resolve."""
        stale = self._jar_token
        if verdict is Verdict.BLOCK:
            self._reset_jar()
            logger.info("Session: 403 Forbidden on %s; cookie jar reset", request.url)
        loop = asyncio.get_running_loop()
        if self._executor is None:
            # One thread for the lock's enter and exit: a blocking filelock never stalls the
            # event loop, and both ends run on the same thread.
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="cwo-session-lock")
        executor = self._executor
        lock = self.store.resolution_lock(self._lock_timeout)
        try:
            await loop.run_in_executor(executor, lock.__enter__)
        except (TimeoutError, SessionFileError) as exc:
            self._resolution_failed(f"could not take the resolution lock: {exc}")
        try:
            try:
                current = await loop.run_in_executor(executor, self.store.load)
            except SessionFileError as exc:
                logger.warning("Session: could not re-read the session store: %s", exc)
                current = self._state
            if (
                current.aws_waf_token
                and current.aws_waf_token != stale
                and self.egress.owns(current)
            ):
                self._adopt(current)
                return
            await self._resolve(request, verdict, stale)
        finally:
            await loop.run_in_executor(executor, lock.__exit__, None, None, None)

    def _adopt(self, state: SessionState) -> None:
        self._failures = 0
        self._inc("adopted_tokens")
        self._install(state, reset=False)
        self._epoch += 1
        logger.info(
            "Session: adopted token %s that another crawl obtained; no resolution needed",
            mask(state.aws_waf_token),
        )

    async def _resolve(self, request: Request, verdict: Verdict, stale: str | None) -> None:
        page_url = self._page_url(request)
        timeout = float(self.resolver.timeout)
        ctx = ResolveContext(
            page_url=page_url,
            user_agent=self._user_agent,
            stale_token=stale,
            headers=self._state.identity_headers or identity.session_headers(self._user_agent),
            timeout=timeout,
            download=self.crawler.engine.download_async,
            proxy=self.egress.proxy,
        )
        logger.info(
            "Session: %s on %s (token %s); resolving with the %s resolver on %s",
            verdict.value,
            request.url,
            mask(stale),
            self.resolver_name,
            page_url,
        )
        started = time.monotonic()
        try:
            # A little grace on top of the resolver's own timeout, so its clearer error wins.
            grace = min(5.0, max(1.0, timeout * 0.1))
            resolution = await asyncio.wait_for(self.resolver.resolve(ctx), timeout + grace)
        except ResolutionError as exc:
            self._resolution_failed(str(exc))
        except TimeoutError:
            self._resolution_failed(f"{self.resolver_name} resolver timed out after {timeout:g}s")
        except Exception as exc:  # a resolver bug must not leak its message (it may hold data)
            self._resolution_failed(f"{self.resolver_name} resolver raised {type(exc).__name__}")
        now = time.time()
        changes: dict[str, Any] = {
            "aws_waf_token": resolution.aws_waf_token,
            "token_obtained_at": now,
            "egress": self.egress.key,
        }
        if resolution.user_agent and resolution.user_agent != self._user_agent:
            changes["user_agent"] = resolution.user_agent
            changes["identity_headers"] = identity.session_headers(resolution.user_agent)
            logger.info("Session: the token is bound to User-Agent %r", resolution.user_agent)
        if resolution.phpsessid and not self._state.phpsessid:
            changes.update(phpsessid=resolution.phpsessid, phpsessid_obtained_at=now)
        state = self._persist(**changes) or self._state
        self._install(state, reset=False)
        self._epoch += 1
        self._failures = 0
        self._inc("resolutions")
        logger.info(
            "Session: %s resolved in %.1fs; new token %s",
            verdict.value,
            time.monotonic() - started,
            mask(resolution.aws_waf_token),
        )

    def _resolution_failed(self, message: str) -> NoReturn:
        """Count a failed resolution, close the spider after too many, and raise."""
        message = self.egress.scrub(message)  # a proxy password never reaches a log or stat
        self._failures += 1
        self._inc("resolution_failures")
        logger.error(
            "Session: resolution failed (%d in a row, limit %d): %s",
            self._failures,
            self.max_failed,
            message,
        )
        if self._failures >= self.max_failed and not self._unrecoverable:
            self._unrecoverable = True
            logger.error(
                "Session: %d consecutive failed resolutions; closing the spider (%s)",
                self._failures,
                CLOSE_REASON,
            )
            close_crawl(
                self.crawler,
                CLOSE_REASON,
                f"{self._failures} consecutive failed resolutions with the "
                f"{self.resolver_name!r} resolver; last: {message}",
            )
        raise ResolutionError(message)

    def _close_message(self, message: str) -> None:
        """Why the session closed the crawl, for ``scrapy crawl``'s one-line error (no secrets)."""
        self.crawler.stats.set_value(f"{STATS_PREFIX}close_message", message)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning(
                "Session: closing the spider failed (%s)", type(task.exception()).__name__
            )

    def _page_url(self, request: Request) -> str:
        """The page the resolver solves on: the blocked page if it is an HTML page, else home."""
        parsed = urlparse_cached(request)
        accept = request.headers.get(b"Accept") or b""
        if (
            request.method == "GET"
            and (parsed.hostname or "").lower() == self.site_host
            and not parsed.path.startswith("/api/")
            and (not accept or b"text/html" in accept)
        ):
            return request.url
        return self.home_url

    def _inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(STATS_PREFIX + key, count)


def _is_ip(host: str) -> bool:
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _host_only_domain(host: str) -> str:
    """The domain ``http.cookiejar`` records for a host-only cookie of ``host``.

    Python's cookiejar keys a dotless host (``localhost``) as ``localhost.local``; IPs and
    dotted names are kept as they are.
    """
    if "." not in host and not _is_ip(host):
        return f"{host}.local"
    return host
