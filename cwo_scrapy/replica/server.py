"""One asyncio process serving the replica's three origins on 127.0.0.1 with shared state.

- site (``--port``): H1's CWO pages and fitment API behind the WAF middleware, plus the
  control plane under ``/__replica__/`` (stats, info, control, reset);
- token service: ``challenge.js``, ``inputs``, ``verify``, ``voucher``, ``telemetry``, CAPTCHA;
- fake CapSolver: ``createTask``, ``getTaskResult``;
- fake 2Captcha (``twocaptcha.py``): the same methods for Amazon WAF tasks, on its own port.

All listen on 127.0.0.1; a client connecting from another loopback address (a proxy bound to
127.0.0.2) reaches them too, and ``--ip-binding`` tells the two apart.

The request path is kept lean (two middlewares, no access log, counters as plain ints) so one
core serves thousands of small requests per second and the replica never limits a benchmark.
The CLI definition lives here too, shared by ``scrapy replica`` and ``python -m
cwo_scrapy.replica``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from aiohttp import web

from cwo_scrapy.replica.faults import Faults
from cwo_scrapy.replica.site import SiteState, add_site_routes
from cwo_scrapy.replica.solver import SolverService, build_solver_app
from cwo_scrapy.replica.tokens import TokenService, account_path, build_token_app
from cwo_scrapy.replica.twocaptcha import TwoCaptchaService
from cwo_scrapy.replica.variants import MARKUPS, RECORD_SCHEMAS
from cwo_scrapy.replica.waf import WAF_MODES, Stats, Waf, WafConfig, waf_middleware

HOST = "127.0.0.1"
API_PATH = "/fitment/vehicle/co"
CONTROL_PREFIX = "/__replica__/"


class ConfigError(ValueError):
    """A bad option or control value; its message is the one line shown to the user."""


@dataclass(slots=True)
class ReplicaConfig:
    port: int = 0
    token_port: int = 0
    solver_port: int = 0
    twocaptcha_port: int = 0
    waf: str = "off"
    token_ttl: float = 300.0
    seed: int = 0
    rate_limit: int = 0
    rate_window: float = 60.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    retry_after_rate: float = 0.0
    latency: float = 0.0
    session_ttl: float | None = None
    ua_binding: bool = True
    ip_binding: bool = False
    record_schema: str = "full"
    markup: str = "strict"
    fingerprint_check: bool = True


# -- value checks shared by the CLI and /__replica__/control ----------------------------------
def _number(name: str, value: object, *, lo: float = 0.0, hi: float = math.inf) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not (lo <= number <= hi) or math.isnan(number):
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return number


def _positive(name: str, value: object) -> float:
    number = _number(name, value, lo=-math.inf)
    if number <= 0 or math.isinf(number):
        raise ConfigError(f"{name} must be greater than 0, got {value!r}")
    return number


def _integer(name: str, value: object, *, lo: int = 0, hi: int = 2**31) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, float) and value != number:
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not lo <= number <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value!r}")
    return number


def _rate(name: str, value: object) -> float:
    return _number(name, value, lo=0.0, hi=1.0)


def _waf_mode(value: object, name: str = "waf") -> str:
    if value not in WAF_MODES:
        raise ConfigError(f"{name} must be one of {', '.join(WAF_MODES)}, got {value!r}")
    return str(value)


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("on", "true", "1", 1):
        return True
    if value in ("off", "false", "0", 0):
        return False
    raise ConfigError(f"{name} must be true/false or on/off, got {value!r}")


def _prefixes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(p, str) and p.startswith("/") for p in value
    ):
        raise ConfigError("unprotected_prefixes must be a list of paths starting with '/'")
    return tuple(value)


# -- the replica ------------------------------------------------------------------------------
class Replica:
    """The three apps around one shared state; ``start()`` binds them, ``stop()`` frees them."""

    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.faults = Faults(
            error_rate=config.error_rate,
            drop_rate=config.drop_rate,
            latency=config.latency,
            retry_after_rate=config.retry_after_rate,
            rate_limit=config.rate_limit,
            rate_window=config.rate_window,
            seed=config.seed,
        )
        self.waf = Waf(
            WafConfig(
                mode=config.waf,
                token_ttl=config.token_ttl,
                ua_binding=config.ua_binding,
                ip_binding=config.ip_binding,
                fingerprint_check=config.fingerprint_check,
            ),
            self.stats,
        )
        self.site = SiteState(
            seed=config.seed,
            session_ttl=config.session_ttl,
            record_schema=config.record_schema,
            markup=config.markup,
        )
        self.tokens = TokenService(self.waf, account_path(config.seed))
        self.solver = SolverService(self.waf, self.faults)
        self.twocaptcha = TwoCaptchaService(self.waf, self.faults)
        self.site_url = self.api_url = self.token_url = self.solver_url = ""
        self.twocaptcha_url = ""
        self._runners: list[web.AppRunner] = []

    # -- apps --------------------------------------------------------------------------------
    def build_site_app(self) -> web.Application:
        middlewares = [self._front_middleware(), waf_middleware(self.waf, self.faults)]
        app = web.Application(middlewares=middlewares)
        add_site_routes(app, self.site)
        r = app.router
        r.add_get(CONTROL_PREFIX + "stats", self.h_stats)
        r.add_get(CONTROL_PREFIX + "info", self.h_info)
        r.add_post(CONTROL_PREFIX + "control", self.h_control)
        r.add_post(CONTROL_PREFIX + "reset", self.h_reset)
        return app

    def _front_middleware(self) -> Any:
        """Counters and injected faults for every non-control request, in one cheap pass."""
        stats, faults = self.stats, self.faults
        by_status = stats.by_status

        @web.middleware
        async def front(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
            path = request.path
            if path.startswith(CONTROL_PREFIX):
                return await handler(request)
            stats.requests += 1
            stats.count_path(path)
            if faults.latency > 0:
                await asyncio.sleep(faults.latency)
            if faults.any_dice:
                fault = faults.roll()
                if fault == "drop":
                    stats.dropped += 1
                    transport = request.transport
                    if transport is not None:
                        transport.abort()
                    raise asyncio.CancelledError  # aiohttp ends the handler without a response
                if fault == "error":
                    stats.injected_errors += 1
                    resp: web.StreamResponse = _fault_response(faults.error_status())
                    by_status[resp.status] = by_status.get(resp.status, 0) + 1
                    return resp
                if fault == "429":
                    stats.injected_429 += 1
                    by_status[429] = by_status.get(429, 0) + 1
                    return web.Response(
                        status=429,
                        text="Too Many Requests",
                        headers={"Retry-After": str(faults.retry_after)},
                    )
            try:
                resp = await handler(request)
            except web.HTTPException as exc:
                by_status[exc.status] = by_status.get(exc.status, 0) + 1
                raise
            by_status[resp.status] = by_status.get(resp.status, 0) + 1
            return resp

        return front

    # -- control plane -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        waf = self.waf.config
        faults = self.faults
        return {
            "site_url": self.site_url,
            "api_url": self.api_url,
            "token_url": self.token_url,
            "challenge_js": f"{self.waf.token_base}/challenge.js",
            "captcha_js": f"{self.waf.captcha_base}/captcha.js",
            "solver_url": self.solver_url,
            "twocaptcha_url": self.twocaptcha_url,
            "waf": waf.mode,
            "token_ttl": waf.token_ttl,
            "ua_binding": waf.ua_binding,
            "ip_binding": waf.ip_binding,
            "fingerprint_check": waf.fingerprint_check,
            "difficulty": waf.difficulty,
            "context_ttl": waf.context_ttl,
            "unprotected_prefixes": list(waf.unprotected_prefixes),
            "seed": faults.seed,
            "error_rate": faults.error_rate,
            "drop_rate": faults.drop_rate,
            "latency": faults.latency,
            "retry_after_rate": faults.retry_after_rate,
            "retry_after": faults.retry_after,
            "rate_limit": faults.rate_limit,
            "rate_window": faults.rate_window,
            "solver_fail": faults.solver_fail,
            "solver_hang": faults.solver_hang,
            "refuse_tokens": faults.refuse_tokens,
            "solver_polls": self.solver.processing_polls,
            "twocaptcha_balance": self.twocaptcha.balance,
            "twocaptcha_key_set": self.twocaptcha.valid_key is not None,
            "session_ttl": self.config.session_ttl,
            "record_schema": self.site.record_schema,
            "markup": self.site.markup,
        }

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate every change first, then apply them all (a bad one changes nothing)."""
        setters: list[Callable[[], None]] = []
        waf, faults = self.waf.config, self.faults
        for key, value in changes.items():
            setters.append(self._setter(key, value, waf, faults))
        for setter in setters:
            setter()
        return self.info()

    def _setter(self, key: str, value: Any, waf: WafConfig, faults: Faults) -> Callable[[], None]:
        def put(obj: object, attr: str, v: object) -> Callable[[], None]:
            return lambda: setattr(obj, attr, v)

        match key:
            case "waf":
                return put(waf, "mode", _waf_mode(value))
            case "token_ttl":
                return put(waf, "token_ttl", _positive(key, value))
            case "ua_binding" | "ip_binding" | "fingerprint_check":
                return put(waf, key, _flag(key, value))
            case "context_ttl":
                return put(waf, "context_ttl", _positive(key, value))
            case "difficulty":
                return put(waf, "difficulty", _integer(key, value, lo=0, hi=24))
            case "unprotected_prefixes":
                return put(waf, "unprotected_prefixes", (CONTROL_PREFIX, *_prefixes(value)))
            case "revoke_tokens":
                return (lambda: None, self.waf.revoke_all)[_flag(key, value)]
            case "expire_sessions":
                return (lambda: None, self.site.sessions.expire_all)[_flag(key, value)]
            case "error_rate" | "drop_rate" | "retry_after_rate":
                return put(faults, key, _rate(key, value))
            case "latency":
                return put(faults, key, _number(key, value, hi=60.0))
            case "retry_after":
                return put(faults, key, _integer(key, value, lo=0, hi=86_400))
            case "rate_limit":
                return put(faults, key, _integer(key, value))
            case "rate_window":
                return put(faults, key, _positive(key, value))
            case "solver_fail" | "solver_hang" | "refuse_tokens":
                return put(faults, key, _flag(key, value))
            case "solver_polls":
                polls = _integer(key, value, hi=100)
                return lambda: [
                    setattr(s, "processing_polls", polls) for s in (self.solver, self.twocaptcha)
                ]
            case "twocaptcha_balance":
                return put(self.twocaptcha, "balance", _number(key, value))
            case "twocaptcha_key":
                if value is not None and not (isinstance(value, str) and value):
                    raise ConfigError("twocaptcha_key must be a non-empty string or null")
                return put(self.twocaptcha, "valid_key", value)
            case "seed":
                seed = _integer(key, value, lo=-(2**31))
                return lambda: faults.reseed(seed)
        raise ConfigError(f"unknown control key {key!r}")

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats.snapshot(), "php_sessions_created": self.site.sessions.created}

    async def h_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def h_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.info())

    async def h_control(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        if not isinstance(changes, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            return web.json_response(self.apply(changes))
        except ConfigError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def h_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        self.site.sessions.created = 0
        self.faults.reset_windows()
        return web.json_response(self.snapshot())

    # -- lifecycle ---------------------------------------------------------------------------
    async def _bind(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, HOST, port, backlog=1024)
        await site.start()
        return int(runner.addresses[0][1])

    async def start(self) -> None:
        cfg = self.config
        try:
            token_port = await self._bind(build_token_app(self.tokens), cfg.token_port)
            solver_port = await self._bind(build_solver_app(self.solver), cfg.solver_port)
            twocaptcha_port = await self._bind(
                build_solver_app(self.twocaptcha), cfg.twocaptcha_port
            )
            site_port = await self._bind(self.build_site_app(), cfg.port)
        except OSError as exc:
            await self.stop()
            raise ConfigError(f"cannot listen on {HOST}: {exc.strerror or exc}") from None
        self.site_url = f"http://{HOST}:{site_port}"
        self.api_url = self.site_url + API_PATH
        self.token_url = f"http://{HOST}:{token_port}"
        self.solver_url = f"http://{HOST}:{solver_port}"
        self.twocaptcha_url = f"http://{HOST}:{twocaptcha_port}"
        self.waf.token_base = self.token_url + self.tokens.account
        self.waf.captcha_base = self.token_url + "/captcha" + self.tokens.account
        self.tokens.site_origin = self.site_url
        self.tokens.site_hostname = HOST

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    def banner(self) -> str:
        return (
            f"Replica serving at {self.site_url}\n"
            f"-s CWO_SITE_URL={self.site_url} -s CWO_API_URL={self.api_url} "
            f"-s CWO_CAPSOLVER_API_URL={self.solver_url} "
            f"-s CWO_TWOCAPTCHA_API_URL={self.twocaptcha_url} -s CWO_PROFILE=fast"
        )


def _fault_response(status: int) -> web.Response:
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(
        status, "Gateway Timeout"
    )
    body = (
        f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html")


# -- CLI ----------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """Options of ``scrapy replica`` and ``python -m cwo_scrapy.replica`` (values checked later)."""
    add = parser.add_argument
    add("--port", default="0", metavar="P", help="site port (0 = ephemeral, default)")
    add("--token-port", default="0", metavar="P", help="token service port (default ephemeral)")
    add("--solver-port", default="0", metavar="P", help="fake CapSolver port (default ephemeral)")
    add("--twocaptcha-port", default="0", metavar="P", help="fake 2Captcha port (default any)")
    add("--waf", default="off", metavar="MODE", help="off | challenge | captcha (default off)")
    add("--token-ttl", default="300", metavar="S", help="token immunity seconds (default 300)")
    add("--seed", default="0", metavar="N", help="data and fault seed (default 0)")
    add("--rate-limit", default="0", metavar="N", help="403 after N requests/window per token")
    add("--rate-window", default="60", metavar="S", help="rate-limit window seconds (default 60)")
    add("--error-rate", default="0", metavar="F", help="share of 5xx answers (0..1)")
    add("--drop-rate", default="0", metavar="F", help="share of dropped connections (0..1)")
    add("--retry-after-rate", default="0", metavar="F", help="share of 429 + Retry-After (0..1)")
    add("--latency", default="0", metavar="S", help="seconds added to every request")
    add("--session-ttl", default=None, metavar="S", help="PHP session lifetime seconds")
    add("--no-ua-binding", action="store_true", help="accept tokens from any User-Agent")
    add(
        "--ip-binding",
        action="store_true",
        help="accept a token only from the client IP that earned it (token provenance)",
    )
    add("--record-schema", default="full", metavar="S", help="vehicle record: full|lean|mixed")
    add("--markup", default="strict", metavar="M", help="store page: strict|lenient|mixed|broken")
    add(
        "--no-fingerprint-check",
        action="store_true",
        help="issue tokens to inconsistent browsers (webdriver, UA/platform/client-hint mismatch)",
    )
    add("--dump-truth", default=None, metavar="KIND", help="print ground truth: fitment|wheel_size")
    add("--year", default=None, help="--dump-truth: only this year")
    add("--make", default=None, help="--dump-truth: only this make")
    add("--model", default=None, help="--dump-truth: only this model")
    add("--combos", default="default", help="--dump-truth: default | all preference combos")
    add("--site-url", default=None, metavar="URL", help="--dump-truth: site URL in items")


def config_from_args(args: argparse.Namespace) -> ReplicaConfig:
    port_max = 65_535
    return ReplicaConfig(
        port=_integer("--port", args.port, hi=port_max),
        token_port=_integer("--token-port", args.token_port, hi=port_max),
        solver_port=_integer("--solver-port", args.solver_port, hi=port_max),
        twocaptcha_port=_integer("--twocaptcha-port", args.twocaptcha_port, hi=port_max),
        waf=_waf_mode(args.waf, "--waf"),
        token_ttl=_positive("--token-ttl", args.token_ttl),
        seed=_integer("--seed", args.seed, lo=-(2**31)),
        rate_limit=_integer("--rate-limit", args.rate_limit),
        rate_window=_positive("--rate-window", args.rate_window),
        error_rate=_rate("--error-rate", args.error_rate),
        drop_rate=_rate("--drop-rate", args.drop_rate),
        retry_after_rate=_rate("--retry-after-rate", args.retry_after_rate),
        latency=_number("--latency", args.latency, hi=60.0),
        session_ttl=(
            None if args.session_ttl is None else _positive("--session-ttl", args.session_ttl)
        ),
        ua_binding=not args.no_ua_binding,
        ip_binding=args.ip_binding,
        record_schema=_choice("--record-schema", args.record_schema, RECORD_SCHEMAS),
        markup=_choice("--markup", args.markup, MARKUPS),
        fingerprint_check=not args.no_fingerprint_check,
    )


def dump_truth(args: argparse.Namespace, out: TextIO) -> None:
    from cwo_scrapy.replica import truth

    if args.dump_truth not in ("fitment", "wheel_size"):
        raise ConfigError(f"--dump-truth must be fitment or wheel_size, got {args.dump_truth!r}")
    if args.combos not in ("default", "all"):
        raise ConfigError(f"--combos must be default or all, got {args.combos!r}")
    kwargs: dict[str, Any] = {
        "year": None if args.year is None else _integer("--year", args.year, lo=1900, hi=2100),
        "make": args.make,
        "model": args.model,
        "combos": args.combos,
        "seed": _integer("--seed", args.seed, lo=-(2**31)),
        "record_schema": _choice("--record-schema", args.record_schema, RECORD_SCHEMAS),
        "markup": _choice("--markup", args.markup, MARKUPS),
    }
    if kwargs["markup"] == "broken":
        raise ConfigError("--markup broken has no ground truth: no parser can read its pages")
    if args.site_url:
        kwargs["site_url"] = args.site_url
    try:
        truth.dump(args.dump_truth, out, **kwargs)
    except (LookupError, ValueError) as exc:
        raise ConfigError(str(exc).strip("'\"") or type(exc).__name__) from None


async def serve(config: ReplicaConfig, out: TextIO) -> None:
    """Start, print the banner, serve until SIGINT/SIGTERM, stop."""
    replica = Replica(config)
    await replica.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(replica.banner(), file=out, flush=True)
    try:
        await stop.wait()
    finally:
        await replica.stop()


def run(args: argparse.Namespace, prog: str = "replica", out: TextIO = sys.stdout) -> int:
    """Shared entry point: exit status, and a one-line error on bad input (no traceback)."""
    try:
        if args.dump_truth is not None:
            dump_truth(args, out)
            return 0
        config = config_from_args(args)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, out))
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return 0
