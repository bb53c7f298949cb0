"""CapSolver resolver: ``AntiAwsWafTask(ProxyLess)`` through the createTask/getTaskResult API.

With a proxy egress (``cwo_scrapy.egress``) the task is ``AntiAwsWafTask`` with the proxy, so
CapSolver earns the token from the IP the crawl uses; direct crawls use the ProxyLess task.

gokuProps values are single-use and short-lived (docs/aws-waf.md §4.6 item 13), so every
resolution fetches a fresh interstitial of the page (``Accept: text/html``, no token) right before
creating the task. The API key is read from ``CWO_CAPSOLVER_API_KEY`` or the ``CAPSOLVER_API_KEY``
environment variable and never appears in a message.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from cwo_scrapy.egress import Egress
from cwo_scrapy.resolvers.base import BYPASS_META, Resolution, ResolutionError, ResolveContext

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

__all__ = ["CapSolverResolver", "Interstitial", "parse_interstitial"]

ENV_API_KEY = "CAPSOLVER_API_KEY"
TASK_TYPE = "AntiAwsWafTaskProxyLess"
PROXY_TASK_TYPE = "AntiAwsWafTask"
_GOKU_RE = re.compile(rb"gokuProps\s*=\s*(?=\{)")
_CHALLENGE_JS_RE = re.compile(
    rb"""<script[^>]+src\s*=\s*["']([^"']+/challenge(?:\.compact)?\.js)["']""", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Interstitial:
    """The parts of an AWS WAF interstitial a solver service needs."""

    key: str | None
    iv: str | None
    context: str | None
    challenge_js: str | None


def parse_interstitial(body: bytes, page_url: str) -> Interstitial:
    """Extract gokuProps key/iv/context and the absolute challenge.js URL (any may be missing)."""
    key = iv = context = None
    match = _GOKU_RE.search(body)
    if match:
        # raw_decode reads exactly one JSON object, whatever follows it in the script.
        text = body[match.end() : match.end() + 16384].decode("utf-8", "replace")
        try:
            props, _ = json.JSONDecoder().raw_decode(text)
        except ValueError:
            props = None
        if isinstance(props, dict):
            key = _str_or_none(props.get("key"))
            iv = _str_or_none(props.get("iv"))
            context = _str_or_none(props.get("context"))
    script = _CHALLENGE_JS_RE.search(body)
    challenge_js = urljoin(page_url, script.group(1).decode("utf-8", "replace")) if script else None
    return Interstitial(key=key, iv=iv, context=context, challenge_js=challenge_js)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _one_line(text: Any, limit: int = 160) -> str:
    return " ".join(str(text).split())[:limit]


class CapSolverResolver:
    """Creates one CapSolver task per resolution and polls it until ready, failed or timed out."""

    service = "capsolver"  # the name error messages start with

    def __init__(
        self,
        api_key: str,
        api_url: str = "https://api.capsolver.com",
        *,
        timeout: float = 120.0,
        poll_interval: float = 3.0,
    ) -> None:
        self._api_key = api_key
        self._api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._poll_interval = max(0.05, poll_interval)
        self._session: aiohttp.ClientSession | None = None

    # The settings and environment variable of this service; a subclass for another solver
    # service names its own.
    settings_prefix = "CWO_CAPSOLVER_"
    env_api_key = ENV_API_KEY

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings, prefix = crawler.settings, cls.settings_prefix
        return cls(
            str(settings.get(f"{prefix}API_KEY") or os.environ.get(cls.env_api_key, "")),
            str(settings.get(f"{prefix}API_URL")),
            timeout=settings.getfloat("CWO_RESOLVER_TIMEOUT"),
            poll_interval=settings.getfloat(f"{prefix}POLL_INTERVAL"),
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No cookie jar: the interstitial must be fetched without any token.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def resolve(self, ctx: ResolveContext) -> Resolution:
        if not self._api_key:
            raise ResolutionError(
                "capsolver resolver: no API key (set CWO_CAPSOLVER_API_KEY or the "
                f"{ENV_API_KEY} environment variable)"
            )
        deadline = time.monotonic() + ctx.timeout
        page = await self._fetch_interstitial(ctx, deadline)
        task: dict[str, Any] = {"type": TASK_TYPE, "websiteURL": ctx.page_url}
        if ctx.proxy:
            task.update(type=PROXY_TASK_TYPE, proxy=capsolver_proxy(Egress(ctx.proxy)))
        if page.key and page.iv and page.context:
            task.update(awsKey=page.key, awsIv=page.iv, awsContext=page.context)
        if page.challenge_js:
            task["awsChallengeJS"] = page.challenge_js
        # Not in CapSolver's public schema; the replica's fake uses it to bind the token to the
        # session's User-Agent the way a real token is bound to the client.
        task["userAgent"] = ctx.user_agent
        result = await self._run_task(task, deadline, ctx.timeout)
        solution = result.get("solution")
        # A service that used its own browser says which UA the token is bound to.
        bound_ua = solution.get("userAgent") if isinstance(solution, dict) else None
        return Resolution(
            aws_waf_token=_token_of(result),
            user_agent=bound_ua if isinstance(bound_ua, str) and bound_ua else ctx.user_agent,
        )

    async def _run_task(
        self, task: dict[str, Any], deadline: float, budget: float
    ) -> dict[str, Any]:
        """Create ``task`` and poll ``getTaskResult`` until it is ready (its answer) or fails."""
        created = await self._call("createTask", {"task": task}, deadline)
        task_id = created.get("taskId")
        if not task_id:
            raise ResolutionError(f"{self.service} createTask returned no taskId")
        while True:
            await asyncio.sleep(min(self._poll_interval, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                raise ResolutionError(f"{self.service} task not ready within {budget:g}s")
            result = await self._call("getTaskResult", {"taskId": task_id}, deadline)
            status = result.get("status")
            if status == "ready":
                return result
            if status not in ("processing", "idle", None):
                raise ResolutionError(
                    f"{self.service} task ended with status {_one_line(status, 40)}"
                )

    async def _fetch_interstitial(self, ctx: ResolveContext, deadline: float) -> Interstitial:
        return parse_interstitial(await self._fetch_page(ctx, deadline), ctx.page_url)

    async def _fetch_page(self, ctx: ResolveContext, deadline: float) -> bytes:
        """The page's HTML (the interstitial), fetched through the egress without any token."""
        headers = {
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "User-Agent": ctx.user_agent,
        }
        remaining = max(1.0, deadline - time.monotonic())
        egress = Egress(ctx.proxy)
        try:
            if ctx.download is not None:
                from scrapy import Request

                request = Request(
                    ctx.page_url,
                    headers=headers,
                    dont_filter=True,
                    meta={
                        BYPASS_META: True,
                        "dont_merge_cookies": True,
                        "download_timeout": remaining,
                        **({"proxy": ctx.proxy} if ctx.proxy else {}),
                    },
                )
                response = await asyncio.wait_for(ctx.download(request), remaining)
                body = response.body
            else:
                async with (
                    egress.client() as http,
                    http.get(
                        ctx.page_url,
                        timeout=aiohttp.ClientTimeout(total=remaining),
                        **egress.aiohttp_request(ctx.page_url, headers),
                    ) as answer,
                ):
                    body = await answer.content.read(256 * 1024)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ResolutionError(
                f"{self.service} resolver: could not fetch the interstitial ({type(exc).__name__})"
            ) from None
        except Exception as exc:  # Scrapy download errors (DNS, connection refused, ...)
            raise ResolutionError(
                f"{self.service} resolver: could not fetch the interstitial ({type(exc).__name__})"
            ) from None
        return body

    async def _call(self, method: str, payload: dict[str, Any], deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ResolutionError(f"{self.service} {method}: resolver timeout reached")
        body = {"clientKey": self._api_key, **payload}
        try:
            async with self._http().post(
                f"{self._api_url}/{method}",
                json=body,
                timeout=aiohttp.ClientTimeout(total=min(remaining, 60.0)),
            ) as answer:
                status = answer.status
                data = await answer.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            name = type(exc).__name__
            raise ResolutionError(f"{self.service} {method} failed ({name})") from None
        if not isinstance(data, dict):
            raise ResolutionError(f"{self.service} {method}: unexpected answer (HTTP {status})")
        if data.get("errorId"):
            code = _one_line(data.get("errorCode") or "unknown error", 60)
            description = _one_line(data.get("errorDescription") or "")
            raise ResolutionError(
                f"{self.service} {method} error {code}"
                + (f": {description}" if description else "")
            )
        if status >= 400:
            raise ResolutionError(f"{self.service} {method}: HTTP {status}")
        return data

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def capsolver_proxy(egress: Egress) -> str:
    """CapSolver's one-string proxy form: ``scheme:host:port[:user:password]``."""
    parts = urlsplit(egress.endpoint)
    text = f"{parts.scheme}:{parts.hostname}:{parts.port}"
    if egress.username is not None:
        text += f":{egress.username}:{egress.password or ''}"
    return text


def _token_of(result: dict[str, Any]) -> str:
    solution = result.get("solution")
    token = None
    if isinstance(solution, dict):
        token = solution.get("cookie") or solution.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ResolutionError("capsolver task is ready but holds no cookie")
    token = token.strip().removeprefix("aws-waf-token=")
    # Some answers carry cookie attributes after the value.
    return token.split(";", 1)[0].strip()
