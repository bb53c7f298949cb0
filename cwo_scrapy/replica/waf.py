"""The replica's AWS WAF: tokens, their validation, the interstitials and the aiohttp middleware.

Behaviour follows docs/replica.md and docs/aws-waf.md section 1: a protected path without a
valid ``aws-waf-token`` (cookie or ``x-aws-waf-token`` header) gets 202 + ``x-amzn-waf-action:
challenge`` or 405 + ``captcha``, with the interstitial only for ``Accept: text/html``. Tokens
look like real ones (``<uuid4>:<16 chars>:<base64>``) but are our own HMAC-signed payloads, so
every rejection has a precise reason that tests can assert on through the counters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cwo_scrapy.replica.faults import Faults
from cwo_scrapy.replica.fingerprint import hints_digest

TOKEN_COOKIE = "aws-waf-token"
TOKEN_HEADER = "x-aws-waf-token"
WAF_MODES = ("off", "challenge", "captcha")
_MAX_TOKEN_LEN = 5000
_DECODE_CACHE_MAX = 4096


class Stats:
    """Counters behind ``GET /__replica__/stats``; plain attributes keep the hot path cheap."""

    COUNTERS = (
        "requests",
        "challenges",
        "captchas",
        "tokens_issued",
        "verifies",
        "inputs",
        "vouchers",
        "telemetry",
        "captcha_problems",
        "captcha_solved",
        "rate_blocked",
        "refused_tokens",
        "injected_errors",
        "injected_429",
        "dropped",
        "solver_tasks",
        "solver_polls",
        "twocaptcha_tasks",
        "twocaptcha_polls",
        "ip_refused",  # --ip-binding: a valid token used from another IP than its own
    )
    MAX_PATHS = 20_000  # beyond this many distinct paths, counts go to OTHER_PATH
    OTHER_PATH = "<other>"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        for name in self.COUNTERS:
            setattr(self, name, 0)
        self.by_path: dict[str, int] = {}
        self.by_status: dict[int, int] = {}
        self.rejected_tokens: dict[str, int] = {}
        self.verify_rejected: dict[str, int] = {}
        self.solver_errors: dict[str, int] = {}
        self.twocaptcha_errors: dict[str, int] = {}
        self.fingerprint_refused: dict[str, int] = {}  # browser inconsistencies, by reason
        self.last_fingerprint: dict[str, Any] | None = None  # what challenge.js last reported

    def count_path(self, path: str) -> None:
        by_path = self.by_path
        if path not in by_path and len(by_path) >= self.MAX_PATHS:
            path = self.OTHER_PATH
        by_path[path] = by_path.get(path, 0) + 1

    @staticmethod
    def bump(table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self.COUNTERS}
        data["by_path"] = dict(self.by_path)
        data["by_status"] = {str(k): v for k, v in sorted(self.by_status.items())}
        for code in (401, 403, 429):
            data[f"status_{code}"] = self.by_status.get(code, 0)
        data["status_5xx"] = sum(v for k, v in self.by_status.items() if k >= 500)
        data["rejected_tokens"] = dict(self.rejected_tokens)
        data["verify_rejected"] = dict(self.verify_rejected)
        data["solver_errors"] = dict(self.solver_errors)
        data["twocaptcha_errors"] = dict(self.twocaptcha_errors)
        data["fingerprint_refused"] = dict(self.fingerprint_refused)
        data["last_fingerprint"] = self.last_fingerprint
        return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def ua_hash(user_agent: str) -> str:
    return hashlib.sha256(user_agent.encode("utf-8", "surrogateescape")).hexdigest()


class Sealer:
    """``base64(json | hmac)`` blobs; one key per purpose so a voucher never passes as a token."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._key = hmac.new(secret, purpose.encode(), hashlib.sha256).digest()

    def seal(self, payload: dict[str, Any]) -> str:
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return _b64(raw + hmac.new(self._key, raw, hashlib.sha256).digest())

    def mac(self, text: str) -> str:
        """Detached signature of a string (the ``hmac`` next to a challenge ``input``)."""
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())

    def open_detached(self, text: str, mac: str) -> dict[str, Any] | None:
        """Payload of ``base64(json)`` signed by :meth:`mac`, or None when tampered with."""
        if not hmac.compare_digest(self.mac(text).encode(), mac.encode()):
            return None
        try:
            payload = json.loads(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            return None
        return payload if isinstance(payload, dict) else None

    def open(self, blob: str) -> dict[str, Any] | None:
        """The payload, or None when the blob is not base64, too short or its HMAC is wrong."""
        try:
            data = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            return None
        raw, mac = data[:-32], data[-32:]
        if len(data) <= 32 or not hmac.compare_digest(
            mac, hmac.new(self._key, raw, hashlib.sha256).digest()
        ):
            return None
        try:
            payload = json.loads(raw)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None


@dataclass(slots=True)
class WafConfig:
    """WAF settings changeable at run time through ``/__replica__/control``."""

    mode: str = "off"
    token_ttl: float = 300.0  # immunity time, seconds
    ua_binding: bool = True
    ip_binding: bool = False  # a token is only good from the client IP that earned it
    unprotected_prefixes: tuple[str, ...] = ("/fitment/", "/__replica__/")
    cookie_domain_list: tuple[str, ...] = ()
    difficulty: int = 8  # leading zero bits of the HashcashSHA256 proof of work
    challenge_ttl: float = 300.0  # how long an /inputs challenge may be solved
    context_ttl: float = 120.0  # how long gokuProps stay usable by a solver service
    cookie_max_age: int = 4 * 24 * 3600  # cookie lifetime written by challenge.js (not immunity)
    fingerprint_check: bool = True  # refuse inconsistent browsers (replica/fingerprint.py)


@dataclass(slots=True)
class TokenInfo:
    """What a token says about itself once its signature checked out."""

    token_id: str
    challenge_ts: float
    captcha_ts: float
    domain: str
    ua_sha256: str
    serial: int
    ip: str = ""  # the client IP that earned it
    hints: str = ""  # digest of the client hints the token was earned with ("" = not recorded)


@dataclass
class Waf:
    """Token authority and gatekeeper, shared by the site, token service and solver apps."""

    config: WafConfig
    stats: Stats
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    token_base: str = ""  # http://127.0.0.1:<B>/<acct>/<h1>/<h2>, set once ports are known
    captcha_base: str = ""
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._tokens = Sealer(self.secret, "token")
        self._contexts = Sealer(self.secret, "goku-context")
        self.vouchers = Sealer(self.secret, "captcha-voucher")
        self.challenges = Sealer(self.secret, "challenge-input")
        self.captcha_states = Sealer(self.secret, "captcha-problem")
        self._serial = itertools.count(1)
        self.revoked_below = 0  # tokens with a serial below this were revoked
        self._decoded: dict[str, TokenInfo | str] = {}

    # -- tokens ------------------------------------------------------------------------------
    def issue_token(
        self,
        domain: str,
        user_agent: str,
        *,
        challenge_ts: float,
        captcha_ts: float = 0.0,
        ip: str = "",
        hints: str = "",
    ) -> str:
        token_id = str(uuid.uuid4())
        middle = _b64(secrets.token_bytes(12))  # 16 base64 chars, like "EQoAidtNBiFTAAAA"
        payload = {
            "i": token_id,
            "c": round(challenge_ts, 3),
            "k": round(captcha_ts, 3),
            "d": domain,
            "u": ua_hash(user_agent),
            "n": next(self._serial),
            "a": ip,
        }
        if hints:
            payload["h"] = hints
        self.stats.tokens_issued += 1
        return f"{token_id}:{middle}:{self._tokens.seal(payload)}"

    def decode(self, token: str) -> TokenInfo | str:
        """Parsed token, or the reason (``malformed`` / ``bad_signature``) it cannot be read."""
        cached = self._decoded.get(token)
        if cached is not None:
            return cached
        result = self._decode(token)
        if len(self._decoded) >= _DECODE_CACHE_MAX:
            self._decoded.clear()
        self._decoded[token] = result
        return result

    def _decode(self, token: str) -> TokenInfo | str:
        parts = token.split(":")
        if len(token) > _MAX_TOKEN_LEN or len(parts) != 3 or len(parts[1]) != 16:
            return "malformed"
        try:
            if uuid.UUID(parts[0]).version != 4:
                return "malformed"
            base64.b64decode(parts[2], validate=True)
        except (ValueError, binascii.Error):
            return "malformed"
        payload = self._tokens.open(parts[2])
        if payload is None or payload.get("i") != parts[0]:
            return "bad_signature"
        try:
            return TokenInfo(
                token_id=parts[0],
                challenge_ts=float(payload["c"]),
                captcha_ts=float(payload["k"]),
                domain=str(payload["d"]),
                ua_sha256=str(payload["u"]),
                serial=int(payload["n"]),
                ip=str(payload.get("a") or ""),
                hints=str(payload.get("h", "")),
            )
        except (KeyError, TypeError, ValueError):
            return "bad_signature"

    def domain_ok(self, token_domain: str, hostname: str) -> bool:
        """Exact host match, or a parent domain the page advertised in awsWafCookieDomainList."""
        if token_domain == hostname:
            return True
        return token_domain in self.config.cookie_domain_list and hostname.endswith(
            "." + token_domain.lstrip(".")
        )

    def check(
        self,
        token: str | None,
        hostname: str,
        user_agent: str,
        mode: str | None = None,
        ip: str | None = None,
    ) -> tuple[str | None, TokenInfo | None]:
        """(rejection reason or None, token info) for a request in the given WAF mode.

        ``ip`` is the client's address; with ``ip_binding`` a token earned elsewhere is refused.
        """
        if not token:
            return "absent", None
        info = self.decode(token)
        if isinstance(info, str):
            return info, None
        if info.serial < self.revoked_below:
            return "revoked", info
        if not self.domain_ok(info.domain, hostname):
            return "wrong_domain", info
        if self.config.ua_binding and info.ua_sha256 != ua_hash(user_agent):
            return "ua_mismatch", info
        if self.config.ip_binding and ip is not None and info.ip != ip:
            self.stats.ip_refused += 1
            return "ip_mismatch", info
        now = self.clock()
        ttl = self.config.token_ttl
        if (mode or self.config.mode) == "captcha":
            if info.captcha_ts <= 0:
                return "captcha_missing", info
            if now - info.captcha_ts > ttl:
                return "expired", info
        elif now - info.challenge_ts > ttl:
            return "expired", info
        return None, info

    def revoke_all(self) -> int:
        """Revoke every token issued so far; returns the serial boundary."""
        self.revoked_below = next(self._serial)
        return self.revoked_below

    # -- gokuProps ---------------------------------------------------------------------------
    def goku_props(self, path: str) -> dict[str, str]:
        """Fresh per-response key/iv/context; the context is signed so staleness is provable."""
        context = self._contexts.seal(
            {"t": round(self.clock(), 3), "p": path, "n": secrets.token_hex(8)}
        )
        return {
            "key": "AQIDAH" + _b64(secrets.token_bytes(96)).rstrip("="),
            "iv": _b64(secrets.token_bytes(12)),
            "context": context,
        }

    def check_context(self, context: str) -> str | None:
        """None when the gokuProps context is ours and fresh, else ``malformed`` or ``stale``."""
        payload = self._contexts.open(context)
        if payload is None or not isinstance(payload.get("t"), int | float):
            return "malformed"
        if self.clock() - float(payload["t"]) > self.config.context_ttl:
            return "stale"
        return None

    # -- interstitials -------------------------------------------------------------------------
    def render_interstitial(self, captcha: bool, path: str) -> str:
        props = json.dumps(self.goku_props(path), separators=(",", ":"))
        domains = json.dumps(list(self.config.cookie_domain_list))
        challenge_js = f"{self.token_base}/challenge.js"
        if captcha:
            return _CAPTCHA_PAGE.format(
                domains=domains,
                props=props,
                challenge_js=challenge_js,
                captcha_js=f"{self.captcha_base}/captcha.js",
            )
        return _CHALLENGE_PAGE.format(domains=domains, props=props, challenge_js=challenge_js)

    def action_response(self, request: web.Request, mode: str) -> web.Response:
        captcha = mode == "captcha"
        if captcha:
            self.stats.captchas += 1
        else:
            self.stats.challenges += 1
        wants_html = "text/html" in request.headers.get("Accept", "")
        body = self.render_interstitial(captcha, request.path).encode() if wants_html else b""
        return web.Response(
            status=405 if captcha else 202,
            body=body,
            headers={
                "x-amzn-waf-action": mode,
                "Cache-Control": "no-store, max-age=0",
                "Content-Type": "text/html; charset=UTF-8",
            },
        )


def request_token(request: web.Request) -> str | None:
    """The token a request carries: the cookie first, then the SDK's header."""
    return request.cookies.get(TOKEN_COOKIE) or request.headers.get(TOKEN_HEADER)


def hostname_of(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


_RATE_BLOCK = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    b"<p>Request blocked: rate-based rule.</p></body></html>"
)

_TOKEN_BLOCK = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    b"<p>Request blocked.</p></body></html>"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def waf_middleware(waf: Waf, faults: Faults) -> Any:
    """Protects every path except the configured prefixes; then applies the rate-based rule."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        config = waf.config
        if request.path.startswith(config.unprotected_prefixes):
            return await handler(request)
        token = request_token(request)
        mode = config.mode
        if mode != "off":
            reason, info = waf.check(
                token,
                hostname_of(request.host),
                request.headers.get("User-Agent", ""),
                mode,
                ip=request.remote or "",
            )
            if (
                reason is None
                and info is not None
                and info.hints
                and config.fingerprint_check
                and info.hints != hints_digest(request.headers)
            ):
                reason = "hints_mismatch"  # not the browser that earned the token
                waf.stats.bump(waf.stats.fingerprint_refused, reason)
            if reason is not None:
                waf.stats.bump(waf.stats.rejected_tokens, reason)
                return waf.action_response(request, mode)
            client = info.token_id if info else ""
        else:
            client = token or ""
        if faults.refuse_tokens and token:
            # A token the service issued and the site never accepts (issue: a give-up that
            # sees no progress): every resolution "succeeds", every tokened request is blocked.
            waf.stats.refused_tokens += 1
            return web.Response(status=403, body=_TOKEN_BLOCK, content_type="text/html")
        if faults.rate_limit > 0:
            key = client or f"ip:{request.remote}"
            if faults.rate_limited(key):
                waf.stats.rate_blocked += 1
                return web.Response(status=403, body=_RATE_BLOCK, content_type="text/html")
        return await handler(request)

    return middleware


_NOSCRIPT = """<noscript>
        <h1>JavaScript is disabled</h1>
        In order to continue, we need to verify that you're not a robot.
        This requires JavaScript. Enable JavaScript and then reload the page.
    </noscript>"""

_CHALLENGE_PAGE = (
    """<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title></title>
    <script type="text/javascript">
    window.awsWafCookieDomainList = {domains};
    window.gokuProps = {props};
    </script>
    <script src="{challenge_js}"></script>
</head>
<body>
    <div id="challenge-container"></div>
    <script type="text/javascript">
        AwsWafIntegration.saveReferrer();
        AwsWafIntegration.checkForceRefresh().then((forceRefresh) => {{
            if (forceRefresh) {{
                AwsWafIntegration.forceRefreshToken().then(() => {{
                    window.location.reload(true);
                }});
            }} else {{
                AwsWafIntegration.getToken().then(() => {{
                    window.location.reload(true);
                }});
            }}
        }});
    </script>
    """
    + _NOSCRIPT
    + """
</body>
</html>
"""
)

_CAPTCHA_PAGE = (
    """<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Human Verification</title>
    <style>
        body {{ font-family: Arial, sans-serif; }}
        #captcha-container {{ margin: 4em auto; max-width: 28em; }}
    </style>
    <script type="text/javascript">
    window.awsWafCookieDomainList = {domains};
    window.gokuProps = {props};
    </script>
    <script src="{challenge_js}"></script>
    <script src="{captcha_js}"></script>
</head>
<body>
    <div id="captcha-container"></div>
    <script type="text/javascript">
        AwsWafIntegration.saveReferrer();
        window.addEventListener("load", function () {{
            const container = document.querySelector("#captcha-container");
            CaptchaScript.renderCaptcha(container, async (voucher) => {{
                await ChallengeScript.submitCaptcha(voucher);
                window.location.reload(true);
            }});
        }});
    </script>
    """
    + _NOSCRIPT
    + """
</body>
</html>
"""
)
