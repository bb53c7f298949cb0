"""Fake 2Captcha API v2 (``createTask`` / ``getTaskResult`` / ``getBalance``) for Amazon WAF.

It speaks 2Captcha's JSON envelope for ``AmazonTaskProxyless`` and ``AmazonTask``:

- ``createTask`` validates the fields a real client must send (``websiteURL``, ``websiteKey``,
  ``iv``, a fresh ``context``, optional ``challengeScript``/``captchaScript`` URLs, and for
  ``AmazonTask`` the proxy fields) and the account (``ERROR_KEY_DOES_NOT_EXIST``,
  ``ERROR_ZERO_BALANCE``);
- the task is solved like a 2Captcha worker does it: through the task's proxy, it gets an
  ``existing_token`` from the token service and solves the CAPTCHA for a ``captcha_voucher``;
- ``getTaskResult`` answers ``processing`` ``processing_polls`` times, then ``ready`` with
  ``solution = {captcha_voucher, existing_token}`` (the client exchanges the voucher at the token
  service's ``/voucher`` for the ``aws-waf-token``), or ``ERROR_CAPTCHA_UNSOLVABLE``.

The balance and the one accepted key are changeable through ``/__replica__/control``
(``twocaptcha_balance``, ``twocaptcha_key``) so tests can model those errors.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from cwo_scrapy.replica.faults import Faults
from cwo_scrapy.replica.powclient import (
    TokenServiceError,
    captcha_answer,
    endpoint_of,
    mint_token_async,
)
from cwo_scrapy.replica.solver import SOLVER_USER_AGENT, TASK_LIFETIME, SolverTask
from cwo_scrapy.replica.solverproxy import ProxyFieldError, twocaptcha_proxy
from cwo_scrapy.replica.waf import Waf

TASK_TYPES = ("AmazonTaskProxyless", "AmazonTask")
PRICE = 0.00145  # USD per Amazon WAF task
MAX_POLLS = 120
ERRORS = {
    "ERROR_KEY_DOES_NOT_EXIST": (1, "The API key you provided does not exist"),
    "ERROR_ZERO_BALANCE": (10, "You don't have funds on your account"),
    "ERROR_CAPTCHA_UNSOLVABLE": (12, "Workers could not solve the Captcha"),
    "ERROR_BAD_PARAMETERS": (15, "The required captcha parameters are missing or malformed"),
    "ERROR_TASK_NOT_SUPPORTED": (
        14,
        "The task type is not supported or you have a typo in the task type",
    ),
    "ERROR_NO_SUCH_CAPCHA_ID": (16, "You've provided incorrect captcha ID in the request"),
    "ERROR_PROXY_CONNECTION_FAILED": (130, "We could not load the captcha through your proxy"),
}


def _error(code: str, detail: str = "", **extra: Any) -> web.Response:
    error_id, description = ERRORS[code]
    text = f"{description}: {detail}" if detail else description
    return web.json_response(
        {"errorId": error_id, "errorCode": code, "errorDescription": text, **extra}
    )


def _url(value: object) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https")


class TwoCaptchaService:
    """Task table, account state and the solving coroutine."""

    def __init__(self, waf: Waf, faults: Faults, processing_polls: int = 2) -> None:
        self.waf = waf
        self.faults = faults
        self.processing_polls = processing_polls
        self.balance = 10.0
        self.valid_key: str | None = None  # None: any non-empty key is an account
        self.tasks: dict[str, SolverTask] = {}

    async def on_cleanup(self, _app: web.Application) -> None:
        for task in self.tasks.values():
            if task.job and not task.job.done():
                task.job.cancel()

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.text())
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _account_error(self, body: dict[str, Any]) -> web.Response | None:
        key = body.get("clientKey")
        if (
            not isinstance(key, str)
            or not key.strip()
            or (self.valid_key is not None and key != self.valid_key)
        ):
            return self._count(_error("ERROR_KEY_DOES_NOT_EXIST"), "ERROR_KEY_DOES_NOT_EXIST")
        return None

    def _count(self, response: web.Response, code: str) -> web.Response:
        self.waf.stats.bump(self.waf.stats.twocaptcha_errors, code)
        return response

    # -- API -------------------------------------------------------------------------------
    async def create_task(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        refused = self._account_error(body)
        if refused is not None:
            return refused
        if self.balance <= 0:
            return self._count(_error("ERROR_ZERO_BALANCE"), "ERROR_ZERO_BALANCE")
        task = body.get("task")
        if not isinstance(task, dict) or task.get("type") not in TASK_TYPES:
            kind = task.get("type") if isinstance(task, dict) else None
            return self._count(
                _error("ERROR_TASK_NOT_SUPPORTED", f"type {kind!r}"), "ERROR_TASK_NOT_SUPPORTED"
            )
        problem = self._check_task(task)
        if problem is not None:
            return self._count(_error("ERROR_BAD_PARAMETERS", problem), "ERROR_BAD_PARAMETERS")
        now = time.monotonic()
        for task_id in [t for t, old in self.tasks.items() if now - old.created > TASK_LIFETIME]:
            self.tasks.pop(task_id)
        solver_task = SolverTask(task_id=str(uuid.uuid4().int % 10**11), params=task)
        self.tasks[solver_task.task_id] = solver_task
        self.waf.stats.twocaptcha_tasks += 1
        solver_task.job = asyncio.get_running_loop().create_task(self._solve(solver_task))
        return web.json_response({"errorId": 0, "taskId": int(solver_task.task_id)})

    def _check_task(self, task: dict[str, Any]) -> str | None:
        """Why the task's fields are unusable, or None."""
        if not _url(task.get("websiteURL")):
            return "websiteURL must be an http(s) URL"
        for name in ("websiteKey", "iv", "context"):
            if not isinstance(task.get(name), str) or not task[name]:
                return f"{name} is required (window.gokuProps.{name.replace('websiteKey', 'key')})"
        for name in ("challengeScript", "captchaScript"):
            if name in task and not _url(task[name]):
                return f"{name} must be an http(s) URL"
        if self.waf.check_context(task["context"]) is not None:
            return "context is not valid or has expired; send a freshly fetched one"
        if task["type"] == "AmazonTask":
            try:
                twocaptcha_proxy(task)
            except ProxyFieldError as exc:
                return str(exc)
        return None

    async def get_task_result(self, request: web.Request) -> web.Response:
        stats = self.waf.stats
        stats.twocaptcha_polls += 1
        body = await self._body(request)
        refused = self._account_error(body)
        if refused is not None:
            return refused
        task = self.tasks.get(str(body.get("taskId")))
        if task is None or time.monotonic() - task.created > TASK_LIFETIME:
            return self._count(_error("ERROR_NO_SUCH_CAPCHA_ID"), "ERROR_NO_SUCH_CAPCHA_ID")
        task.polls += 1
        if task.polls > MAX_POLLS:
            return self._count(_error("ERROR_NO_SUCH_CAPCHA_ID"), "ERROR_NO_SUCH_CAPCHA_ID")
        processing = {"errorId": 0, "status": "processing"}
        if self.faults.solver_hang or task.polls <= self.processing_polls:
            return web.json_response(processing)
        if self.faults.solver_fail:
            task.error = ("ERROR_CAPTCHA_UNSOLVABLE", "")
        if task.error is not None:
            code, detail = task.error
            return self._count(_error(code, detail), code)
        if task.solution is None:
            return web.json_response(processing)
        if task.job is not None:  # charged once, when the answer is first delivered
            self.balance = round(self.balance - PRICE, 5)
            task.job = None
        return web.json_response(
            {
                "errorId": 0,
                "status": "ready",
                "solution": task.solution,
                "cost": f"{PRICE:.5f}",
                "ip": request.remote or "",
                "createTime": int(time.time()),
                "endTime": int(time.time()),
                "solveCount": 1,
            }
        )

    async def get_balance(self, request: web.Request) -> web.Response:
        refused = self._account_error(await self._body(request))
        if refused is not None:
            return refused
        return web.json_response({"errorId": 0, "balance": self.balance})

    # -- solving ---------------------------------------------------------------------------
    async def _solve(self, task: SolverTask) -> None:
        """A worker's run: existing_token and a CAPTCHA voucher, through the task's proxy."""
        params = task.params
        proxied = params["type"] == "AmazonTask"
        session = (
            twocaptcha_proxy(params).session()
            if proxied
            else aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), cookie_jar=aiohttp.DummyCookieJar()
            )
        )
        token_base = endpoint_of(params.get("challengeScript") or f"{self.waf.token_base}/x")
        captcha_base = endpoint_of(params.get("captchaScript") or f"{self.waf.captcha_base}/x")
        domain = urlsplit(params["websiteURL"]).hostname or ""
        headers = {"User-Agent": SOLVER_USER_AGENT}
        try:
            existing = await mint_token_async(session, token_base, domain, SOLVER_USER_AGENT)
            async with session.get(f"{captcha_base}/problem", headers=headers) as resp:
                if resp.status != 200:
                    raise TokenServiceError(f"problem: HTTP {resp.status}")
                problem = await resp.json(content_type=None)
            async with session.post(
                f"{captcha_base}/verify",
                data=json.dumps(captcha_answer(problem)),
                headers={**headers, "Content-Type": "text/plain;charset=UTF-8"},
            ) as resp:
                answer = await resp.json(content_type=None)
                if resp.status != 200 or not answer.get("captcha_voucher"):
                    raise TokenServiceError(f"captcha verify: HTTP {resp.status}")
            task.solution = {
                "captcha_voucher": answer["captcha_voucher"],
                "existing_token": existing,
            }
        except aiohttp.ClientProxyConnectionError:
            task.error = ("ERROR_PROXY_CONNECTION_FAILED", "")
        except aiohttp.ClientHttpProxyError as exc:
            task.error = ("ERROR_PROXY_CONNECTION_FAILED", f"proxy answered HTTP {exc.status}")
        except (aiohttp.ClientError, TokenServiceError, KeyError, ValueError) as exc:
            task.error = ("ERROR_CAPTCHA_UNSOLVABLE", type(exc).__name__)
        finally:
            await session.close()
