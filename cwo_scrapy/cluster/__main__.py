"""``python -m cwo_scrapy.cluster status|reset|merge``: watch, clean up and merge a cluster crawl.

- ``status [CRAWL_ID] [--redis URL] [--json]``: queue length, workers (alive, busy, leases),
  their published counters, vehicles with store pages pending, whether the crawl finished;
- ``reset CRAWL_ID [--redis URL]``: delete every key of that crawl (queue, dupefilter, leases,
  seed flag, finished marker, store-page counts) so it can run again; refuses while a live
  worker is registered unless ``--force``. The keys are computed from the id, never matched
  as a pattern: ``reset a`` leaves crawl ``a:b`` alone and ``reset '*'`` deletes only a crawl
  literally named ``*``;
- ``merge FILE... -o OUT``: merge per-worker JSON-lines files (see ``output.py``).

``--redis`` defaults to ``$CWO_REDIS_URL`` or ``redis://127.0.0.1:6379/0``. Errors are one line
on stderr with exit code 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import redis

from cwo_scrapy.cluster.coordinator import DEFAULT_PREFIX, Coordinator
from cwo_scrapy.cluster.output import merge, write_jsonl
from cwo_scrapy.session.mask import mask_url


def _error(message: str) -> int:
    print(f"cwo_scrapy.cluster: error: {message}", file=sys.stderr)
    return 1


def _coordinator(args: argparse.Namespace, crawl_id: str) -> Coordinator:
    client = redis.Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=10)
    client.ping()
    return Coordinator(client, crawl_id, "cli", prefix=args.prefix)


def _crawl_ids(args: argparse.Namespace) -> list[str]:
    """Crawl ids that have a queue, a worker list, a seed flag or a finished marker."""
    client = redis.Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=10)
    ids = set()
    prefix = _glob_escape(args.prefix)
    for suffix in ("requests", "workers", "seed", "meta"):
        for key in client.scan_iter(match=f"{prefix}:*:{suffix}", count=500):
            ids.add(key.decode()[len(args.prefix) + 1 : -len(suffix) - 1])
    return sorted(ids)


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis ``SCAN MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _print_status(snap: dict[str, Any]) -> None:
    meta = snap["meta"]
    state = meta.get("status", "not started")
    pending = snap["vehicles_pending"]
    print(
        f"crawl {snap['crawl_id']!r}: {state}; {snap['queued']} requests queued, "
        f"{snap['seen']} seen; seeding: {snap['seed'].get('state', '-')}"
        + (f"; {pending} vehicle(s) with store pages pending" if pending else "")
    )
    totals: dict[str, float] = {}
    for name, info in sorted(snap["workers"].items()):
        stats = snap["stats"].get(name, {})
        print(
            f"  worker {name}: {'alive' if info['alive'] else 'DEAD'}, "
            f"{'busy' if info['busy'] else 'idle'}, {info['inflight']} leases, "
            f"{stats.get('item_scraped_count', 0)} items"
        )
    for stats in snap["stats"].values():
        for key, value in stats.items():
            if isinstance(value, int | float) and key != "at":
                totals[key] = totals.get(key, 0) + value
    if totals:
        print("  totals: " + ", ".join(f"{k}={v:g}" for k, v in sorted(totals.items())))
    if "finished_at" in meta:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(meta["finished_at"])))
        print(f"  finished at {when} by {meta.get('finished_by')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cwo_scrapy.cluster")
    parser.add_argument(
        "--redis",
        default=os.environ.get("CWO_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis URL (default $CWO_REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help="key prefix (CWO_CLUSTER_KEY_PREFIX)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="queue, workers and progress of a crawl")
    status.add_argument("crawl_id", nargs="?", help="crawl id (default: every crawl)")
    status.add_argument("--json", action="store_true")
    reset = sub.add_parser("reset", help="delete every key of a crawl")
    reset.add_argument("crawl_id")
    reset.add_argument("--force", action="store_true", help="even with live workers")
    merge_cmd = sub.add_parser("merge", help="merge per-worker JSON-lines files")
    merge_cmd.add_argument("files", nargs="+")
    merge_cmd.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)

    if args.command == "merge":
        try:
            items, report = merge(args.files)
        except OSError as exc:
            return _error(f"cannot read {exc.filename}: {exc.strerror}")
        if not report.ok:
            for conflict in report.conflicts[:10]:
                print(f"conflict: {conflict}", file=sys.stderr)
            return _error(f"{len(report.conflicts)} conflicting items; nothing written")
        write_jsonl(items, args.output)
        print(f"{args.output}: {report.summary()}")
        return 0

    where = mask_url(args.redis)
    try:
        if args.command == "status":
            ids = [args.crawl_id] if args.crawl_id else _crawl_ids(args)
            snaps = [_coordinator(args, crawl_id).snapshot() for crawl_id in ids]
            if args.json:
                print(json.dumps(snaps, indent=2))
            elif not snaps:
                print(f"no cluster crawl on {where}")
            for snap in [] if args.json else snaps:
                _print_status(snap)
            return 0
        coord = _coordinator(args, args.crawl_id)
        live = [w for w, info in coord.snapshot()["workers"].items() if info["alive"]]
        if live and not args.force:
            return _error(
                f"crawl {args.crawl_id!r} has live workers ({', '.join(live)}); stop them or "
                "use --force"
            )
        print(f"deleted {coord.reset()} keys of crawl {args.crawl_id!r} on {where}")
        return 0
    except ValueError as exc:  # a malformed URL (port out of range, ...)
        return _error(f"bad Redis URL {where}: {exc}")
    except redis.RedisError as exc:
        return _error(f"cannot use Redis at {where}: {' '.join(str(exc).split())}")


if __name__ == "__main__":
    sys.exit(main())
