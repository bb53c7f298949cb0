"""Drives ``bench.probe_spider`` crawls: settings, a seeded session, protected URLs, subprocess."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, pin_child, scrapy_env, wheel_size_truth
from cwo_scrapy.replica.harness import ReplicaProcess

RESOLVER_KEY = "bench-client-key"  # the replica's fake CapSolver accepts any key


def user_agent() -> str:
    from cwo_scrapy.settings import FAKEUSERAGENT_FALLBACK

    return FAKEUSERAGENT_FALLBACK


def probe_settings(rep: ReplicaProcess, session_file: Path, **extra: Any) -> dict[str, Any]:
    """Project settings for a probe crawl: fast profile, the capsolver resolver on the replica."""
    return {
        "CWO_PROFILE": "fast",
        **rep.settings(),
        "CWO_SESSION_FILE": str(session_file),
        "CWO_SESSION_RESOLVER": "capsolver",
        "CWO_CAPSOLVER_API_KEY": RESOLVER_KEY,
        "CWO_CAPSOLVER_POLL_INTERVAL": 0.1,
        "CWO_RESOLVER_TIMEOUT": 30.0,
        "CWO_PROGRESS_INTERVAL": 0,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        **extra,
    }


def seed_session(rep: ReplicaProcess, session_file: Path) -> None:
    """A session file holding a valid token (as a previous run would have left it)."""
    from cwo_scrapy.session import open_store

    ua = user_agent()
    now = time.time()
    open_store("json", str(session_file)).update(
        user_agent=ua,
        created_at=now,
        aws_waf_token=rep.mint_token(ua),
        token_obtained_at=now,
    )


def store_urls(rep: ReplicaProcess, count: int, year: int = 2022) -> list[str]:
    """``count`` distinct store pages (WAF-protected on every request)."""
    urls: list[str] = []
    for item in wheel_size_truth(rep.site_url, year=year):
        urls.append(item["url"])
        if len(urls) >= count:
            break
    return urls


def session_start_url(rep: ReplicaProcess, year: int = 2022) -> str:
    """An ``api/ymm-temp.php`` "set" call: the page that gives a client its ``PHPSESSID``."""
    from cwo_scrapy.urls import CwoUrls, item_url_args

    item = next(iter(wheel_size_truth(rep.site_url, year=year)))
    return CwoUrls(rep.site_url, rep.api_url).ymm_set(**item_url_args(item))


class Probe:
    """A running ``bench.probe_spider`` subprocess."""

    def __init__(
        self,
        workdir: Path,
        settings: dict[str, Any],
        urls: list[str],
        *,
        rounds: int = 1,
        cpu: int | None = None,
        name: str = "probe",
    ) -> None:
        self.result_file = workdir / f"{name}-result.json"
        self.status_file = workdir / f"{name}-status.json"
        self.log_file = workdir / f"{name}.log"
        self.stop_file = workdir / f"{name}.stop"
        config = {
            "settings": settings,
            "urls": urls,
            "rounds": rounds,
            "result": str(self.result_file),
            "status_file": str(self.status_file),
            "stop_file": str(self.stop_file),
        }
        config_file = workdir / f"{name}-config.json"
        config_file.write_text(json.dumps(config))
        self._log = self.log_file.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.probe_spider", str(config_file)],
            cwd=PROJECT_ROOT,
            env=scrapy_env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=pin_child(cpu),
        )

    def wait(self, timeout: float = 600.0) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.stop()
        if self.proc.returncode != 0 or not self.result_file.exists():
            raise RuntimeError(f"probe crawl failed ({self.proc.returncode}): {self.log_tail()}")
        return json.loads(self.result_file.read_text())

    def request_stop(self) -> None:
        """Ask the crawl to close (reason ``stopped``) at its next answer."""
        self.stop_file.touch()

    def kill(self) -> None:
        """SIGKILL, no clean-up: what a crash or the OOM killer does."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def log_tail(self, size: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_bytes()[-size:].decode(errors="replace")
        return ""

    def pages(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return int(json.loads(self.status_file.read_text())["pages"])
        return 0


def wait_until(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.01, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def in_flight(stats: dict[str, Any]) -> int:
    """Requests the replica has accepted but not answered yet (site app, non-control)."""
    answered = sum(int(v) for v in stats.get("by_status", {}).values())
    return int(stats["requests"]) - answered - int(stats.get("dropped", 0))


@contextlib.contextmanager
def running(probe: Probe) -> Iterator[Probe]:
    try:
        yield probe
    finally:
        probe.stop()
