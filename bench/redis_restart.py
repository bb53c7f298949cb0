"""Items after a Redis restart mid-crawl: cluster mode must lose nothing, or say so.

Two cluster workers crawl one fitment year through a Redis server with an append-only file
fsynced on every write. When a quarter of the vehicles are written, Redis is killed with
``kill -9`` and started again on the same port and folder ``OUTAGE_S`` seconds later. The
workers' merged files are compared with the replica's ground truth. The verdict is ``ok``
when every item arrived and every worker exited 0, or when a worker exited non-zero (the
crawl said it was incomplete); a success exit with items missing is the failure this guards
against. Part of ``python -m bench --reliability``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import PROJECT_ROOT, canonical, cpu_plan, fitment_truth, log, replica, scrapy_env
from cwo_scrapy.cluster.output import merge

OUTAGE_S = 8.0
WORKERS = 2


class _DurableRedis:
    """``redis-server`` with ``appendfsync always`` on a loopback port, restartable in place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing (apt-get install redis-server)")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        args += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _lines(folder: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in folder.glob("out-*.jsonl"))


def run(*, quick: bool = False) -> dict[str, Any]:
    year = 1979 if quick else 2016
    truth = {canonical(item) for item in fitment_truth(year=year)}
    plan = cpu_plan()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as d, replica(plan) as rep:
        folder = Path(d)
        (folder / "redis").mkdir()
        server = _DurableRedis(folder / "redis")
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for n in range(WORKERS):
                settings = {
                    **rep.settings(),
                    "CWO_PROFILE": "fast",
                    "CWO_CLUSTER": "True",
                    "CWO_REDIS_URL": server.url,
                    "CWO_CLUSTER_WORKER_ID": f"w{n}",
                    "CWO_CLUSTER_IDLE_CLOSE": "2",
                    "CWO_SESSION_FILE": str(folder / "unused.json"),
                    "TELNETCONSOLE_ENABLED": "False",
                }
                cmd = [sys.executable, "-m", "scrapy", "crawl", "fitment", "-a", f"year={year}"]
                for key, value in settings.items():
                    cmd += ["-s", f"{key}={value}"]
                cmd += ["-O", str(folder / "out-%(worker)s.jsonl"), "-L", "WARNING"]
                with open(folder / f"w{n}.log", "wb") as out:
                    procs.append(
                        subprocess.Popen(
                            cmd, cwd=PROJECT_ROOT, env=scrapy_env(), stdout=out, stderr=out
                        )
                    )
            while _lines(folder) < len(truth) // 4:
                if all(p.poll() is not None for p in procs):
                    raise RuntimeError("the workers exited before the outage")
                time.sleep(0.2)
            killed_at = _lines(folder)
            server.kill()
            time.sleep(OUTAGE_S)
            server.start()
            codes = [p.wait(timeout=3600) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            server.kill()
        items, report = merge(folder.glob("out-*.jsonl"))
        reasons = [
            (folder / f"w{n}.log").read_text(errors="replace").strip().splitlines()[-1:]
            for n in range(WORKERS)
        ]
    got = {canonical(item) for item in items}
    missing = len(truth - got)
    verdict = (missing == 0 and all(c == 0 for c in codes)) or any(c != 0 for c in codes)
    result = {
        "year": year,
        "workers": WORKERS,
        "outage_s": OUTAGE_S,
        "items_at_kill": killed_at,
        "items": len(got & truth),
        "truth": len(truth),
        "missing": missing,
        "unexpected": len(got - truth),
        "repeats_merged": report.repeats,
        "unreadable_lines": len(report.bad_lines),
        "exit_codes": codes,
        "last_lines": [r[0] if r else "" for r in reasons],
        "ok": verdict,
    }
    log(f"redis restart: {len(got & truth)}/{len(truth)} items, exit codes {codes}")
    return {"redis_restart": result}
