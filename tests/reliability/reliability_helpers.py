"""Helpers of the reliability suite: counts (reduced in CI, full from ``python -m bench``), figures.

``CWO_RELIABILITY_FULL=1`` selects the full counts (``python -m bench --reliability`` sets it);
``CWO_RELIABILITY_<NAME>=N`` overrides one count. When ``CWO_RELIABILITY_REPORT`` names a file,
each test appends one JSON line of the figures it measured (collected into the bench results).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common import PROJECT_ROOT, crawl_command, scrapy_env
from cwo_scrapy.replica.harness import fetch
from cwo_scrapy.replica.powclient import browser_report

FULL = os.environ.get("CWO_RELIABILITY_FULL", "") == "1"


def count(name: str, reduced: int, full: int) -> int:
    """A scenario size: env override, else the full or the reduced (CI) count."""
    override = os.environ.get(f"CWO_RELIABILITY_{name}")
    if override:
        return int(override)
    return full if FULL else reduced


def report(test: str, **figures: Any) -> None:
    path = os.environ.get("CWO_RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": test, **figures}) + "\n")


def genuine_token_reason(rep: Any, token: str, user_agent: str, url: str) -> str:
    """Ask the replica what it thinks of ``token``: "accepted" or its rejection reason.

    A token the replica issued is "accepted", "revoked" or "expired"; a torn or invented one is
    "malformed" or "bad_signature".
    """
    before = rep.stats()["rejected_tokens"]
    headers = {"Cookie": f"aws-waf-token={token}", "User-Agent": user_agent}
    answer = fetch(url, headers={**headers, **browser_report(user_agent)[1]})
    after = rep.stats()["rejected_tokens"]
    if answer.status == 200:
        return "accepted"
    grown = [k for k, v in after.items() if v > before.get(k, 0)]
    return grown[0] if grown else f"http_{answer.status}"


class CrawlProcess:
    """``scrapy crawl`` in a subprocess (project directory), with stdout/stderr in files."""

    def __init__(self, workdir: Path, name: str, cmd: list[str]) -> None:
        self.stderr_path = workdir / f"{name}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=scrapy_env(),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def wait(self, timeout: float = 120.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr.close()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_crawl(workdir: Path, name: str, spider: str, **kwargs: Any) -> CrawlProcess:
    return CrawlProcess(workdir, name, crawl_command(spider, **kwargs))


def run_crawl(
    workdir: Path, name: str, spider: str, timeout: float = 120.0, **kwargs: Any
) -> tuple[int, str, dict[str, Any]]:
    """Run a crawl to the end: (exit status, stderr, recorder stats or {})."""
    stats_file = workdir / f"{name}-stats.json"
    crawl = start_crawl(workdir, name, spider, stats_file=stats_file, **kwargs)
    code = crawl.wait(timeout)
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return code, crawl.stderr, stats


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def line_count(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except OSError:
        return 0
