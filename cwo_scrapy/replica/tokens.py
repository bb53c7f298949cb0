"""The replica's token service (the ``*.token.awswaf.com`` / ``*.captcha.awswaf.com`` stand-in).

It runs on its own port, so the browser's ``challenge.js`` faces the same cross-origin situation
as on the real site: CORS for the site origin, ``text/plain`` POSTs without preflight, and the
cookie written by page JavaScript. ``verify`` really checks the HMAC, freshness and the
SHA-256 proof of work, and binds the token to the caller's User-Agent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from cwo_scrapy.replica.fingerprint import hints_digest, refusal
from cwo_scrapy.replica.powclient import HASHCASH_SHA256, pow_ok
from cwo_scrapy.replica.waf import Waf

REGION = "local-1"
CAPTCHA_TTL = 120.0  # seconds to answer a CAPTCHA problem
VOUCHER_TTL = 300.0


def account_path(seed: int) -> str:
    """``/<acct>/<h1>/<h2>``: same depth as the real integration URL, stable for one seed."""
    digest = hashlib.sha256(f"cwo-replica-account-{seed}".encode()).hexdigest()
    return f"/{digest[:12]}/{digest[12:24]}/{digest[24:36]}"


def _load_script(name: str) -> bytes:
    return resources.files("cwo_scrapy.replica").joinpath("static", name).read_bytes()


class TokenService:
    """Handlers of the token port; ``site_origin`` is set once the site port is bound."""

    def __init__(self, waf: Waf, account: str) -> None:
        self.waf = waf
        self.account = account
        self.site_origin = ""
        self.site_hostname = "127.0.0.1"
        self._used: dict[str, float] = {}  # attempt ids / voucher nonces -> expiry (single use)
        self._scripts = {name: _load_script(name) for name in ("challenge.js", "captcha.js")}

    # -- helpers ---------------------------------------------------------------------------
    def _cors(self, request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and origin == self.site_origin:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Vary"] = "Origin"
        return resp

    def _json(self, request: web.Request, data: Any, status: int = 200) -> web.StreamResponse:
        return self._cors(request, web.json_response(data, status=status))

    def _reject(
        self, request: web.Request, table: dict[str, int], reason: str
    ) -> web.StreamResponse:
        self.waf.stats.bump(table, reason)
        return self._json(request, {"error": reason}, status=400)

    def _first_use(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        if len(self._used) > 50_000:
            self._used = {k: exp for k, exp in self._used.items() if exp > now}
        if key in self._used and self._used[key] > now:
            return False
        self._used[key] = now + ttl
        return True

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | None:
        try:
            data = json.loads(await request.text())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _refused_browser(self, request: web.Request, body: dict[str, Any]) -> str | None:
        """Why the reported browser is inconsistent (counted), or None when it may get a token."""
        if not self.waf.config.fingerprint_check:
            return None
        fingerprint = body.get("fingerprint")
        if isinstance(fingerprint, dict):
            self.waf.stats.last_fingerprint = fingerprint
        reason = refusal(fingerprint, request.headers.get("User-Agent", ""))
        if reason is not None:
            self.waf.stats.bump(self.waf.stats.fingerprint_refused, reason)
        return reason

    def _hints(self, request: web.Request) -> str:
        return hints_digest(request.headers) if self.waf.config.fingerprint_check else ""

    def _domain_ok(self, domain: object) -> bool:
        return isinstance(domain, str) and self.waf.domain_ok(domain, self.site_hostname)

    # -- scripts ---------------------------------------------------------------------------
    async def script(self, request: web.Request) -> web.StreamResponse:
        body = self._scripts[request.match_info["script"]]
        return web.Response(
            body=body,
            content_type="application/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        resp = web.Response(status=204)
        if request.headers.get("Origin") == self.site_origin:
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            resp.headers["Access-Control-Allow-Headers"] = "Content-Type, x-aws-waf-token"
            resp.headers["Access-Control-Max-Age"] = "600"
        return self._cors(request, resp)

    # -- silent challenge ------------------------------------------------------------------
    async def inputs(self, request: web.Request) -> web.StreamResponse:
        self.waf.stats.inputs += 1
        difficulty = self.waf.config.difficulty
        now = datetime.now(UTC)
        raw = {
            "version": 1,
            "ubid": str(uuid.uuid4()),
            "attempt_id": str(uuid.uuid4()),
            "create_time": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z",
            "create_ts": round(now.timestamp(), 3),
            "difficulty": difficulty,
            "challenge_type": "HashcashSHA256",
        }
        input_b64 = base64.b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode()
        mac = self.waf.challenges.mac(input_b64)
        return self._json(
            request,
            {
                "challenge": {"input": input_b64, "hmac": mac, "region": REGION},
                "challenge_type": HASHCASH_SHA256,
                "difficulty": difficulty,
            },
        )

    async def verify(self, request: web.Request) -> web.StreamResponse:
        stats = self.waf.stats
        stats.verifies += 1
        table = stats.verify_rejected
        body = await self._body(request)
        if body is None:
            return self._reject(request, table, "bad_body")
        challenge = body.get("challenge")
        if not isinstance(challenge, dict):
            return self._reject(request, table, "bad_body")
        input_b64, mac = challenge.get("input"), challenge.get("hmac")
        raw = (
            self.waf.challenges.open_detached(input_b64, mac)
            if isinstance(input_b64, str) and isinstance(mac, str)
            else None
        )
        if raw is None:
            return self._reject(request, table, "bad_hmac")
        if time.time() - float(raw.get("create_ts", 0)) > self.waf.config.challenge_ttl:
            return self._reject(request, table, "stale_challenge")
        checksum, solution = body.get("checksum"), body.get("solution")
        if not (isinstance(checksum, str) and 0 < len(checksum) <= 64):
            return self._reject(request, table, "bad_checksum")
        if not (isinstance(solution, str) and solution.isdigit() and len(solution) <= 20):
            return self._reject(request, table, "bad_solution")
        if not pow_ok(input_b64, checksum, solution, int(raw["difficulty"])):
            return self._reject(request, table, "bad_solution")
        if not self._domain_ok(body.get("domain")):
            return self._reject(request, table, "wrong_domain")
        if not self._first_use(f"a:{raw['attempt_id']}", self.waf.config.challenge_ttl):
            return self._reject(request, table, "replayed")
        if self._refused_browser(request, body) is not None:
            return self._reject(request, table, "fingerprint")
        user_agent = request.headers.get("User-Agent", "")
        now = time.time()
        token = self.waf.issue_token(
            body["domain"],
            user_agent,
            challenge_ts=now,
            captcha_ts=self._carried_captcha_ts(body.get("existing_token"), user_agent),
            ip=request.remote or "",  # --ip-binding: good only from this client IP
            hints=self._hints(request),
        )
        return self._json(request, {"token": token, "inputs": None})

    def _carried_captcha_ts(self, existing: object, user_agent: str) -> float:
        """A refreshed challenge keeps the CAPTCHA timestamp of the client's previous token."""
        if not isinstance(existing, str) or not existing:
            return 0.0
        reason, info = self.waf.check(existing, self.site_hostname, user_agent, mode="challenge")
        if info is None or reason in ("revoked", "wrong_domain", "ua_mismatch"):
            return 0.0
        return info.captcha_ts

    async def voucher(self, request: web.Request) -> web.StreamResponse:
        stats = self.waf.stats
        stats.vouchers += 1
        table = stats.verify_rejected
        body = await self._body(request)
        voucher = body.get("captcha_voucher") if body else None
        payload = self.waf.vouchers.open(voucher) if isinstance(voucher, str) else None
        if payload is None:
            return self._reject(request, table, "bad_voucher")
        if time.time() - float(payload["t"]) > VOUCHER_TTL:
            return self._reject(request, table, "stale_voucher")
        if not self._domain_ok(payload.get("d")):
            return self._reject(request, table, "wrong_domain")
        if not self._first_use(f"v:{payload['n']}", VOUCHER_TTL):
            return self._reject(request, table, "replayed")
        assert body is not None
        if self._refused_browser(request, body) is not None:
            return self._reject(request, table, "fingerprint")
        now = time.time()
        token = self.waf.issue_token(
            payload["d"],
            request.headers.get("User-Agent", ""),
            challenge_ts=now,
            captcha_ts=now,
            ip=request.remote or "",  # --ip-binding: good only from this client IP
            hints=self._hints(request),
        )
        return self._json(request, {"token": token})

    async def telemetry(self, request: web.Request) -> web.StreamResponse:
        self.waf.stats.telemetry += 1
        await request.read()
        return self._cors(request, web.Response(status=204))

    # -- CAPTCHA ---------------------------------------------------------------------------
    async def problem(self, request: web.Request) -> web.StreamResponse:
        self.waf.stats.captcha_problems += 1
        rng = secrets.SystemRandom()
        operands = [rng.randint(1, 49), rng.randint(1, 49)]
        nonce = secrets.token_hex(8)
        answer = hashlib.sha256(f"{nonce}:{sum(operands)}".encode()).hexdigest()
        state = self.waf.captcha_states.seal({"t": round(time.time(), 3), "n": nonce, "a": answer})
        return self._json(
            request,
            {
                "problem": {"type": "sum", "operands": operands},
                "state": state,
                "num_solutions_required": 1,
            },
        )

    async def captcha_verify(self, request: web.Request) -> web.StreamResponse:
        table = self.waf.stats.verify_rejected
        body = await self._body(request)
        state = body.get("state") if body else None
        payload = self.waf.captcha_states.open(state) if isinstance(state, str) else None
        if payload is None:
            return self._reject(request, table, "bad_captcha_state")
        if time.time() - float(payload["t"]) > CAPTCHA_TTL:
            return self._reject(request, table, "stale_captcha")
        expected = hashlib.sha256(f"{payload['n']}:{body.get('solution')}".encode()).hexdigest()
        if expected != payload["a"] or not self._first_use(f"c:{payload['n']}", CAPTCHA_TTL):
            return self._reject(request, table, "wrong_captcha")
        self.waf.stats.captcha_solved += 1
        voucher = self.waf.vouchers.seal(
            {"t": round(time.time(), 3), "d": self.site_hostname, "n": secrets.token_hex(8)}
        )
        return self._json(request, {"success": True, "captcha_voucher": voucher})


def build_token_app(service: TokenService) -> web.Application:
    app = web.Application()
    acct = service.account
    r = app.router
    r.add_get(acct + "/{script:challenge\\.js}", service.script)
    r.add_get(acct + "/inputs", service.inputs)
    r.add_post(acct + "/verify", service.verify)
    r.add_post(acct + "/voucher", service.voucher)
    r.add_post(acct + "/telemetry", service.telemetry)
    r.add_route("OPTIONS", acct + "/{tail:.*}", service.preflight)
    cap = "/captcha" + acct
    r.add_get(cap + "/{script:captcha\\.js}", service.script)
    r.add_get(cap + "/problem", service.problem)
    r.add_post(cap + "/verify", service.captcha_verify)
    r.add_route("OPTIONS", cap + "/{tail:.*}", service.preflight)
    return app
