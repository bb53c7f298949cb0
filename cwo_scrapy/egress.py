"""The crawl's egress: the one proxy (or none) every request and every token-earning path uses.

AWS WAF can bind a token to the IP that earned it (token provenance), so a token earned by the
browser or a solver from one IP and then used by Scrapy from another is refused, and the crawl
loops on challenges. One egress per session prevents that:

- the crawl's proxy comes from ``CWO_PROXY`` (one URL, credentials allowed), else from Scrapy's
  ``HttpProxyMiddleware`` environment (``http_proxy``/``https_proxy``/``no_proxy``), else a
  ``meta["proxy"]`` a user's downloader middleware (priority below 585) sets;
- the session store records the egress a session was earned through (the URL with its password
  masked, or ``"direct"``), and a stored session of another egress is not used;
- resolvers get the proxy URL in :attr:`ResolveContext.proxy` and earn the token through it.

The proxy password is a secret like a token: it never reaches logs, stats, errors or the store.
"""

from __future__ import annotations

import logging
from base64 import b64encode
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass

from scrapy.utils.httpobj import urlparse_cached

from cwo_scrapy.session.mask import mask_url

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

    from cwo_scrapy.session import SessionState

__all__ = [
    "DIRECT",
    "Egress",
    "EgressAddon",
    "EgressTracker",
    "SecretUrl",
    "crawl_egress",
    "parse_proxy",
    "setting_problems",
]

logger = logging.getLogger(__name__)

DIRECT = "direct"
PROXY_SCHEMES = ("http", "https")  # what Scrapy's downloader speaks to a proxy
_BYPASS_META = "cwo_session_bypass"  # cwo_scrapy.resolvers.BYPASS_META (no import cycle)


class SecretUrl(str):
    """A proxy URL whose ``repr`` is masked: Scrapy logs "Overridden settings" with ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_url(str(self)))


def parse_proxy(url: str) -> str:
    """``url`` normalised (``host:port`` gets ``http://``); ``ValueError`` with a masked message."""
    text = str(url).strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{mask_url(text)} is not a proxy URL") from None
    if parts.scheme.lower() not in PROXY_SCHEMES:
        raise ValueError(
            f"{mask_url(text)}: proxy scheme must be one of {', '.join(PROXY_SCHEMES)}"
        )
    if not parts.hostname:
        raise ValueError(f"{mask_url(text)}: the proxy URL has no host")
    return text


@dataclass(frozen=True, slots=True, repr=False)
class Egress:
    """Where requests leave from: ``proxy`` (full URL, credentials included) or direct."""

    proxy: str | None = None

    @property
    def key(self) -> str:
        """What the session store records and logs show: the masked URL, or ``"direct"``."""
        return mask_url(self.proxy) if self.proxy else DIRECT

    @property
    def endpoint(self) -> str:
        """``scheme://host:port`` without user info: what two spellings of one proxy share."""
        if not self.proxy:
            return DIRECT
        parts = urlsplit(self.proxy)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme.lower()}://{parts.hostname}:{port}"

    @property
    def username(self) -> str | None:
        return unquote(urlsplit(self.proxy).username or "") or None if self.proxy else None

    @property
    def password(self) -> str | None:
        return unquote(urlsplit(self.proxy).password or "") or None if self.proxy else None

    def aiohttp_request(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        """``headers=`` and ``proxy=`` kwargs of an aiohttp request to ``url`` through the egress.

        The credentials go into ``Proxy-Authorization``: on the ``CONNECT`` (``proxy_headers``)
        for an https URL, on the request itself for a plain http one, which a forward proxy
        reads (aiohttp's ``proxy_headers`` only reach a ``CONNECT``).
        """
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if not self.proxy:
            return kwargs
        kwargs["proxy"] = self.endpoint
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode("latin-1", "replace")
            auth = {"Proxy-Authorization": "Basic " + b64encode(pair).decode()}
            if urlsplit(url).scheme == "https":
                kwargs["proxy_headers"] = auth
            else:
                kwargs["headers"].update(auth)
        return kwargs

    @staticmethod
    def client() -> Any:
        """A cookie-less one-off ``aiohttp.ClientSession`` for requests through an egress.

        Connections are not reused: some proxies (tinyproxy) close the client connection after
        each answer, and aiohttp would otherwise write the next POST into a closed socket. Pass
        :meth:`aiohttp_request` to each request.
        """
        import aiohttp

        return aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(force_close=True)
        )

    def scrub(self, text: str) -> str:
        """``text`` with the proxy password (raw or URL-encoded) replaced by ``****``."""
        if not self.proxy:
            return text
        raw = urlsplit(self.proxy).password
        for secret in {raw, self.password} - {None, ""}:
            text = text.replace(secret, "****")  # type: ignore[arg-type]
        return text

    def __repr__(self) -> str:
        return f"Egress({self.key})"

    __str__ = __repr__


def crawl_egress(settings: Any, site_url: str) -> Egress:
    """The egress ``HttpProxyMiddleware`` and the session middleware give the site's requests."""
    configured = str(settings.get("CWO_PROXY") or "").strip()
    if configured:
        return Egress(parse_proxy(configured))
    if not _getbool(settings, "HTTPPROXY_ENABLED", True):
        return Egress()
    parts = urlsplit(site_url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or (parts.hostname and proxy_bypass(parts.hostname)):
        return Egress()
    try:
        return Egress(parse_proxy(proxy))
    except ValueError:  # HttpProxyMiddleware skips what it cannot parse, and so do we
        return Egress()


def _getbool(settings: Any, name: str, default: bool) -> bool:
    getbool = getattr(settings, "getbool", None)
    if getbool is not None:
        return bool(getbool(name, default))
    value = settings.get(name, default)
    return value not in (False, 0, "0", "False", "false", None)


def setting_problems(settings: BaseSettings) -> list[str]:
    """A one-line problem for a ``CWO_PROXY`` that is not a proxy URL (masked)."""
    value = str(settings.get("CWO_PROXY") or "").strip()
    if not value:
        return []
    try:
        parse_proxy(value)
    except ValueError as exc:
        return [f"CWO_PROXY: {exc}"]
    return []


class EgressAddon:
    """Hides ``CWO_PROXY``'s password from Scrapy's "Overridden settings" log line."""

    def update_settings(self, settings: BaseSettings) -> None:
        value = settings.get("CWO_PROXY")
        if value and not isinstance(value, SecretUrl):
            priority = settings.getpriority("CWO_PROXY") or 0
            settings.set("CWO_PROXY", SecretUrl(str(value)), priority=priority)


class EgressTracker:
    """The session middleware's view of its egress; its hooks are a few lines there.

    ``on_request`` puts ``CWO_PROXY`` into ``meta["proxy"]`` (``HttpProxyMiddleware`` turns the
    credentials into ``Proxy-Authorization``) and notices a user's middleware choosing another
    proxy; ``foreign`` says a stored session belongs to another egress.
    """

    def __init__(self, crawler: Crawler, site_url: str) -> None:
        self.crawler = crawler
        self.egress = crawl_egress(crawler.settings, site_url)
        self._site_host = (urlsplit(site_url).hostname or "").lower()
        configured = str(crawler.settings.get("CWO_PROXY") or "").strip()
        self._configured = parse_proxy(configured) if configured else None
        self._seen: Any = object()  # the last meta["proxy"] value found to be ours
        self._publish()

    @property
    def proxy(self) -> str | None:
        return self.egress.proxy

    @property
    def key(self) -> str:
        return self.egress.key

    def _publish(self) -> None:
        self.crawler.stats.set_value("cwo_session/egress", self.egress.key)

    def on_request(self, request: Request) -> bool:
        """Route ``request`` through the egress; True when a user's middleware changed it."""
        meta = request.meta
        if "proxy" not in meta:
            if self._configured is not None:
                meta["proxy"] = self._configured
            return False
        value = meta["proxy"]
        if value == self._seen or value == self._configured or meta.get(_BYPASS_META):
            return False
        if (urlparse_cached(request).hostname or "").lower() != self._site_host:
            return False  # the token is the site's: another host's route is not its business
        try:
            seen = Egress(parse_proxy(value)) if value else Egress()
        except ValueError:
            return False  # HttpProxyMiddleware will fail this request with its own error
        if seen.endpoint == self.egress.endpoint:
            self._seen = value
            return False
        logger.info(
            "Session: a downloader middleware routes requests through %s instead of %s; "
            "the session follows that egress",
            seen.key,
            self.egress.key,
        )
        self.egress = seen
        self._seen = value
        self.crawler.stats.inc_value("cwo_session/egress_changes")
        self._publish()
        return True

    def foreign(self, state: SessionState) -> bool:
        """True when ``state`` was earned through another egress (logged once, INFO)."""
        if self.owns(state) or not state.user_agent:
            return False
        logger.info(
            "Session: the stored session was earned through %s but this crawl goes out "
            "through %s; starting a fresh session",
            state.egress,
            self.egress.key,
        )
        self.crawler.stats.inc_value("cwo_session/egress_mismatch")
        return True

    def owns(self, state: SessionState) -> bool:
        """True unless ``state`` records another egress (a legacy state without one is ours)."""
        stored = getattr(state, "egress", None)
        return not stored or stored == self.egress.key

    def scrub(self, text: str) -> str:
        return self.egress.scrub(text)
