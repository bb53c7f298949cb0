"""Replica throughput on one core: is the replica ever the bottleneck of a crawl benchmark?

Starts the replica (WAF on, a valid token on every request so the WAF check is paid) pinned to
one CPU, then drives it from this process, pinned to another CPU when there is one, over
keep-alive loopback connections with ~50 concurrent requests for a bounded time. The mix is the
small requests a crawl makes most: fitment API JSON (years .. vehicle record) and the
``api/ymm-temp.php`` option lists with a live PHPSESSID. Writes ``bench/results/replica.json``.

    .venv/bin/python bench/replica_throughput.py [--duration 10] [--concurrency 50]

As benchmark 6 of ``python -m bench``, :func:`run` starts this script in a subprocess (so the
pinning applies to it, not to the bench driver) with a temporary output whose figures are
merged into ``latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
sys.path.insert(0, str(ROOT))

from cwo_scrapy.replica import truth  # noqa: E402
from cwo_scrapy.replica.harness import ReplicaProcess, fetch  # noqa: E402
from cwo_scrapy.replica.powclient import browser_report  # noqa: E402
from cwo_scrapy.urls import CwoUrls, item_url_args  # noqa: E402

UA = "Mozilla/5.0 (X11; Linux x86_64) cwo-scrapy-bench/1.0"
RESULTS = ROOT / "bench" / "results" / "replica.json"


def request_mix(urls: CwoUrls, vehicles: list[dict]) -> list[str]:
    """API JSON for each vehicle plus its three option lists: ~2/3 API, ~1/3 ymm options."""
    mix: list[str] = [urls.years()]
    for v in vehicles:
        y, mk, md, tr, dr = v["year"], v["make"], v["model"], v["trim"], v["drive"]
        mix += [
            urls.makes(y),
            urls.models(y, mk),
            urls.trims(y, mk, md),
            urls.drives(y, mk, md, tr),
            urls.vehicle(y, mk, md, tr, dr),
            urls.ymm_options(v["vehicle_type"], "suspension"),
            urls.ymm_options(v["vehicle_type"], "trimming"),
            urls.ymm_options(v["vehicle_type"], "rubbing"),
        ]
    return mix


def sample_vehicles(n: int) -> list[dict]:
    out = io.StringIO()
    truth.dump("fitment", out, year=2020)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    step = max(1, len(rows) // n)
    return rows[::step][:n]


async def drive(
    site_url: str,
    mix: list[str],
    headers: dict[str, str],
    duration: float,
    concurrency: int,
    pipeline: int = 1,
) -> tuple[int, Counter[int], float]:
    """``concurrency`` keep-alive connections, ``pipeline`` requests in flight each, until the
    deadline.

    A lean HTTP/1.1 client on asyncio streams with pre-encoded requests: an ordinary client
    library costs more CPU per request than the replica does, and would measure itself.
    """
    parts = urlsplit(site_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = []
    for url in mix:
        u = urlsplit(url)
        target = u.path + (f"?{u.query}" if u.query else "")
        requests.append(f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\n{extra}\r\n".encode())
    counts: Counter[int] = Counter()
    deadline = time.monotonic() + duration

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            cycle = itertools.islice(itertools.cycle(requests), offset, None)
            while time.monotonic() < deadline:
                writer.write(b"".join(itertools.islice(cycle, pipeline)))
                for _ in range(pipeline):
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head[9:12])
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            await reader.readexactly(int(line[15:]))
                            break
                    else:
                        raise RuntimeError("response without Content-Length")
                    counts[status] += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(i * 7) for i in range(concurrency)))
    return sum(counts.values()), counts, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--vehicles", type=int, default=40)
    parser.add_argument(
        "--pipeline",
        type=int,
        default=1,
        help="requests in flight per connection (1 = Scrapy-like)",
    )
    parser.add_argument("--waf", default="challenge", choices=["off", "challenge", "captcha"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    cpus = sorted(psutil.Process().cpu_affinity() or [0])
    server_cpu, load_cpus = cpus[0], (cpus[1:] or cpus[:1])
    with ReplicaProcess(waf=args.waf) as rep:
        assert rep.proc is not None
        server = psutil.Process(rep.proc.pid)
        server.cpu_affinity([server_cpu])
        psutil.Process().cpu_affinity(load_cpus)

        urls = CwoUrls(rep.site_url, rep.api_url)
        vehicles = sample_vehicles(args.vehicles)
        headers = {"User-Agent": UA, "Accept": "application/json", **browser_report(UA)[1]}
        if args.waf != "off":
            headers["Cookie"] = f"aws-waf-token={rep.mint_token(UA)}"
        v = vehicles[0]
        set_url = urls.ymm_set(**item_url_args(v))
        session_cookie = fetch(set_url, headers=headers).headers["Set-Cookie"].split(";")[0]
        headers["Cookie"] = "; ".join(c for c in (headers.get("Cookie"), session_cookie) if c)
        mix = request_mix(urls, vehicles)

        asyncio.run(drive(rep.site_url, mix, headers, args.warmup, args.concurrency, args.pipeline))
        rep.reset()
        cpu_before = sum(server.cpu_times()[:2])
        total, counts, elapsed = asyncio.run(
            drive(rep.site_url, mix, headers, args.duration, args.concurrency, args.pipeline)
        )
        server_cpu_s = sum(server.cpu_times()[:2]) - cpu_before
        served = rep.stats()["requests"]

    ok = counts.get(200, 0)
    result = {
        "benchmark": "replica_throughput",
        "requests_per_s": round(total / elapsed, 1),
        "ok_requests_per_s": round(ok / elapsed, 1),
        "requests_per_replica_cpu_s": round(served / server_cpu_s, 1) if server_cpu_s else None,
        "replica_cpu_utilisation": round(server_cpu_s / elapsed, 3),
        "duration_s": round(elapsed, 2),
        "requests": total,
        "status_counts": {str(k): v for k, v in sorted(counts.items())},
        "concurrency": args.concurrency,
        "pipeline": args.pipeline,
        "waf": args.waf,
        "mix": {"api_json": 5 * len(vehicles) + 1, "ymm_options": 3 * len(vehicles)},
        "replica_cpu": server_cpu,
        "load_cpus": load_cpus,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target_requests_per_s": 2000,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if ok == total else 1


def run(*, quick: bool = False) -> dict[str, Any]:
    """Benchmark 6: this script in a subprocess; its figures for ``latest.json``."""
    from bench.common import PROJECT_ROOT, log, scrapy_env

    duration = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-") as d:
        output = Path(d) / "replica.json"
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--duration", str(duration), "--output", str(output)],
            cwd=PROJECT_ROOT,
            env=scrapy_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if not output.exists():
            raise RuntimeError(f"{SCRIPT.name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        result = json.loads(output.read_text())
    log(f"replica throughput: {result['requests_per_s']} req/s")
    return {
        "replica_requests_per_s": result["requests_per_s"],
        "replica": {**result, "exit_status": proc.returncode},
    }


if __name__ == "__main__":
    sys.exit(main())
