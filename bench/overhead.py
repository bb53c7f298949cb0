"""Benchmark 1, overhead: the fitment crawl with the session middleware on and off.

The same replica slice (WAF off, so both variants can crawl it) is crawled in interleaved pairs,
the order alternating inside each pair so drift on a shared machine hits both sides alike.
``overhead_ratio`` is the median over the pairs of (requests/s with) / (requests/s without); a
value of 0.97 means the middleware costs 3 %, and ``overhead.ratio_ci95`` is its 95% bootstrap
interval; pairs are added until that interval is narrow enough (see ``MIN_PAIRS``).
``overhead.cpu_ratio`` is the same comparison in crawler CPU time per response (without/with).
Every run's output is checked against the ground truth, so a fast but wrong variant cannot win.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench import mw_cost
from bench.common import (
    FITMENT_KEY,
    bootstrap_ci,
    compare,
    cpu_plan,
    fast_settings,
    fitment_truth,
    log,
    median,
    need_more,
    replica,
    run_crawl,
)
from bench.slices import Slice, pick

# A pair's ratio scatters by up to +-9% on this VM, so pairs are added (from MIN_PAIRS up to
# MAX_PAIRS) until the 95% bootstrap interval of the median ratio is at most CI_WIDTH wide.
MIN_PAIRS = 9
MAX_PAIRS = 25
CI_WIDTH = 0.03


def crawl_once(rep: Any, tmp: Path, run: int, enabled: bool, sl: Slice, cpu: int | None) -> dict:
    output = tmp / f"fitment-{run}-{'on' if enabled else 'off'}.jsonl"
    settings = fast_settings(
        rep, tmp / f"session-{run}-{enabled}.json", CWO_SESSION_ENABLED=enabled
    )
    result = run_crawl(
        "fitment", spider_args=sl.spider_args(), settings=settings, output=output, cpu=cpu
    )
    if result.returncode != 0:
        raise RuntimeError(f"fitment crawl failed ({result.returncode}): {result.stderr_tail}")
    comparison = compare(output, fitment_truth(**sl.scope()), FITMENT_KEY)
    output.unlink(missing_ok=True)
    return {
        "middleware": enabled,
        "requests": result.responses,
        "requests_per_s": round(result.requests_per_s, 1),
        "cpu_ms_per_response": round(result.stat("bench/cpu_ms_per_response"), 4),
        "active_s": round(result.stat("bench/active_s"), 3),
        "store_writes": result.stat("cwo_session/store_writes"),
        "equals_truth": comparison.equal,
    }


def _direct_cost(cpu: int | None) -> dict[str, Any]:
    """``bench.mw_cost`` on the crawler's core (this process is moved there for the time)."""
    before = os.sched_getaffinity(0)
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        return mw_cost.measure()
    finally:
        os.sched_setaffinity(0, before)


def run(*, quick: bool = False, pairs: int | None = None) -> dict[str, Any]:
    """``pairs``: exactly that many pairs; default adaptive (see ``MIN_PAIRS``)."""
    min_pairs = pairs or (2 if quick else MIN_PAIRS)
    max_pairs = pairs or (2 if quick else MAX_PAIRS)
    sl = pick(quick)
    plan = cpu_plan()
    runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    with replica(plan, waf="off") as rep, tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        # One unmeasured crawl warms the replica's caches and the OS page cache.
        crawl_once(rep, tmp, -1, True, sl, plan.crawler)
        pair = 0
        while need_more(ratios, least=min_pairs, most=max_pairs, ci_width=CI_WIDTH):
            order = (True, False) if pair % 2 == 0 else (False, True)
            pair_runs = {}
            for enabled in order:
                r = crawl_once(rep, tmp, pair, enabled, sl, plan.crawler)
                r["pair"] = pair
                runs.append(r)
                pair_runs[enabled] = r
                log(
                    f"overhead pair {pair + 1}: middleware {'on ' if enabled else 'off'} "
                    f"{r['requests_per_s']} req/s"
                )
            ratios.append(pair_runs[True]["requests_per_s"] / pair_runs[False]["requests_per_s"])
            cpu_ratios.append(
                pair_runs[False]["cpu_ms_per_response"] / pair_runs[True]["cpu_ms_per_response"]
            )
            pair += 1
    low, high = bootstrap_ci(ratios)
    direct = _direct_cost(plan.crawler)
    cpu_off = median(r["cpu_ms_per_response"] for r in runs if not r["middleware"])
    direct["share_of_crawl_cpu"] = round(direct["middleware_us_per_request"] / (cpu_off * 1000), 4)
    with_mw = [r["requests_per_s"] for r in runs if r["middleware"]]
    without = [r["requests_per_s"] for r in runs if not r["middleware"]]
    return {
        "overhead_ratio": round(median(ratios), 4),
        "overhead": {
            "slice": sl.label(),
            "pairs": len(ratios),
            "pair_ratios": [round(r, 4) for r in ratios],
            "ratio_ci95": [round(low, 4), round(high, 4)],
            "stopping_rule": (
                f"{min_pairs}..{max_pairs} pairs, stop when the 95% bootstrap interval of the "
                f"median ratio is <= {CI_WIDTH}"
            ),
            # The same comparison in crawler CPU per response. The crawler is CPU-bound, so it
            # tracks the throughput ratio: the scatter is in the CPU's speed, not scheduling.
            "cpu_ratio": round(median(cpu_ratios), 4),
            "pair_cpu_ratios": [round(r, 4) for r in cpu_ratios],
            # The middleware's own code per request, in-process (bench/mw_cost.py), and its
            # share of the crawl's CPU per response without the middleware.
            "direct_cost": direct,
            "median_requests_per_s_with": median(with_mw),
            "median_requests_per_s_without": median(without),
            "all_equal_truth": all(r["equals_truth"] for r in runs),
            "cpu": plan.describe(),
            "runs": runs,
            "target": "ratio >= 0.97 (middleware costs at most 3%)",
        },
    }
