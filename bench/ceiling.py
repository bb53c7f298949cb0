"""Benchmark 2, ceiling: our fitment crawl vs bare Scrapy fetching exactly the same URLs.

A first (unmeasured) fitment crawl of the slice records every URL it downloaded. Then, in one
run, at the same concurrency and in interleaved rounds, bare Scrapy (``bench.bare``: Scrapy
defaults only, no project code) fetches that list, all URLs known up front, and our crawl runs
again. ``ceiling_fraction`` is the median over the rounds of our requests/s divided by bare
requests/s, with its 95% bootstrap interval in ``ceiling.fraction_ci95``; rounds are added
until that interval is narrow enough (see ``MIN_ROUNDS``). ``ceiling.cpu_fraction`` compares
crawler CPU time per response (medians, bare/ours).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    FITMENT_KEY,
    PROJECT_ROOT,
    bootstrap_ci,
    compare,
    cpu_plan,
    fast_settings,
    fitment_truth,
    log,
    need_more,
    pin_child,
    replica,
    run_crawl,
    scrapy_env,
)
from bench.slices import pick

# Interleaved bare/ours rounds: from MIN_ROUNDS, more (up to MAX_ROUNDS) until the 95%
# bootstrap interval of the median per-round ratio is at most CI_WIDTH wide.
MIN_ROUNDS = 5
MAX_ROUNDS = 15
CI_WIDTH = 0.04


def concurrency() -> int:
    from cwo_scrapy.profiles import FAST

    return int(FAST.get("CONCURRENT_REQUESTS", 64))


def run_bare(urls_file: Path, stats_file: Path, conc: int, cpu: int | None) -> dict[str, Any]:
    import json

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bare",
            str(urls_file),
            str(stats_file),
            f"--concurrency={conc}",
        ],
        cwd=PROJECT_ROOT,
        env=scrapy_env(),
        capture_output=True,
        text=True,
        timeout=3600,
        preexec_fn=pin_child(cpu),
        check=False,
    )
    if proc.returncode != 0 or not stats_file.exists():
        raise RuntimeError(f"bare crawl failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(stats_file.read_text())


def run(*, quick: bool = False) -> dict[str, Any]:
    sl = pick(quick)
    plan = cpu_plan()
    conc = concurrency()
    engine = {"CONCURRENT_REQUESTS": conc, "CONCURRENT_REQUESTS_PER_DOMAIN": conc}
    with replica(plan, waf="off") as rep, tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        urls_file = tmp / "urls.txt"
        record = run_crawl(
            "fitment",
            spider_args=sl.spider_args(),
            settings=fast_settings(rep, tmp / "session-record.json", **engine),
            output=tmp / "record.jsonl",
            cpu=plan.crawler,
            urls_file=urls_file,
        )
        if record.returncode != 0:
            raise RuntimeError(f"recording crawl failed: {record.stderr_tail}")
        urls = urls_file.read_text().splitlines()
        log(f"ceiling: recorded {len(urls)} URLs of the {sl.label()} fitment crawl")

        # Interleaved rounds, alternating which goes first, per-round ratios: this VM's speed
        # drifts by 20% or more over a minute, which a single pair would read as a difference.
        bare_runs: list[float] = []
        ours_runs: list[float] = []
        bare_cpu: list[float] = []
        ours_cpu: list[float] = []
        ratios: list[float] = []
        all_equal = True
        ours = None
        min_rounds, max_rounds = (1, 1) if quick else (MIN_ROUNDS, MAX_ROUNDS)
        while need_more(ratios, least=min_rounds, most=max_rounds, ci_width=CI_WIDTH):
            round_no = len(ratios)
            order = ("bare", "ours") if round_no % 2 == 0 else ("ours", "bare")
            for which in order:
                if which == "bare":
                    bare = run_bare(urls_file, tmp / "bare-stats.json", conc, plan.crawler)
                    bare_runs.append(float(bare["bench/requests_per_s"]))
                    bare_cpu.append(float(bare["bench/cpu_ms_per_response"]))
                    log(f"ceiling round {round_no + 1}: bare Scrapy {bare_runs[-1]:.1f} req/s")
                    continue
                output = tmp / "ours.jsonl"
                ours = run_crawl(
                    "fitment",
                    spider_args=sl.spider_args(),
                    settings=fast_settings(rep, tmp / "session-ours.json", **engine),
                    output=output,
                    cpu=plan.crawler,
                )
                if ours.returncode != 0:
                    raise RuntimeError(f"fitment crawl failed: {ours.stderr_tail}")
                comparison = compare(output, fitment_truth(**sl.scope()), FITMENT_KEY)
                all_equal = all_equal and comparison.equal
                ours_runs.append(ours.requests_per_s)
                ours_cpu.append(float(ours.stat("bench/cpu_ms_per_response")))
                log(f"ceiling round {round_no + 1}: our crawl {ours_runs[-1]:.1f} req/s")
            ratios.append(ours_runs[-1] / bare_runs[-1])
        bare_rps = statistics.median(bare_runs)
        ours_rps = statistics.median(ours_runs)
        low, high = bootstrap_ci(ratios)
        assert ours is not None
    return {
        "ceiling_fraction": round(statistics.median(ratios), 4),
        "ceiling": {
            "slice": sl.label(),
            "concurrency": conc,
            "urls": len(urls),
            "bare_requests": len(urls),
            "bare_requests_per_s": round(bare_rps, 1),
            "bare_runs_requests_per_s": [round(r, 1) for r in bare_runs],
            "ours_requests": ours.responses,
            "ours_requests_per_s": round(ours_rps, 1),
            "ours_runs_requests_per_s": [round(r, 1) for r in ours_runs],
            "ours_equals_truth": all_equal,
            "rounds": len(ratios),
            "round_ratios": [round(r, 4) for r in ratios],
            "fraction_ci95": [round(low, 4), round(high, 4)],
            # Crawler CPU per response, bare / ours (medians): the fraction in CPU terms.
            "cpu_fraction": round(statistics.median(bare_cpu) / statistics.median(ours_cpu), 4),
            "bare_cpu_ms_per_response": round(statistics.median(bare_cpu), 4),
            "ours_cpu_ms_per_response": round(statistics.median(ours_cpu), 4),
            "cpu": plan.describe(),
            "target": "fraction >= 0.95 (issues #10, #11)",
        },
    }
