"""Benchmark 1, overhead: the fitment crawl with the session middleware on and off.

The same replica slice (WAF off, so both variants can crawl it) is crawled by the two variants
*at the same time*, both pinned to the one crawler core, so the kernel gives each half of it and
whatever slows this shared VM down slows both alike. Each crawl records the time of every
response; over the window in which both were running, (responses with) / (responses without)
is the pair's ratio: the variant that needs more CPU per request gets fewer done. Measured one
after the other instead, identical crawls differed by up to 28% here; side by side the pair
ratios stay within a few percent. ``overhead_ratio`` is the median over the pairs (which
variant starts first alternates); 0.97 means the middleware costs 3 %, and
``overhead.ratio_ci95`` is its 95% bootstrap interval; pairs are added until that interval is
narrow enough (see ``MIN_PAIRS``). Every run's output is checked against the ground truth, so a
fast but wrong variant cannot win.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench import mw_cost
from bench.common import (
    FITMENT_KEY,
    CrawlResult,
    bootstrap_ci,
    compare,
    cpu_plan,
    fast_settings,
    fitment_truth,
    log,
    median,
    need_more,
    overlap_counts,
    replica,
    run_crawl,
    run_side_by_side,
    timeline,
)
from bench.slices import Slice, pick

# Pairs are added (from MIN_PAIRS up to MAX_PAIRS) until the 95% bootstrap interval of the
# median ratio is at most CI_WIDTH wide.
MIN_PAIRS = 9
MAX_PAIRS = 25
CI_WIDTH = 0.03


def crawl_once(
    rep: Any, tmp: Path, run: int, enabled: bool, sl: Slice, cpu: int | None
) -> tuple[CrawlResult, bool]:
    """One crawl with every response's time recorded; (result, output equals the truth)."""
    output = tmp / f"fitment-{run}-{'on' if enabled else 'off'}.jsonl"
    settings = fast_settings(
        rep, tmp / f"session-{run}-{enabled}.json", CWO_SESSION_ENABLED=enabled
    )
    result = run_crawl(
        "fitment",
        spider_args=sl.spider_args(),
        settings=settings,
        output=output,
        cpu=cpu,
        timeline_every=1,
    )
    if result.returncode != 0:
        raise RuntimeError(f"fitment crawl failed ({result.returncode}): {result.stderr_tail}")
    equal = compare(output, fitment_truth(**sl.scope()), FITMENT_KEY).equal
    output.unlink(missing_ok=True)
    return result, equal


def side_by_side(rep: Any, tmp: Path, pair: int, sl: Slice, cpu: int | None) -> dict[str, Any]:
    """Both variants at once on one core; responses of each while both were running."""
    results = run_side_by_side(
        {
            "on": lambda: crawl_once(rep, tmp, pair, True, sl, cpu),
            "off": lambda: crawl_once(rep, tmp, pair, False, sl, cpu),
        },
        reverse=pair % 2 == 1,
    )
    (on, on_equal), (off, off_equal) = results["on"], results["off"]
    window, done = overlap_counts({"on": timeline(on.stats), "off": timeline(off.stats)})
    return {
        "pair": pair,
        "first": "off" if pair % 2 else "on",
        "window_s": round(window, 3),
        "responses_with": done["on"],
        "responses_without": done["off"],
        "ratio": round(done["on"] / done["off"], 4),
        "requests": {"with": on.responses, "without": off.responses},
        "equals_truth": on_equal and off_equal,
        "cpu_ms_per_response_without": round(off.stat("bench/cpu_ms_per_response"), 4),
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
    with replica(plan, waf="off") as rep, tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        # One unmeasured crawl warms the replica's caches and the OS page cache.
        crawl_once(rep, tmp, -1, True, sl, plan.crawler)
        while need_more(ratios, least=min_pairs, most=max_pairs, ci_width=CI_WIDTH):
            r = side_by_side(rep, tmp, len(ratios), sl, plan.crawler)
            runs.append(r)
            ratios.append(r["ratio"])
            log(
                f"overhead pair {len(ratios)} (side by side, {r['first']} started first): "
                f"{r['responses_with']} responses with / {r['responses_without']} without "
                f"in {r['window_s']} s = {r['ratio']}"
            )
    low, high = bootstrap_ci(ratios)
    direct = _direct_cost(plan.crawler)
    cpu_off = median(r["cpu_ms_per_response_without"] for r in runs)
    direct["share_of_crawl_cpu"] = round(direct["middleware_us_per_request"] / (cpu_off * 1000), 4)
    return {
        "overhead_ratio": round(median(ratios), 4),
        "overhead": {
            "slice": sl.label(),
            "method": "both variants at once on one core; responses while both ran",
            "pairs": len(ratios),
            "pair_ratios": ratios,
            "ratio_ci95": [round(low, 4), round(high, 4)],
            "stopping_rule": (
                f"{min_pairs}..{max_pairs} pairs, stop when the 95% bootstrap interval of the "
                f"median ratio is <= {CI_WIDTH}"
            ),
            # The middleware's own code per request, in-process (bench/mw_cost.py), and its
            # share of the crawl's CPU per response without the middleware.
            "direct_cost": direct,
            "all_equal_truth": all(r["equals_truth"] for r in runs),
            "cpu": plan.describe(),
            "runs": runs,
            "target": "ratio >= 0.97 (middleware costs at most 3%)",
        },
    }
