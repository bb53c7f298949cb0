"""Benchmark 2, ceiling: our fitment crawl vs bare Scrapy fetching exactly the same URLs.

A first (unmeasured) fitment crawl of the slice records every URL it downloaded. Then, round
after round, bare Scrapy (``bench.bare``: Scrapy defaults only, no project code) fetches that
list, all URLs known up front, *at the same time* as our crawl runs again, at the same
concurrency, both pinned to the one crawler core. Each crawl records the time of every
response; over the window in which both were answering, (our responses) / (bare responses) is
the round's ratio: the crawl that needs more CPU per response gets fewer done. Run one after
the other instead (the method until 2026-12), the same bare crawl ranged from 965 to 1377
req/s within five minutes on this VM and single-round ratios from 0.87 to 1.11; side by side,
whatever slows the VM slows both alike. ``ceiling_fraction`` is the median over the rounds
(which crawl starts first alternates), with its 95% bootstrap interval in
``ceiling.fraction_ci95``; rounds are added until that interval is narrow enough (see
``MIN_ROUNDS``). ``ceiling.cpu_fraction`` compares crawler CPU time per response (medians,
bare/ours). Our output is checked against the ground truth every round.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import (
    FITMENT_KEY,
    PROJECT_ROOT,
    CrawlResult,
    bootstrap_ci,
    compare,
    cpu_plan,
    fast_settings,
    fitment_truth,
    log,
    need_more,
    overlap_counts,
    pin_child,
    replica,
    run_crawl,
    run_side_by_side,
    scrapy_env,
    timeline,
)
from bench.slices import pick

# Side-by-side rounds: from MIN_ROUNDS, more (up to MAX_ROUNDS) until the 95% bootstrap
# interval of the median per-round ratio is at most CI_WIDTH wide.
MIN_ROUNDS = 7
MAX_ROUNDS = 15
CI_WIDTH = 0.03


def concurrency() -> int:
    from cwo_scrapy.profiles import FAST

    return int(FAST.get("CONCURRENT_REQUESTS", 64))


def run_bare(
    urls_file: Path, stats_file: Path, conc: int, cpu: int | None, timeline_every: int = 0
) -> dict[str, Any]:
    import json

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bare",
            str(urls_file),
            str(stats_file),
            f"--concurrency={conc}",
            f"--timeline-every={timeline_every}",
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

        def bare(round_no: int) -> dict[str, Any]:
            stats_file = tmp / f"bare-stats-{round_no}.json"
            return run_bare(urls_file, stats_file, conc, plan.crawler, timeline_every=1)

        def ours(round_no: int) -> tuple[CrawlResult, bool]:
            output = tmp / f"ours-{round_no}.jsonl"
            result = run_crawl(
                "fitment",
                spider_args=sl.spider_args(),
                settings=fast_settings(rep, tmp / "session-ours.json", **engine),
                output=output,
                cpu=plan.crawler,
                timeline_every=1,
            )
            if result.returncode != 0:
                raise RuntimeError(f"fitment crawl failed: {result.stderr_tail}")
            equal = compare(output, fitment_truth(**sl.scope()), FITMENT_KEY).equal
            output.unlink(missing_ok=True)
            return result, equal

        rounds: list[dict[str, Any]] = []
        ratios: list[float] = []
        bare_cpu: list[float] = []
        ours_cpu: list[float] = []
        all_equal = True
        min_rounds, max_rounds = (1, 1) if quick else (MIN_ROUNDS, MAX_ROUNDS)
        while need_more(ratios, least=min_rounds, most=max_rounds, ci_width=CI_WIDTH):
            round_no = len(ratios)
            results = run_side_by_side(
                {"bare": partial(bare, round_no), "ours": partial(ours, round_no)},
                reverse=round_no % 2 == 1,
            )
            bare_stats = results["bare"]
            ours_result, equal = results["ours"]
            all_equal = all_equal and equal
            window, done = overlap_counts(
                {"bare": timeline(bare_stats), "ours": timeline(ours_result.stats)}
            )
            ratio = done["ours"] / done["bare"]
            ratios.append(ratio)
            bare_cpu.append(float(bare_stats["bench/cpu_ms_per_response"]))
            ours_cpu.append(float(ours_result.stat("bench/cpu_ms_per_response")))
            rounds.append(
                {
                    "round": round_no,
                    "first": "ours" if round_no % 2 else "bare",
                    "window_s": round(window, 3),
                    "responses_ours": done["ours"],
                    "responses_bare": done["bare"],
                    "ratio": round(ratio, 4),
                    "ours_equals_truth": equal,
                }
            )
            log(
                f"ceiling round {round_no + 1} (side by side): {done['ours']} responses ours / "
                f"{done['bare']} bare Scrapy in {window:.3f} s = {ratio:.4f}"
            )
        low, high = bootstrap_ci(ratios)
    return {
        "ceiling_fraction": round(statistics.median(ratios), 4),
        "ceiling": {
            "slice": sl.label(),
            "method": "bare Scrapy and our crawl at once on one core; responses while both ran",
            "concurrency": conc,
            "urls": len(urls),
            "bare_requests": len(urls),
            "ours_requests": ours_result.responses,
            "ours_equals_truth": all_equal,
            "rounds": len(ratios),
            "round_ratios": [round(r, 4) for r in ratios],
            "fraction_ci95": [round(low, 4), round(high, 4)],
            "stopping_rule": (
                f"{min_rounds}..{max_rounds} rounds, stop when the 95% bootstrap interval of "
                f"the median ratio is <= {CI_WIDTH}"
            ),
            # Crawler CPU per response, bare / ours (medians): the fraction in CPU terms.
            "cpu_fraction": round(statistics.median(bare_cpu) / statistics.median(ours_cpu), 4),
            "bare_cpu_ms_per_response": round(statistics.median(bare_cpu), 4),
            "ours_cpu_ms_per_response": round(statistics.median(ours_cpu), 4),
            "runs": rounds,
            "cpu": plan.describe(),
            "target": "fraction >= 0.95 (issues #10, #11)",
        },
    }
