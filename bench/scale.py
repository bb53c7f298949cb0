"""Benchmark 5, scale: the whole catalogue through ``scrapy crawl fitment`` (fast profile).

The crawler runs as a subprocess pinned to its own core against a replica (WAF off) pinned to
the other. Measured: wall time of the crawl process, requests/s (spider open -> last response),
peak RSS of the crawler (psutil, sampled every 0.2 s), items (compared with the ground truth:
the whole catalogue must come back exactly) and the per-request cost in the first and the last
tenth of the crawl's responses (from the bench recorder's timeline), plus all ten tenths.
``--scale-vehicles N`` crawls ``-a limit=N`` instead (items then checked as a subset).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    FITMENT_KEY,
    compare,
    cpu_plan,
    fast_settings,
    fitment_truth,
    log,
    replica,
    run_crawl,
)

TIMELINE_EVERY = 50


def tenths_ms(timeline: list[float], every: int, responses: int) -> list[float]:
    """Milliseconds per response in each tenth of the responses (from every N-th timestamp)."""
    points = [0.0, *timeline]  # points[i] = time of response i * every
    tenth = responses / 10
    out: list[float] = []
    for i in range(10):
        lo = round(i * tenth / every)
        hi = round((i + 1) * tenth / every)
        hi = min(hi, len(points) - 1)
        lo = min(lo, hi)
        n = (hi - lo) * every
        out.append(round((points[hi] - points[lo]) / n * 1000, 3) if n else 0.0)
    return out


def run(*, quick: bool = False, vehicles: int | None = None) -> dict[str, Any]:
    if vehicles is None and quick:
        vehicles = 2000
    limited = vehicles is not None
    plan = cpu_plan()
    with replica(plan, waf="off") as rep, tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        output = tmp / "fitment.jsonl"
        args = {"limit": vehicles} if limited else {}
        log(f"scale: crawling {vehicles if limited else 'the whole catalogue'} ...")
        result = run_crawl(
            "fitment",
            spider_args=args,
            settings=fast_settings(rep, tmp / "session.json", CWO_PROGRESS_INTERVAL=30),
            output=output,
            cpu=plan.crawler,
            sample_rss=True,
            timeline_every=TIMELINE_EVERY,
            timeout=6 * 3600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"scale crawl failed ({result.returncode}): {result.stderr_tail}")
        log("scale: comparing the output with the ground truth ...")
        truth = list(fitment_truth())
        catalogue = len(truth)
        comparison = compare(output, truth, FITMENT_KEY, subset=limited)
        replica_stats = rep.stats()
    stats = result.stats
    tenths = tenths_ms(stats["bench/timeline"], TIMELINE_EVERY, result.responses)
    items = int(stats.get("item_scraped_count", 0))
    log(
        f"scale: {items} items, {result.responses} requests in {result.wall_s:.1f}s, "
        f"{result.requests_per_s:.1f} req/s, peak RSS {result.peak_rss_mb} MB"
    )
    return {
        "scale": {
            "vehicles": int(stats.get("cwo/vehicles_discovered", 0)),
            "vehicles_limit": vehicles,
            "catalogue_vehicles": catalogue,
            "full_catalogue": not limited,
            "wall_s": round(result.wall_s, 2),
            "crawl_active_s": round(stats["bench/active_s"], 2),
            "requests": result.responses,
            "requests_per_s": round(result.requests_per_s, 1),
            "requests_per_wall_s": round(result.responses / result.wall_s, 1),
            "peak_rss_mb": result.peak_rss_mb,
            "scrapy_memusage_max_mb": round(stats.get("memusage/max", 0) / 2**20, 1),
            "crawler_cpu_s": round(result.cpu_s, 1) if result.cpu_s is not None else None,
            "first_tenth_ms_per_request": tenths[0],
            "last_tenth_ms_per_request": tenths[-1],
            "tenths_ms_per_request": tenths,
            "items": items,
            "output_lines": comparison.got,
            "equals_truth": comparison.equal,
            "truth_comparison": comparison.as_dict(),
            "replica_requests": replica_stats["requests"],
            "cpu": plan.describe(),
            "target": "peak RSS <= 1024 MB; last tenth not slower than the first",
        }
    }
