"""The short Markdown summary of ``latest.json`` (``bench/results/latest.md``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, Callable[[dict[str, Any]], Any], str, Callable[[dict[str, Any]], bool | None]]


def _get(data: dict[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _check(fn: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool | None]:
    def safe(data: dict[str, Any]) -> bool | None:
        try:
            return fn(data)
        except (TypeError, KeyError):
            return None

    return safe


ROWS: list[Row] = [
    (
        "Middleware overhead (with/without, side by side; 95% interval, pairs)",
        lambda d: (
            f"{d['overhead_ratio']} ({_get(d, 'overhead', 'ratio_ci95')}, "
            f"{_get(d, 'overhead', 'pairs')} pairs)"
            if d.get("overhead_ratio") is not None
            else None
        ),
        ">= 0.97",
        _check(lambda d: d["overhead_ratio"] >= 0.97),
    ),
    (
        "Ceiling fraction (ours / bare Scrapy req/s; 95% interval, rounds)",
        lambda d: (
            f"{d['ceiling_fraction']} ({_get(d, 'ceiling', 'fraction_ci95')}, "
            f"{_get(d, 'ceiling', 'rounds')} rounds)"
            if d.get("ceiling_fraction") is not None
            else None
        ),
        ">= 0.95",
        _check(lambda d: d["ceiling_fraction"] >= 0.95),
    ),
    (
        "Middleware's own code per request, in-process (us; share of crawl CPU)",
        lambda d: (
            f"{_get(d, 'overhead', 'direct_cost', 'middleware_us_per_request')} "
            f"({_get(d, 'overhead', 'direct_cost', 'share_of_crawl_cpu')})"
            if _get(d, "overhead", "direct_cost")
            else None
        ),
        "",
        lambda d: None,
    ),
    (
        "Ceiling in crawler CPU per response (bare/ours)",
        lambda d: _get(d, "ceiling", "cpu_fraction"),
        "",
        lambda d: None,
    ),
    (
        "Dedup memory, combos=all catalogue: guard / per-item set / dupefilter (GB)",
        lambda d: (
            f"{_get(d, 'dedup_memory', 'catalogue_guard_gb')} / "
            f"{_get(d, 'dedup_memory', 'catalogue_per_item_set_gb')} / "
            f"{_get(d, 'dedup_memory', 'catalogue_dupefilter_gb')}"
            if d.get("dedup_memory")
            else None
        ),
        "",
        lambda d: None,
    ),
    (
        "Browser resolution, fresh: headless / virtual median (s)",
        lambda d: (
            f"{_get(d, 'resolution', 'modes', 'headless', 'fresh_median_s')} / "
            f"{_get(d, 'resolution', 'modes', 'virtual', 'fresh_median_s')}"
            if d.get("resolution")
            else None
        ),
        "<= 3 each",
        _check(
            lambda d: all(m["fresh_median_s"] <= 3.0 for m in d["resolution"]["modes"].values())
        ),
    ),
    (
        "Stampede resolutions (64 in flight)",
        lambda d: d.get("stampede_resolutions"),
        "== 1",
        _check(lambda d: d["stampede_resolutions"] == 1),
    ),
    (
        "Store writes / token changes",
        lambda d: (
            f"{d['store_writes']} / {d['token_changes']}"
            if d.get("store_writes") is not None
            else None
        ),
        "writes <= changes + 1",
        _check(lambda d: d["store_writes"] <= d["token_changes"] + 1),
    ),
    (
        "Scale: vehicles / items",
        lambda d: (
            f"{_get(d, 'scale', 'vehicles')} / {_get(d, 'scale', 'items')}"
            if d.get("scale")
            else None
        ),
        "items = vehicles = truth",
        _check(
            lambda d: d["scale"]["items"] == d["scale"]["vehicles"] and d["scale"]["equals_truth"]
        ),
    ),
    ("Scale: wall time (s)", lambda d: _get(d, "scale", "wall_s"), "", lambda d: None),
    ("Scale: requests/s", lambda d: _get(d, "scale", "requests_per_s"), "", lambda d: None),
    (
        "Scale: peak RSS (MB)",
        lambda d: _get(d, "scale", "peak_rss_mb"),
        "<= 1024",
        _check(lambda d: d["scale"]["peak_rss_mb"] <= 1024),
    ),
    (
        "Scale: ms/request first -> last tenth",
        lambda d: (
            f"{d['scale']['first_tenth_ms_per_request']} -> "
            f"{d['scale']['last_tenth_ms_per_request']}"
            if d.get("scale")
            else None
        ),
        "no growth",
        _check(
            lambda d: (
                d["scale"]["last_tenth_ms_per_request"]
                <= d["scale"]["first_tenth_ms_per_request"] * 1.10
            )
        ),
    ),
    (
        "Replica throughput (req/s, one core)",
        lambda d: d.get("replica_requests_per_s"),
        ">= 2000",
        _check(lambda d: d["replica_requests_per_s"] >= 2000),
    ),
    (
        "Reliability suite",
        lambda d: (
            f"{_get(d, 'reliability', 'passed')} passed, {_get(d, 'reliability', 'failed')} "
            f"failed ({'full' if _get(d, 'reliability', 'full') else 'reduced'} counts)"
            if d.get("reliability")
            else None
        ),
        "all pass",
        _check(lambda d: d["reliability"]["failed"] == 0 and d["reliability"]["passed"] > 0),
    ),
    (
        "Disk full (64 KB tmpfs): items reported / whole lines / exit",
        lambda d: (
            f"{_get(d, 'disk_full', 'items_reported')} / {_get(d, 'disk_full', 'whole_lines')}"
            f" / {_get(d, 'disk_full', 'exit_code')}"
            + (" (cut line left)" if _get(d, "disk_full", "cut_line") else "")
            if d.get("disk_full") and "skipped" not in d["disk_full"]
            else None
        ),
        "equal, no cut line, exit 1",
        _check(
            lambda d: (
                d["disk_full"]["items_reported"] == d["disk_full"]["whole_lines"]
                and not d["disk_full"]["cut_line"]
                and d["disk_full"]["exit_code"] == 1
            )
        ),
    ),
    (
        "Cluster items after a Redis restart mid-crawl (vs truth)",
        lambda d: (
            f"{_get(d, 'redis_restart', 'items')}/{_get(d, 'redis_restart', 'truth')}, "
            f"exit codes {_get(d, 'redis_restart', 'exit_codes')}"
            if d.get("redis_restart")
            else None
        ),
        "all, or a non-zero exit",
        _check(lambda d: d["redis_restart"]["ok"]),
    ),
    (
        "Resume after kill -9: requests resumed / full run",
        lambda d: (
            f"{d['resume']['resume_requests']} / {d['resume']['full_requests']} "
            f"({d['resume']['resume_store_pages']} store pages for "
            f"{d['resume']['missing_at_resume']} missing items)"
            if d.get("resume")
            else None
        ),
        "only the missing pages; output = truth",
        _check(
            lambda d: (
                d["resume"]["resume_store_pages"] == d["resume"]["missing_at_resume"]
                and d["resume"]["comparison"]["equal"]
            )
        ),
    ),
]


def markdown(data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    pinning = data.get("cpu_pinning", {})
    # The keys may come from several invocations (--only merges): span all of their runs.
    runs = [r for r in (data.get("runs") or {}).values() if isinstance(r, dict)]
    started = min((r["started_at"] for r in runs if "started_at" in r), default=None)
    finished = max((r["finished_at"] for r in runs if "finished_at" in r), default=None)
    lines = [
        "# cwo-scrapy benchmark results",
        "",
        f"Measured {started or data.get('started_at', '?')} .. "
        f"{finished or data.get('finished_at', '?')} on "
        f"{data.get('cores', '?')} cores ({machine.get('cpu_model', '?')}), Python "
        f"{machine.get('python', '?')}, Scrapy {machine.get('scrapy', '?')}; replica pinned to "
        f"CPU {pinning.get('replica_cpu')}, crawler to CPU {pinning.get('crawler_cpu')}"
        + (" (quick mode: reduced sizes)" if data.get("quick") else "")
        + ".",
        "",
        "| Measure | Value | Target | Met |",
        "|---|---|---|---|",
    ]
    for label, value_fn, target, check in ROWS:
        try:
            value = value_fn(data)
        except (TypeError, KeyError):
            value = None
        if value is None:
            continue
        met = check(data)
        mark = "" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {label} | {value} | {target} | {mark} |")
    lines += ["", "Details, per-run figures and timestamps: `latest.json`.", ""]
    return "\n".join(lines)
