"""Repairs a blocked session once for every request that saw the block: the middleware's brain.

A 401 means the PHP session is gone (re-initialise it); a WAF challenge, captcha or 403 means
the token is refused (adopt one another process stored, else resolve a new one). One repair of
each kind runs at a time (single flight) and every blocked request awaits its outcome; across
processes, the store's resolution lock plays the same role.

It also decides when to give up, so a crawl never burns solver money for nothing:

- ``CWO_SESSION_MAX_FAILED_RESOLUTIONS`` failures in a row close the crawl
  ``session_unrecoverable``. A failure is a resolution that raised, timed out or could not take
  the lock, and also a token (resolved or adopted) that the site blocked again before it served
  a single page: being issued is not the same as working.
- ``CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR`` caps resolution attempts in any sliding hour.

It talks to Scrapy only through the ``download`` callable it is given (the session-init request
and the resolver's own requests) and the ``close`` callable; tests drive it with fakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NoReturn

from scrapy import Request
from scrapy.utils.httpobj import urlparse_cached

from cwo_scrapy import identity
from cwo_scrapy.resolvers import ResolutionError, ResolveContext
from cwo_scrapy.session import SessionState, SessionStoreError, mask
from cwo_scrapy.waf_detect import Verdict

if TYPE_CHECKING:
    from scrapy.http import Response

    from cwo_scrapy.resolvers import Resolver
    from cwo_scrapy.session_jar import JarSync

__all__ = ["INIT_META", "HourlyCap", "SessionRepair", "page_url_for"]

# The session middleware's logger: its lines keep the name users filter on.
logger = logging.getLogger("cwo_scrapy.middleware")

INIT_META = "_cwo_session_init"  # marks the session-init request the repair sends itself
HOUR = 3600.0


class SessionRepair:
    """Single-flight session repair with failure accounting; see the module docstring."""

    def __init__(
        self,
        sync: JarSync,
        resolver: Resolver,
        *,
        resolver_name: str,
        download: Callable[[Request], Awaitable[Response]],
        close: Callable[[str], None],
        inc: Callable[[str, int], None],
        home_url: str,
        init_url: str,
        cookiejar: str,
        max_failed: int,
        max_per_hour: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sync = sync
        self.store = sync.store
        self.resolver = resolver
        self.resolver_name = resolver_name
        self._download = download
        self._close = close
        self._inc = inc
        self.home_url = home_url
        self.init_url = init_url
        self.cookiejar = cookiejar
        self.max_failed = max(1, max_failed)
        self._lock_timeout = float(resolver.timeout) + 30.0
        self.flights: dict[str, asyncio.Future[None]] = {}
        self.failures = 0  # consecutive failures (see the module docstring)
        self.unrecoverable = False
        self.unproven = False  # the current token came from a repair and served no page yet
        self.proof_epoch = 0  # the epoch of that token: only requests sent with it prove it
        self._hourly = HourlyCap(max_per_hour, clock)
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ entry points

    async def repair(self, request: Request, verdict: Verdict, sent_epoch: int) -> None:
        """Repair the session ``request`` was blocked with, or join the repair under way.

        Returns at once when the session changed since the request went out (it was already
        repaired). Raises :class:`ResolutionError` when this repair failed.
        """
        if self.unrecoverable:
            raise ResolutionError("the session is unrecoverable")
        if sent_epoch < self.sync.epoch:
            logger.debug(
                "Session: %s was blocked with an older session; retrying with the current one",
                request,
            )
            return
        if verdict is Verdict.SESSION:
            await self._single_flight("session", self._reinit_session)
        else:
            await self._single_flight("token", lambda: self._renew_token(request, verdict))

    async def wait(self) -> None:
        """Until the repairs under way are over (new requests wait instead of being blocked)."""
        await asyncio.wait(list(self.flights.values()))

    def proven(self) -> None:
        """The site served a page with the repaired session: it works, failures start over."""
        self.unproven = False
        self.failures = 0

    async def close(self) -> None:
        """Cancel the repairs under way, then release the resolver and the lock thread."""
        flights = list(self.flights.values())
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

    # ------------------------------------------------------------------ single flight

    async def _single_flight(self, kind: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run one repair of ``kind`` at a time; every caller awaits the same outcome."""
        flight = self.flights.get(kind)
        if flight is None:
            flight = asyncio.ensure_future(factory())
            self.flights[kind] = flight
            flight.add_done_callback(lambda done: self._flight_done(kind, done))
        await asyncio.shield(flight)

    def _flight_done(self, kind: str, flight: asyncio.Future[None]) -> None:
        if self.flights.get(kind) is flight:
            del self.flights[kind]
        if not flight.cancelled():
            flight.exception()  # retrieved here so an unawaited failure is not reported twice

    # ------------------------------------------------------------------ 401: PHP session

    async def _reinit_session(self) -> None:
        """401: the PHP session is gone. Reset the jar and let the home page start a new one."""
        sync = self.sync
        old = sync.state.phpsessid
        sync.reset_jar()
        self._inc("session_inits", 1)
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
            response = await self._download(init)
        except Exception as exc:  # IgnoreRequest after its own retries, connection errors
            self._inc("session_init_failures", 1)
            logger.warning(
                "Session: the session-init request failed (%s); retrying the blocked requests "
                "anyway",
                type(exc).__name__,
            )
        else:
            if sync.state.phpsessid and sync.state.phpsessid != old:
                logger.info("Session: new PHPSESSID %s", mask(sync.state.phpsessid))
            else:
                self._inc("session_init_failures", 1)
                logger.warning(
                    "Session: the session-init request (HTTP %d) set no new PHPSESSID",
                    response.status,
                )
        sync.epoch += 1

    # ------------------------------------------------------------------ token

    async def _renew_token(self, request: Request, verdict: Verdict) -> None:
        """Get a token the site accepts: adopt one another process obtained, else resolve."""
        if self.unproven:
            self.unproven = False
            self._failed(
                f"the site blocked ({verdict.value}) the last new token before serving any page"
            )
            if self.unrecoverable:
                raise ResolutionError("the session is unrecoverable")
        sync = self.sync
        stale = sync.jar_token
        if verdict is Verdict.BLOCK:
            sync.reset_jar()
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
        except (TimeoutError, SessionStoreError) as exc:
            self._resolution_failed(f"could not take the resolution lock: {exc}")
        try:
            try:
                current = await loop.run_in_executor(executor, self.store.load)
            except SessionStoreError as exc:
                logger.warning("Session: could not re-read the session store: %s", exc)
                current = sync.state
            if (
                current.aws_waf_token
                and current.aws_waf_token != stale
                and sync.egress.owns(current)  # a token is bound to the egress it was earned on
            ):
                self._adopt(current)
                return
            await self._resolve(request, verdict, stale)
        finally:
            await loop.run_in_executor(executor, lock.__exit__, None, None, None)

    def _adopt(self, state: SessionState) -> None:
        self._inc("adopted_tokens", 1)
        self.sync.install(state, reset=False)
        self.sync.epoch += 1
        self._on_probation()
        logger.info(
            "Session: adopted token %s that another crawl obtained; no resolution needed",
            mask(state.aws_waf_token),
        )

    def _check_hourly_cap(self) -> None:
        """Refuse a resolution beyond ``CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR`` (then close)."""
        count = self._hourly.take()
        if count is None:
            return
        message = (
            f"{count} resolutions in the last hour reached "
            f"CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR={self._hourly.limit}"
        )
        self._inc("resolution_cap_reached", 1)
        self._give_up_crawl(message)
        raise ResolutionError(message)

    async def _resolve(self, request: Request, verdict: Verdict, stale: str | None) -> None:
        self._check_hourly_cap()
        sync = self.sync
        page_url = page_url_for(request, self.sync.site_host, self.home_url)
        timeout = float(self.resolver.timeout)
        ctx = ResolveContext(
            page_url=page_url,
            user_agent=sync.user_agent,
            stale_token=stale,
            headers=sync.state.identity_headers or identity.session_headers(sync.user_agent),
            timeout=timeout,
            download=self._download,
            proxy=sync.egress.proxy,
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
            "egress": sync.egress.key,
        }
        if resolution.user_agent and resolution.user_agent != sync.user_agent:
            changes["user_agent"] = resolution.user_agent
            changes["identity_headers"] = identity.session_headers(resolution.user_agent)
            logger.info("Session: the token is bound to User-Agent %r", resolution.user_agent)
        if resolution.phpsessid and not sync.state.phpsessid:
            changes.update(phpsessid=resolution.phpsessid, phpsessid_obtained_at=now)
        state = sync.persist(**changes) or sync.state
        sync.install(state, reset=False)
        sync.epoch += 1
        self._on_probation()
        self._inc("resolutions", 1)
        logger.info(
            "Session: %s resolved in %.1fs; new token %s",
            verdict.value,
            time.monotonic() - started,
            mask(resolution.aws_waf_token),
        )

    def _on_probation(self) -> None:
        self.unproven = True
        self.proof_epoch = self.sync.epoch

    # ------------------------------------------------------------------ failures

    def _failed(self, message: str) -> None:
        """Count one failure; close the crawl once there are too many in a row."""
        message = self.sync.egress.scrub(message)  # a proxy password never reaches a log or stat
        self.failures += 1
        self._inc("resolution_failures", 1)
        logger.error(
            "Session: resolution failed (%d in a row, limit %d): %s",
            self.failures,
            self.max_failed,
            message,
        )
        if self.failures >= self.max_failed:
            self._give_up_crawl(
                f"{self.failures} consecutive failed resolutions with the "
                f"{self.resolver_name!r} resolver; last: {message}"
            )

    def _resolution_failed(self, message: str) -> NoReturn:
        self._failed(message)
        raise ResolutionError(message)

    def _give_up_crawl(self, message: str) -> None:
        if self.unrecoverable:
            return
        self.unrecoverable = True
        logger.error("Session: %s; closing the spider (session_unrecoverable)", message)
        self._close(message)


class HourlyCap:
    """At most ``limit`` events in any sliding hour (0: no limit)."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._times: deque[float] = deque()

    def take(self) -> int | None:
        """Record one event and return None, or the count in the last hour when it is full."""
        if self.limit <= 0:
            return None
        now = self._clock()
        times = self._times
        while times and now - times[0] >= HOUR:
            times.popleft()
        if len(times) >= self.limit:
            return len(times)
        times.append(now)
        return None


def page_url_for(request: Request, site_host: str, home_url: str) -> str:
    """The page a resolver solves on: the blocked page if it is an HTML page, else home."""
    parsed = urlparse_cached(request)
    accept = request.headers.get(b"Accept") or b""
    if (
        request.method == "GET"
        and (parsed.hostname or "").lower() == site_host
        and not parsed.path.startswith("/api/")
        and (not accept or b"text/html" in accept)
    ):
        return request.url
    return home_url
