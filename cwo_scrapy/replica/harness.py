"""Run the replica as a subprocess for tests and benchmarks, and mint tokens the Python way.

``ReplicaProcess`` starts ``python -m cwo_scrapy.replica --port 0 ...``, waits for the
``Replica serving at`` line and talks to the control plane with the standard library only, so it
works the same from pytest (any reactor), benchmarks and plain scripts.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from cwo_scrapy.replica.powclient import mint_token_sync

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BANNER = "Replica serving at "


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 10.0,
) -> HttpResult:
    """One plain HTTP request (no cookie jar, no redirects of interest); any status is returned."""
    req = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResult(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code, exc.headers, exc.read())


class ReplicaError(RuntimeError):
    """The replica did not start, or its control plane refused a request."""


class ReplicaProcess:
    """A replica subprocess on ephemeral ports; use as a context manager or start()/stop().

    ``record_schema`` and ``markup`` select the variety the replica serves
    (``cwo_scrapy.replica.variants``).
    """

    def __init__(
        self,
        waf: str = "off",
        token_ttl: float = 300.0,
        seed: int = 0,
        extra_args: Iterable[str] = (),
        *,
        record_schema: str = "full",
        markup: str = "strict",
        startup_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "cwo_scrapy.replica",
            "--port",
            "0",
            "--waf",
            waf,
            "--token-ttl",
            str(token_ttl),
            "--seed",
            str(seed),
            "--record-schema",
            record_schema,
            "--markup",
            markup,
            *extra_args,
        ]
        self.startup_timeout = startup_timeout
        self._env = dict(os.environ if env is None else env)
        self._env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), self._env.get("PYTHONPATH", "")) if p
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.site_url = self.api_url = self.token_url = self.solver_url = ""
        self.twocaptcha_url = ""
        self.challenge_js = self.captcha_js = ""
        self.flags = ""  # the "-s ..." line the replica printed

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ReplicaProcess:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=PROJECT_ROOT,
            env=self._env,
        )
        try:
            banner, self.flags = self._read_lines(2)
        except ReplicaError:
            self.stop()
            raise
        if not banner.startswith(BANNER):
            self.stop()
            raise ReplicaError(f"unexpected replica output: {banner!r}")
        self.site_url = banner[len(BANNER) :].strip()
        info = self.info()
        self.api_url = info["api_url"]
        self.token_url = info["token_url"]
        self.solver_url = info["solver_url"]
        self.twocaptcha_url = info["twocaptcha_url"]
        self.challenge_js = info["challenge_js"]
        self.captcha_js = info["captcha_js"]
        return self

    def _read_lines(self, n: int) -> list[str]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while buf.count(b"\n") < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReplicaError("replica did not start in time" + self._stderr_tail())
                if not sel.select(remaining):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise ReplicaError("replica exited during startup" + self._stderr_tail())
                buf += chunk
        return buf.decode().splitlines()[:n]

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace").strip()
        return f": {tail}" if tail else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> ReplicaProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- URLs and settings -----------------------------------------------------------------
    @property
    def token_base(self) -> str:
        """The token endpoint (``challenge.js`` URL without the file name)."""
        return self.challenge_js.rsplit("/", 1)[0]

    @property
    def captcha_base(self) -> str:
        return self.captcha_js.rsplit("/", 1)[0]

    @property
    def hostname(self) -> str:
        return urlsplit(self.site_url).hostname or "127.0.0.1"

    def settings(self) -> dict[str, str]:
        """Scrapy settings that point a crawl at this replica."""
        return {
            "CWO_SITE_URL": self.site_url,
            "CWO_API_URL": self.api_url,
            "CWO_CAPSOLVER_API_URL": self.solver_url,
            "CWO_TWOCAPTCHA_API_URL": self.twocaptcha_url,
        }

    # -- control plane ---------------------------------------------------------------------
    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.site_url}/__replica__/{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise ReplicaError(f"{path}: HTTP {exc.code} {exc.read().decode()[:200]}") from None

    def info(self) -> dict[str, Any]:
        return self._call("info")

    def stats(self) -> dict[str, Any]:
        return self._call("stats")

    def control(self, **changes: Any) -> dict[str, Any]:
        """Apply run-time changes (``waf``, ``token_ttl``, ``revoke_tokens``, ...); returns info."""
        return self._call("control", changes)

    def reset(self) -> dict[str, Any]:
        """Counters back to zero."""
        return self._call("reset", {})

    # -- tokens ----------------------------------------------------------------------------
    def mint_token(self, user_agent: str, *, captcha: bool | None = None) -> str:
        """A valid token bound to ``user_agent`` (inputs -> proof of work -> verify).

        ``captcha=None`` adds a solved CAPTCHA when the replica is in captcha mode.
        """
        if captcha is None:
            captcha = self.info()["waf"] == "captcha"
        return mint_token_sync(
            self.token_base,
            self.hostname,
            user_agent,
            captcha_base=self.captcha_base if captcha else None,
        )


def mint_token(replica: ReplicaProcess, user_agent: str, *, captcha: bool | None = None) -> str:
    """Function form of :meth:`ReplicaProcess.mint_token`."""
    return replica.mint_token(user_agent, captcha=captcha)
