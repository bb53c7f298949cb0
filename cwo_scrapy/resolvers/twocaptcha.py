"""2Captcha resolver: the Amazon WAF task of 2Captcha's API v2 (``createTask``/``getTaskResult``).

Every resolution fetches a fresh interstitial through the session's egress (its gokuProps are
single-use), sends ``AmazonTaskProxyless`` (direct) or ``AmazonTask`` with the proxy fields,
polls for the answer, and exchanges the answer's ``captcha_voucher`` (+ ``existing_token``) at
the challenge endpoint's ``/voucher`` for the ``aws-waf-token``, again through the egress and
with the session's User-Agent, so the token belongs to the client that will use it. An answer
that already holds a token (``solution.token``/``cookie``) is used as it is.

Why not the official ``2captcha-python`` package: its client is synchronous (``requests`` plus
``time.sleep`` polling, which would block the asyncio reactor unless run in a thread), it builds
its endpoint as ``"https://" + server`` (so it cannot be pointed at the replica's plain-http fake
on loopback), it speaks the legacy ``in.php``/``res.php`` API rather than the JSON API with the
``challengeScript``/``captchaScript`` fields, and its async variant adds ``httpx`` and
``aiofiles``. 2Captcha's API v2 has the same JSON envelope as CapSolver's, so this resolver
reuses the CapSolver client's transport (one aiohttp session, the interstitial fetch, errors).
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from cwo_scrapy import identity
from cwo_scrapy.egress import Egress
from cwo_scrapy.resolvers.base import Resolution, ResolutionError, ResolveContext
from cwo_scrapy.resolvers.capsolver import CapSolverResolver, _token_of, parse_interstitial

if TYPE_CHECKING:
    pass

__all__ = ["TwoCaptchaResolver"]

ENV_API_KEY = "TWOCAPTCHA_API_KEY"
TASK_TYPE = "AmazonTaskProxyless"
PROXY_TASK_TYPE = "AmazonTask"
_CAPTCHA_JS_RE = re.compile(
    rb"""<script[^>]+src\s*=\s*["']([^"']+/captcha\.js)["']""", re.IGNORECASE
)


class TwoCaptchaResolver(CapSolverResolver):
    """One 2Captcha Amazon WAF task per resolution, polled until ready, failed or timed out."""

    service = "twocaptcha"
    settings_prefix = "CWO_TWOCAPTCHA_"
    env_api_key = ENV_API_KEY

    async def resolve(self, ctx: ResolveContext) -> Resolution:
        if not self._api_key:
            raise ResolutionError(
                "twocaptcha resolver: no API key (set CWO_TWOCAPTCHA_API_KEY or the "
                f"{ENV_API_KEY} environment variable)"
            )
        deadline = time.monotonic() + ctx.timeout
        body = await self._fetch_page(ctx, deadline)
        task = amazon_task(body, ctx.page_url, Egress(ctx.proxy))
        result = await self._run_task(task, deadline, ctx.timeout)
        token = await self._token(result, task, ctx, deadline)
        return Resolution(aws_waf_token=token, user_agent=ctx.user_agent)

    async def _token(
        self, result: dict[str, Any], task: dict[str, Any], ctx: ResolveContext, deadline: float
    ) -> str:
        solution = result.get("solution")
        if not isinstance(solution, dict):
            raise ResolutionError("twocaptcha task is ready but holds no solution")
        voucher = solution.get("captcha_voucher")
        if not isinstance(voucher, str) or not voucher:
            return _token_of(result)  # a service that hands out the cookie itself
        endpoint = str(task.get("challengeScript") or "").rsplit("/", 1)[0]
        if not endpoint:
            raise ResolutionError(
                "twocaptcha resolver: the interstitial names no challenge.js to redeem the "
                "voucher at"
            )
        existing = solution.get("existing_token")
        body = {
            "captcha_voucher": voucher,
            "existing_token": existing if isinstance(existing, str) else None,
            # The token service interrogates the browser that will carry the token: ours.
            "fingerprint": identity.page_report(ctx.user_agent, ctx.headers),
        }
        remaining = max(1.0, deadline - time.monotonic())
        try:
            egress = Egress(ctx.proxy)
            async with (
                egress.client() as http,
                http.post(
                    f"{endpoint}/voucher",
                    data=json.dumps(body),
                    timeout=aiohttp.ClientTimeout(total=remaining),
                    **egress.aiohttp_request(
                        f"{endpoint}/voucher",
                        {
                            "Content-Type": "text/plain;charset=UTF-8",
                            "User-Agent": ctx.user_agent,
                            **identity.hint_headers(ctx.user_agent, ctx.headers),
                        },
                    ),
                ) as answer,
            ):
                status = answer.status
                raw = await answer.read()
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise ResolutionError(
                f"twocaptcha resolver: redeeming the voucher failed ({type(exc).__name__})"
            ) from None
        try:
            data = json.loads(raw) if status == 200 else None
        except ValueError:
            data = None
        token = data.get("token") if isinstance(data, dict) else None
        if status != 200 or not isinstance(token, str) or not token:
            raise ResolutionError(
                f"twocaptcha resolver: the token service refused the voucher (HTTP {status})"
            )
        return token


def amazon_task(body: bytes, page_url: str, egress: Egress) -> dict[str, Any]:
    """2Captcha's Amazon WAF task for an interstitial; ``ResolutionError`` if it is not one."""
    page = parse_interstitial(body, page_url)
    if not (page.key and page.iv and page.context):
        raise ResolutionError(
            "twocaptcha resolver: the page shows no AWS WAF interstitial (no gokuProps key, iv "
            "and context)"
        )
    task: dict[str, Any] = {
        "type": TASK_TYPE,
        "websiteURL": page_url,
        "websiteKey": page.key,
        "iv": page.iv,
        "context": page.context,
    }
    if page.challenge_js:
        task["challengeScript"] = page.challenge_js
    captcha = _CAPTCHA_JS_RE.search(body)
    if captcha:
        task["captchaScript"] = urljoin(page_url, captcha.group(1).decode("utf-8", "replace"))
    if egress.proxy:
        parts = urlsplit(egress.endpoint)
        task.update(
            type=PROXY_TASK_TYPE,
            proxyType=parts.scheme,
            proxyAddress=parts.hostname,
            proxyPort=parts.port,
        )
        if egress.username is not None:
            task.update(proxyLogin=egress.username, proxyPassword=egress.password or "")
    return task
