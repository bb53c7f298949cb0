"""Keeps Scrapy's cookie jar and the session store in step: the session middleware's jar side.

The store (``cwo_scrapy.session``) persists ``PHPSESSID``, ``aws-waf-token`` and the session's
User-Agent; Scrapy's ``CookiesMiddleware`` jar is what requests go out with. :class:`JarSync`
installs the stored cookies in the jar, writes back the ones the site changed, and picks up
what another process stored. It knows nothing of WAF verdicts or repairs; the repair piece
(``cwo_scrapy.session_repair``) calls :meth:`JarSync.install` and bumps :attr:`JarSync.epoch`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from http.cookiejar import Cookie
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from scrapy.utils.httpobj import urlparse_cached

from cwo_scrapy.session import SessionState, SessionStoreError, mask
from cwo_scrapy.session.state import SESSION_COOKIE, TOKEN_COOKIE

if TYPE_CHECKING:
    from scrapy.http import Response
    from scrapy.http.cookies import CookieJar

    from cwo_scrapy.egress import EgressTracker
    from cwo_scrapy.identity_middleware import CurrentIdentity
    from cwo_scrapy.session import SessionStore

__all__ = ["JarSync", "host_only_domain"]

# The session middleware's logger: its lines keep the name users filter on.
logger = logging.getLogger("cwo_scrapy.middleware")

_SET_COOKIE = b"Set-Cookie"
_TOKEN_NAME = TOKEN_COOKIE.encode()
_SESSION_NAME = SESSION_COOKIE.encode()
_COOKIES = (("aws_waf_token", TOKEN_COOKIE), ("phpsessid", SESSION_COOKIE))


class JarSync:
    """The cookies and User-Agent requests go out with, mirrored to and from the store.

    ``epoch`` grows by one whenever those cookies change in a way that could make a blocked
    request succeed on retry (a new token, a fresh session); a request remembers the epoch it
    was sent with, so a block seen with an older epoch is already repaired.
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        site_url: str,
        max_age: float,
        sync_interval: float,
        new_identity: Callable[[], tuple[str, Any]],
        pinned_user_agent: Callable[[], str | None],
        inc: Callable[[str, int], None],
        egress: EgressTracker,
        identity: CurrentIdentity,
    ) -> None:
        parsed = urlparse(site_url)
        self.store = store
        self.site_host = (parsed.hostname or "").lower()
        self.max_age = max_age
        self.sync_interval = sync_interval
        self._secure = parsed.scheme == "https"
        self._cookie_domain = host_only_domain(self.site_host)
        self._new_identity = new_identity  # (User-Agent, identity headers): cwo_scrapy.identity
        self._pinned_user_agent = pinned_user_agent
        self.egress = egress  # a session belongs to the egress (proxy or direct) it was earned on
        self._inc = inc
        self.state = SessionState()  # last persisted state this process knows
        self.identity = identity  # what requests go out with (cwo_scrapy.identity_middleware)
        self.jar_token: str | None = None  # the token currently in the jar
        self.epoch = 0
        self.next_sync = 0.0
        self.jar: CookieJar | None = None

    @property
    def user_agent(self) -> str:
        """The User-Agent requests go out with (the installed session's)."""
        return self.identity.user_agent

    def open(self, jar: CookieJar) -> SessionState:
        """Load (or start) the session and install it in ``jar``; raises SessionStoreError."""
        self.jar = jar
        state = self.ensure_fresh(self.store.load())
        self.install(state, reset=False)
        self.next_sync = time.monotonic() + self.sync_interval
        return state

    def ensure_fresh(self, state: SessionState) -> SessionState:
        """A session with a User-Agent that is younger than ``CWO_SESSION_MAX_AGE``.

        Written with ``expect_generation`` so two processes starting together agree on one
        User-Agent: the loser adopts the winner's session instead of overwriting it.
        """
        for _ in range(5):
            now = time.time()
            age = state.age(now)
            too_old = self.max_age > 0 and age is not None and age > self.max_age
            foreign = not too_old and self.egress.foreign(state)  # earned through another proxy
            pinned = self._pinned_user_agent()
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
                changes = dict.fromkeys(
                    ("aws_waf_token", "phpsessid", "token_obtained_at", "phpsessid_obtained_at")
                )
            user_agent, headers = self._new_identity()
            new = self.write(
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

    # ------------------------------------------------------------------ jar

    def install(self, state: SessionState, *, reset: bool) -> None:
        """Make ``state`` the session requests go out with (jar cookies and User-Agent)."""
        assert self.jar is not None
        if reset:
            self.jar.clear()
        self.state = state
        if state.user_agent and state.user_agent != self.user_agent:
            self.identity.set(state.user_agent, state.identity_headers)
        for name, value in ((TOKEN_COOKIE, state.aws_waf_token), (SESSION_COOKIE, state.phpsessid)):
            if value:
                self._set_cookie(name, value)
        self.jar_token = state.aws_waf_token

    def reset_jar(self) -> None:
        """Drop every cookie of the session's jar and the stored ``PHPSESSID``; keep the token."""
        self._inc("jar_resets", 1)
        state = self.persist(phpsessid=None, phpsessid_obtained_at=None) or self.state
        self.install(state, reset=True)

    def _drop_cookies(self, name: str, keep_value: str | None = None) -> None:
        """Remove the site's cookies called ``name`` (except those holding ``keep_value``)."""
        assert self.jar is not None
        hosts = self._hosts()
        stale = [
            c
            for c in self.jar
            if c.name == name and c.value != keep_value and c.domain.lstrip(".") in hosts
        ]
        for cookie in stale:
            with contextlib.suppress(KeyError):
                self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def _set_cookie(self, name: str, value: str) -> None:
        """Replace any cookie of that name with a host-only one for the site host."""
        assert self.jar is not None
        self._drop_cookies(name)
        self.jar.set_cookie(
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

    # ------------------------------------------------------------------ store

    def write(self, expect_generation: int | None = None, **changes: Any) -> SessionState:
        """Persist ``changes``; counts the write. Store errors propagate (SessionStoreError)."""
        before = self.store.writes
        new = self.store.update(expect_generation=expect_generation, **changes)
        written = self.store.writes - before
        if written > 0:
            self._inc("store_writes", written)
        return new

    def persist(self, **changes: Any) -> SessionState | None:
        """Persist during the crawl: a store failure is logged, the crawl goes on in memory."""
        try:
            new = self.write(**changes)
        except (SessionStoreError, TimeoutError) as exc:
            self._inc("store_errors", 1)
            logger.warning("Session: could not persist a session change: %s", exc)
            self.state = self.state.replace(**changes)
            return None
        self.state = new
        return new

    def write_back(self, response: Response) -> None:
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
            if name == _SESSION_NAME and value != self.state.phpsessid:
                changes.update(phpsessid=value, phpsessid_obtained_at=now)
            elif name == _TOKEN_NAME and value != self.jar_token:
                changes.update(aws_waf_token=value, token_obtained_at=now)
        if not changes:
            return
        if "aws_waf_token" in changes:
            self.jar_token = changes["aws_waf_token"]
        self.persist(**changes)
        # The site may scope its cookie differently from our injected host-only one; keep only
        # its value so the two never go out side by side (a rare jar scan: values changed).
        for key, cookie_name in _COOKIES:
            if key in changes:
                self._drop_cookies(cookie_name, keep_value=changes[key])
        logger.info(
            "Session: the site set %s; saved to the session store",
            ", ".join(
                f"{label} {mask(changes[key])}" for key, label in _COOKIES[::-1] if key in changes
            ),
        )

    def sync_from_store(self) -> None:
        """Pick up a change another process made (new token, clean, expiry); a stat when idle."""
        self.next_sync = time.monotonic() + self.sync_interval
        try:
            state = self.store.load()
            if state == self.state:
                if self.max_age > 0 and (state.age(time.time()) or 0.0) > self.max_age:
                    self.start_fresh()
                return
            if not state.user_agent:  # emptied by `scrapy cleansession --clean`
                logger.info("Session: the session store was emptied; starting a fresh session")
                self.start_fresh()
                return
            state = self.ensure_fresh(state)
        except (SessionStoreError, TimeoutError) as exc:
            logger.warning("Session: could not read the session store: %s", exc)
            return
        changed = state.aws_waf_token != self.jar_token or state.user_agent != self.user_agent
        self.install(state, reset=False)
        if changed:
            self.epoch += 1
            logger.info(
                "Session: picked up token %s from the session store", mask(state.aws_waf_token)
            )

    def start_fresh(self) -> None:
        """Reset the jar to a fresh stored session (or the one another process just started)."""
        state = self.ensure_fresh(self.store.load())
        self.install(state, reset=True)
        self.epoch += 1
        self._inc("jar_resets", 1)


def _is_ip(host: str) -> bool:
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_only_domain(host: str) -> str:
    """The domain ``http.cookiejar`` records for a host-only cookie of ``host``.

    Python's cookiejar keys a dotless host (``localhost``) as ``localhost.local``; IPs and
    dotted names are kept as they are.
    """
    if "." not in host and not _is_ip(host):
        return f"{host}.local"
    return host
