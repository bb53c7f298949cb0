"""The README's main job: both spiders end to end against the bundled replica.

Starts the replica with AWS WAF challenges on, runs ``scrapy crawl fitment`` and
``scrapy crawl wheel_size`` as a user would (separate processes sharing one session file, the
browser resolver solving the challenge in headless Chromium), then reports where the output
went, how many items it holds, whether it equals the replica's ground truth, and the session
the crawls left behind (masked).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from cwo_scrapy.replica.harness import ReplicaProcess

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SPIDERS = {"fitment": DATA / "fitment.jsonl", "wheel_size": DATA / "wheel_sizes.jsonl"}


def _scrapy(*args: str) -> list[str]:
    return [sys.executable, "-m", "scrapy", *args]


def _count_and_check(kind: str, path: Path, *, year: int | None, site_url: str) -> tuple[int, bool]:
    from cwo_scrapy.replica import truth

    got = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if kind == "fitment":
        expected_items = truth.fitment_items(year=year)
    else:
        expected_items = truth.wheel_size_items(year=year, site_url=site_url)
    from dataclasses import asdict

    expected = [asdict(i) for i in expected_items]

    def key(d: dict) -> str:
        return json.dumps(d, sort_keys=True)

    return len(got), sorted(map(key, got)) == sorted(map(key, expected))


def _stat(log: Path, name: str) -> int:
    """A counter from the stats dump at the end of a crawl log (0 when absent)."""
    found = re.findall(rf"'{re.escape(name)}': (\d+)", log.read_text(encoding="utf-8"))
    return int(found[-1]) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", default="2022", help="model year to crawl, or 'all'")
    parser.add_argument(
        "--resolver",
        default="browser",
        choices=["browser", "capsolver"],
        help="how the crawl solves the replica's AWS WAF challenge",
    )
    args = parser.parse_args(argv)
    year = None if args.year == "all" else int(args.year)
    DATA.mkdir(exist_ok=True)
    session_file = DATA / "replica_session.json"
    session_file.unlink(missing_ok=True)

    ok = True
    with ReplicaProcess(waf="challenge") as replica:
        print(f"Replica serving at {replica.site_url} (AWS WAF challenge on)", flush=True)
        common: list[str] = []
        for name, value in {
            **replica.settings(),
            "CWO_PROFILE": "fast",
            "CWO_SESSION_RESOLVER": args.resolver,
            "CWO_CAPSOLVER_API_KEY": "demo-key",
            "CWO_SESSION_FILE": str(session_file),
            "LOG_LEVEL": "INFO",
        }.items():
            common += ["-s", f"{name}={value}"]
        scope = [] if year is None else ["-a", f"year={year}"]
        for spider, out in SPIDERS.items():
            print(f"\n== scrapy crawl {spider} {' '.join(scope)}", flush=True)
            started = time.monotonic()
            log = DATA / f"{spider}.log"
            with log.open("w") as log_file:
                proc = subprocess.run(
                    _scrapy("crawl", spider, *scope, *common, "-s", f"LOG_FILE={log}"),
                    cwd=ROOT,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            wall = time.monotonic() - started
            if proc.returncode != 0:
                print(f"{spider}: crawl failed with exit code {proc.returncode}; see {log}")
                ok = False
                continue
            count, exact = _count_and_check(spider, out, year=year, site_url=replica.site_url)
            ok &= exact
            print(
                f"{spider}: {count} items in {out.relative_to(ROOT)} ({wall:.1f} s); "
                f"equals the replica's ground truth: {'yes' if exact else 'NO'}; "
                f"challenge resolutions: {_stat(log, 'cwo_session/resolutions')}; log: "
                f"{log.relative_to(ROOT)}"
            )
        stats = replica.stats()
        print(
            f"\nReplica saw {stats.get('requests')} requests, served "
            f"{stats.get('challenges')} challenges, issued {stats.get('tokens_issued')} tokens."
        )
    print("\n== scrapy cleansession --status", flush=True)
    subprocess.run(
        _scrapy("cleansession", "--status", "-s", f"CWO_SESSION_FILE={session_file}"),
        cwd=ROOT,
        check=False,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
