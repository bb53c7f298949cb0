"""Fake CapSolver API (``createTask`` / ``getTaskResult``) that really solves the replica's WAF.

It speaks CapSolver's envelope (``errorId``/``errorCode``/``errorDescription``) for
``AntiAwsWafTaskProxyLess`` and ``AntiAwsWafTask``: like the real service it renders
``websiteURL`` (or starts from ``awsChallengeJS``), runs the token service's ``inputs`` ->
proof of work -> ``verify`` (and the CAPTCHA + ``voucher`` exchange on a 405 page), and returns
``solution.cookie``. The non-standard ``task.userAgent`` binds the token to the crawler's UA;
without it the token is bound to the solver's own browser UA, returned as ``solution.userAgent``.
``AntiAwsWafTask`` solves through its ``proxy`` (``solverproxy``), so with ``--ip-binding`` the
token belongs to the proxy's IP.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from cwo_scrapy.replica.faults import Faults
from cwo_scrapy.replica.powclient import (
    TokenServiceError,
    captcha_token_async,
    endpoint_of,
    mint_token_async,
    parse_interstitial,
)
from cwo_scrapy.replica.solverproxy import ProxyFieldError, capsolver_proxy
from cwo_scrapy.replica.waf import Waf

TASK_TYPES = ("AntiAwsWafTaskProxyLess", "AntiAwsWafTask")
SOLVER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36"
)
TASK_LIFETIME = 300.0  # CapSolver keeps results 5 minutes
MAX_POLLS = 120
STALE_CONTEXT = (
    "timeout metering, your parameters have expired, please update awsKey, awsIv, awsContext "
    "or awsChallengeJS"
)


@dataclass(slots=True)
class SolverTask:
    task_id: str
    params: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    polls: int = 0
    solution: dict[str, str] | None = None
    error: tuple[str, str] | None = None
    job: asyncio.Task[None] | None = None


def _error(code: str, description: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"errorId": 1, "errorCode": code, "errorDescription": description, **extra}
    )


class SolverService:
    """Task table plus the solving coroutine; ``processing_polls`` polls precede ``ready``."""

    def __init__(self, waf: Waf, faults: Faults, processing_polls: int = 2) -> None:
        self.waf = waf
        self.faults = faults
        self.processing_polls = processing_polls
        self.tasks: dict[str, SolverTask] = {}
        self._session: aiohttp.ClientSession | None = None

    async def on_cleanup(self, _app: web.Application) -> None:
        for task in self.tasks.values():
            if task.job and not task.job.done():
                task.job.cancel()
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.text())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _prune(self) -> None:
        now = time.monotonic()
        for task_id in [t for t, task in self.tasks.items() if now - task.created > TASK_LIFETIME]:
            self.tasks.pop(task_id)

    # -- API -------------------------------------------------------------------------------
    async def create_task(self, request: web.Request) -> web.Response:
        stats = self.waf.stats
        body = await self._body(request)
        if body is None:
            return _error("ERROR_INVALID_TASK_DATA", "request body is not a JSON object")
        key = body.get("clientKey")
        if not isinstance(key, str) or not key.strip():
            stats.bump(stats.solver_errors, "ERROR_KEY_DOES_NOT_EXIST")
            return _error("ERROR_KEY_DOES_NOT_EXIST", "Account authorization key not found")
        task = body.get("task")
        problem = self._check_task(task)
        if problem is not None:
            stats.bump(stats.solver_errors, "ERROR_INVALID_TASK_DATA")
            return _error("ERROR_INVALID_TASK_DATA", problem)
        assert isinstance(task, dict)
        self._prune()
        solver_task = SolverTask(task_id=str(uuid.uuid4()), params=task)
        self.tasks[solver_task.task_id] = solver_task
        stats.solver_tasks += 1
        solver_task.job = asyncio.get_running_loop().create_task(self._solve(solver_task))
        return web.json_response(
            {"errorId": 0, "errorCode": "", "errorDescription": "", "taskId": solver_task.task_id}
        )

    def _check_task(self, task: object) -> str | None:
        """Why a task is invalid (CapSolver wording where known), or None."""
        if not isinstance(task, dict):
            return "task is required"
        if task.get("type") not in TASK_TYPES:
            return f"unsupported task type {task.get('type')!r}"
        url = task.get("websiteURL")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            return "websiteURL is required"
        if task["type"] == "AntiAwsWafTask":
            if not task.get("proxy"):
                return "proxy is required for AntiAwsWafTask"
            try:
                capsolver_proxy(task["proxy"])
            except ProxyFieldError as exc:
                return str(exc)
        for name in ("awsKey", "awsIv", "awsContext", "awsChallengeJS", "userAgent"):
            if name in task and not isinstance(task[name], str):
                return f"{name} must be a string"
        context = task.get("awsContext")
        if context and self.waf.check_context(context) is not None:
            return STALE_CONTEXT
        return None

    async def get_task_result(self, request: web.Request) -> web.Response:
        stats = self.waf.stats
        stats.solver_polls += 1
        body = await self._body(request) or {}
        key = body.get("clientKey")
        if not isinstance(key, str) or not key.strip():
            return _error("ERROR_KEY_DOES_NOT_EXIST", "Account authorization key not found")
        task = self.tasks.get(str(body.get("taskId")))
        if task is None or time.monotonic() - task.created > TASK_LIFETIME:
            return _error("ERROR_TASKID_INVALID", "Task ID does not exist or has expired")
        task.polls += 1
        if task.polls > MAX_POLLS:
            return _error("ERROR_TASKID_INVALID", "Too many result requests for this task")
        processing = {"errorId": 0, "taskId": task.task_id, "status": "processing"}
        if self.faults.solver_hang or task.polls <= self.processing_polls:
            return web.json_response(processing)
        if self.faults.solver_fail:
            task.error = ("ERROR_CAPTCHA_UNSOLVABLE", "Captcha could not be solved")
        if task.error is not None:
            stats.bump(stats.solver_errors, task.error[0])
            return _error(task.error[0], task.error[1], taskId=task.task_id, status="failed")
        if task.solution is None:
            return web.json_response(processing)
        return web.json_response(
            {"errorId": 0, "taskId": task.task_id, "status": "ready", "solution": task.solution}
        )

    async def get_balance(self, request: web.Request) -> web.Response:
        body = await self._body(request) or {}
        if not str(body.get("clientKey") or "").strip():
            return _error("ERROR_KEY_DOES_NOT_EXIST", "Account authorization key not found")
        return web.json_response({"errorId": 0, "balance": 100.0, "packages": []})

    # -- solving ---------------------------------------------------------------------------
    async def _solve(self, task: SolverTask) -> None:
        params = task.params
        user_agent = params.get("userAgent") or SOLVER_USER_AGENT
        url = params["websiteURL"]
        domain = urlsplit(url).hostname or ""
        proxied = params["type"] == "AntiAwsWafTask"
        session = capsolver_proxy(params["proxy"]).session() if proxied else self._http()
        try:
            page = None
            try:
                async with session.get(
                    url, headers={"Accept": "text/html,*/*;q=0.8", "User-Agent": user_agent}
                ) as resp:
                    page = parse_interstitial(await resp.text())
            except aiohttp.ClientError:
                if not params.get("awsChallengeJS"):
                    raise
            challenge_js = params.get("awsChallengeJS") or (page.challenge_js if page else None)
            if not challenge_js:
                task.error = (
                    "ERROR_CAPTCHA_UNSOLVABLE",
                    "Captcha render unexpect status code, please pass in the awsKey, awsIv, "
                    "awsContext and awsChallengeJs parameters",
                )
                return
            token_base = endpoint_of(challenge_js)
            token = await mint_token_async(session, token_base, domain, user_agent)
            if page is not None and page.captcha_js is not None:
                token = await captcha_token_async(
                    session, endpoint_of(page.captcha_js), token_base, user_agent, token
                )
            task.solution = {"cookie": token, "userAgent": user_agent}
        except (aiohttp.ClientError, TokenServiceError, KeyError, ValueError) as exc:
            task.error = ("ERROR_CAPTCHA_UNSOLVABLE", f"solver failed: {type(exc).__name__}")
        finally:
            if proxied:
                await session.close()


def build_solver_app(service: Any) -> web.Application:
    """The createTask/getTaskResult/getBalance app of a fake solver (CapSolver or 2Captcha)."""
    app = web.Application()
    app.router.add_post("/createTask", service.create_task)
    app.router.add_post("/getTaskResult", service.get_task_result)
    app.router.add_post("/getBalance", service.get_balance)
    app.on_cleanup.append(service.on_cleanup)
    return app
