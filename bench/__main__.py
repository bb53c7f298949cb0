"""``python -m bench`` (``make bench``): run the benchmarks, merge results into bench/results/.

    python -m bench                       # every benchmark, full size (the lead's run)
    python -m bench --quick               # small slices and counts: proves the machinery works
    python -m bench --only overhead,scale # a subset; other keys of latest.json are kept
    python -m bench --scale-vehicles 5000 # scale benchmark on -a limit=5000
    python -m bench --reliability         # also the reliability suite with full counts, the
                                          # items after a Redis restart (redis_restart.py) and
                                          # the requests of a resume after kill -9 (resume.py)

Benchmarks: overhead, ceiling, stampede, writes, scale, replica, dedup, resolution (and
reliability).
Results are merged into ``bench/results/latest.json`` (each benchmark's run time in ``runs``) and
summarised in ``bench/results/latest.md``. Exit status 1 when a benchmark failed to run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    ceiling,
    dedup_memory,
    disk_full,
    overhead,
    redis_restart,
    reliability,
    replica_throughput,
    resolution,
    resume,
    scale,
    stampede,
    store_writes,
)
from bench.common import RESULTS_DIR, cpu_plan, log, machine_info, utc_now
from bench.report import markdown

BENCHMARKS = (
    "overhead",
    "ceiling",
    "stampede",
    "writes",
    "scale",
    "replica",
    "dedup",
    "resolution",
)
ALL = (*BENCHMARKS, "reliability", "resume")


def _parse_only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {unknown[0]!r} (known: {', '.join(ALL)})"
        )
    return names


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return number


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small slices and counts")
    parser.add_argument(
        "--only", type=_parse_only, default=None, metavar="LIST", help=f"subset of {','.join(ALL)}"
    )
    parser.add_argument(
        "--scale-vehicles",
        type=_positive,
        default=None,
        metavar="N",
        help="scale run on -a limit=N (default: the whole catalogue; 2000 with --quick)",
    )
    parser.add_argument(
        "--pairs",
        type=_positive,
        default=None,
        help="overhead pairs (default: 9 to 25, until the ratio's 95%% interval is <= 0.03)",
    )
    parser.add_argument(
        "--reliability", action="store_true", help="also run tests/reliability at full counts"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def selected(args: argparse.Namespace) -> list[str]:
    names = list(args.only) if args.only else list(BENCHMARKS)
    if args.reliability and "reliability" not in names:
        names.append("reliability")
    return names


def runners(args: argparse.Namespace) -> dict[str, Callable[[], dict[str, Any]]]:
    quick = args.quick
    return {
        "overhead": lambda: overhead.run(quick=quick, pairs=args.pairs),
        "ceiling": lambda: ceiling.run(quick=quick),
        "stampede": lambda: stampede.run(quick=quick),
        "writes": lambda: store_writes.run(quick=quick),
        "scale": lambda: scale.run(quick=quick, vehicles=args.scale_vehicles),
        "replica": lambda: replica_throughput.run(quick=quick),
        "dedup": lambda: dedup_memory.run(quick=quick),
        "resolution": lambda: resolution.run(quick=quick),
        # --reliability asks for the full counts; --only reliability --quick for reduced ones.
        "reliability": lambda: {
            **reliability.run(full=args.reliability or not quick),
            **disk_full.run(),  # items reported vs whole lines when the feed's disk fills up
            **redis_restart.run(quick=not (args.reliability or not quick)),
            **resume.run(quick=not (args.reliability or not quick)),  # requests after kill -9
        },
        "resume": lambda: resume.run(quick=quick),  # also part of reliability
    }


def load_previous(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = selected(args)
    results_dir: Path = args.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    latest = results_dir / "latest.json"
    data = load_previous(latest)
    data.update(
        {
            "cores": machine_info()["cores"],
            "machine": machine_info(),
            "cpu_pinning": cpu_plan().describe(),
            "started_at": utc_now(),
            "quick": args.quick,
        }
    )
    runs: dict[str, Any] = data.setdefault("runs", {})
    failed: list[str] = []
    table = runners(args)
    for name in names:
        log(f"--- {name} ---")
        started = time.monotonic()
        run_info: dict[str, Any] = {"started_at": utc_now(), "quick": args.quick}
        try:
            result = table[name]()
        except Exception as exc:
            failed.append(name)
            run_info["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            log(f"{name} failed: {run_info['error']}")
            traceback.print_exc()
        else:
            data.update(result)
            run_info["ok"] = True
        run_info["finished_at"] = utc_now()
        run_info["duration_s"] = round(time.monotonic() - started, 1)
        runs[name] = run_info
        data["finished_at"] = utc_now()
        data["machine"]["load_average_end"] = machine_info()["load_average"]
        latest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        (results_dir / "latest.md").write_text(markdown(data))
    log(f"results: {latest} and {results_dir / 'latest.md'}")
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
