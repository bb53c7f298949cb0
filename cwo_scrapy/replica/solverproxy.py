"""The proxy a solver task names, for the fake solvers: they earn the token through it.

Real solver services run the challenge from the proxy they are given, so the token belongs to
the proxy's IP. The fakes do the same: with ``--ip-binding`` their token service calls go out
through the proxy and the token is bound to the proxy's egress IP, as on the real site.

Two spellings: CapSolver's one string (``scheme:host:port[:user:password]`` or a URL) in
``task.proxy``, and 2Captcha's fields (``proxyType``, ``proxyAddress``, ``proxyPort``,
``proxyLogin``, ``proxyPassword``).
"""

from __future__ import annotations

from base64 import b64encode
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

SCHEMES = ("http", "https", "socks4", "socks5")
USABLE = ("http", "https")  # what aiohttp reaches a proxy with (no SOCKS here)


class ProxyFieldError(ValueError):
    """The task's proxy fields are malformed (the message never holds the password)."""


@dataclass(frozen=True, slots=True, repr=False)
class TaskProxy:
    scheme: str
    host: str
    port: int
    login: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def session(self) -> aiohttp.ClientSession:
        """A cookie-less client whose every request goes through this proxy."""
        headers = {}
        if self.login:
            pair = f"{self.login}:{self.password or ''}".encode("latin-1", "replace")
            headers["Proxy-Authorization"] = "Basic " + b64encode(pair).decode()
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(force_close=True),  # tinyproxy closes after answers
            proxy=self.url,
            # The replica is plain http: a forward proxy reads this header on every request.
            headers=headers,
        )

    def __repr__(self) -> str:
        return f"TaskProxy({self.url})"


def _port(value: Any) -> int:
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        raise ProxyFieldError("proxy port must be an integer") from None
    if not 0 < port < 65536:
        raise ProxyFieldError("proxy port must be between 1 and 65535")
    return port


def _checked(scheme: str, host: str, port: Any, login: Any, password: Any) -> TaskProxy:
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ProxyFieldError(f"proxy type must be one of {', '.join(SCHEMES)}")
    if scheme not in USABLE:
        raise ProxyFieldError(f"{scheme} proxies are not supported by this replica")
    if not host:
        raise ProxyFieldError("proxy address is required")
    for name, value in (("login", login), ("password", password)):
        if value is not None and not isinstance(value, str):
            raise ProxyFieldError(f"proxy {name} must be a string")
    return TaskProxy(scheme, host, _port(port), login or None, password or None)


def capsolver_proxy(value: Any) -> TaskProxy:
    """CapSolver's ``proxy`` string: ``scheme:host:port[:user:pass]``, ``host:port`` or a URL."""
    if not isinstance(value, str) or not value.strip():
        raise ProxyFieldError("proxy must be a non-empty string")
    text = value.strip()
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            raise ProxyFieldError("proxy port must be between 1 and 65535") from None
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return _checked(parts.scheme, parts.hostname or "", port, user, password)
    fields = text.split(":")
    if fields[0].lower() not in SCHEMES:
        fields.insert(0, "http")
    if len(fields) not in (3, 5):
        raise ProxyFieldError("proxy must look like scheme:host:port[:login:password]")
    login, password = (fields[3], fields[4]) if len(fields) == 5 else (None, None)
    return _checked(fields[0], fields[1], fields[2], login, password)


def twocaptcha_proxy(task: dict[str, Any]) -> TaskProxy:
    """2Captcha's proxy fields of an ``AmazonTask``."""
    kind = task.get("proxyType")
    address = task.get("proxyAddress")
    if not isinstance(kind, str) or not isinstance(address, str):
        raise ProxyFieldError("proxyType and proxyAddress are required for AmazonTask")
    return _checked(
        kind, address, task.get("proxyPort"), task.get("proxyLogin"), task.get("proxyPassword")
    )
