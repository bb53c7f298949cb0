"""Resume after ``kill -9``: the requests a resumed crawl makes, against a full run.

A ``combos=all`` wheel-size crawl of one make is killed (SIGKILL) once half of its items are in
the feed, then the same command runs again appending to that feed (``-o``). The duplicate guard
is seeded from the feed, and the spiders skip the store pages (and fitment vehicle records)
whose items it already holds, so the resumed run fetches only the missing items' pages plus the
cascade's lists and vehicle records. Reported: requests of the full run, of the resumed run,
the resumed run's store pages against the items missing at resume, and the final comparison
with the ground truth (nothing missing, nothing twice).

``tests/reliability/test_resume.py`` runs :func:`measure` on a small make and asserts the
figures; ``python -m bench --reliability`` runs it on 2022 Tesla (9 vehicles, 4,520 pages).
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PROJECT_ROOT,
    compare,
    cpu_plan,
    crawl_command,
    fast_settings,
    log,
    replica,
    scrapy_env,
    wheel_size_truth,
)
from cwo_scrapy.items import IDENTITY, WheelSizeItem

SCOPE: dict[str, Any] = {"year": 2022, "make": "Tesla", "combos": "all"}
KEY = IDENTITY[WheelSizeItem]
STORE_PATH = "/store/wheels"


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except OSError:
        return 0


def _crawl(
    workdir: Path, name: str, rep: Any, scope: dict[str, Any], output: Path, **kw: Any
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Start ``scrapy crawl wheel_size`` appending to ``output``; (process, stats, urls files)."""
    stats_file, urls_file = workdir / f"{name}-stats.json", workdir / f"{name}-urls.txt"
    settings = fast_settings(
        rep, workdir / "session.json", CWO_PROGRESS_INTERVAL=0, TELNETCONSOLE_ENABLED=False, **kw
    )
    cmd = crawl_command(
        "wheel_size",
        spider_args=scope,
        settings=settings,
        output=output,
        append=True,
        stats_file=stats_file,
        urls_file=urls_file,
    )
    stderr = (workdir / f"{name}.stderr").open("wb")
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=scrapy_env(), stdout=subprocess.DEVNULL, stderr=stderr
    )
    stderr.close()
    return proc, stats_file, urls_file


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _urls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _feed_urls(path: Path) -> set[str]:
    urls: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            urls.add(json.loads(line)["url"])
        except (ValueError, KeyError, TypeError):
            continue
    return urls


def measure(
    rep: Any,
    workdir: Path,
    scope: dict[str, Any],
    *,
    kill_at: float = 0.5,
    timeout: float = 900.0,
    **settings: Any,
) -> dict[str, Any]:
    """Full run, then a run killed at ``kill_at`` of the items and resumed; the figures."""
    truth = list(wheel_size_truth(rep.site_url, **scope))
    truth_urls = {item["url"] for item in truth}

    full_out = workdir / "full.jsonl"
    proc, _, full_urls = _crawl(workdir, "full", rep, scope, full_out, **settings)
    full_exit = _finish(proc, timeout)
    full_requests = len(_urls(full_urls))

    output = workdir / "resumed.jsonl"
    proc, _, _ = _crawl(workdir, "killed", rep, scope, output, **settings)
    deadline = time.monotonic() + timeout
    while _lines(output) < kill_at * len(truth) and proc.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    in_feed = _feed_urls(output)
    missing_urls = truth_urls - in_feed

    proc, stats_file, urls_file = _crawl(workdir, "resume", rep, scope, output, **settings)
    resume_exit = _finish(proc, timeout)
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    fetched = _urls(urls_file)
    store = [u for u in fetched if STORE_PATH in u]
    comparison = compare(output, truth, KEY)
    return {
        "scope": {k: str(v) for k, v in scope.items()},
        "truth_items": len(truth),
        "full_exit": full_exit,
        "full_requests": full_requests,
        "killed_mid_crawl": killed,
        "items_before_resume": len(in_feed),
        "missing_at_resume": len(missing_urls),
        "resume_exit": resume_exit,
        "resume_requests": len(fetched),
        "resume_store_pages": len(store),
        "resume_store_pages_not_missing": len(set(store) - missing_urls),
        "resume_store_pages_repeated": len(store) - len(set(store)),
        "missing_pages_not_fetched": len(missing_urls - set(store)),
        "store_pages_skipped": int(stats.get("cwo/wheel_size/store_pages_skipped", 0)),
        "resume_to_full_requests": round(len(fetched) / max(1, full_requests), 3),
        "comparison": comparison.as_dict(),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    scope = {"year": 2022, "make": "Fiat", "combos": "all"} if quick else SCOPE
    plan = cpu_plan()
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as d, replica(plan) as rep:
        figures = measure(rep, Path(d), scope)
    log(
        f"resume: full run {figures['full_requests']} requests; killed at "
        f"{figures['items_before_resume']}/{figures['truth_items']} items, resumed run "
        f"{figures['resume_requests']} requests ({figures['resume_store_pages']} store pages for "
        f"{figures['missing_at_resume']} missing items)"
    )
    return {"resume": figures}
