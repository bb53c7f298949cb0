"""Benchmark 3, stampede: 64 requests in flight when the token dies; count the resolutions.

The replica (WAF challenge mode, 1 s latency before its WAF check) serves a probe crawl of
protected store pages at ``CONCURRENT_REQUESTS=64`` that starts with a valid stored token. As
soon as the first 64 requests are inside the replica, the bench revokes every token: all 64 are
then answered with a challenge. ``stampede_resolutions`` is the middleware's
``cwo_session/resolutions``; the replica's ``tokens_issued`` counts the tokens actually minted.
Target: exactly 1, and every page still arrives as a real page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import cpu_plan, log, replica
from bench.probe_driver import (
    Probe,
    in_flight,
    probe_settings,
    seed_session,
    store_urls,
    wait_until,
)

CONCURRENCY = 64


def run(*, quick: bool = False, latency: float = 1.0, rounds: int | None = None) -> dict[str, Any]:
    plan = cpu_plan()
    pages = CONCURRENCY * (rounds or (2 if quick else 4))
    with replica(plan, waf="challenge") as rep, tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        session_file = tmp / "session.json"
        seed_session(rep, session_file)
        urls = store_urls(rep, pages)
        rep.control(latency=latency)
        rep.reset()
        settings = probe_settings(
            rep,
            session_file,
            CONCURRENT_REQUESTS=CONCURRENCY,
            CONCURRENT_REQUESTS_PER_DOMAIN=CONCURRENCY,
            DOWNLOAD_TIMEOUT=60,
        )
        probe = Probe(tmp, settings, urls, cpu=plan.crawler, name="stampede")
        try:
            wait_until(
                lambda: rep.stats()["requests"] >= CONCURRENCY,
                timeout=120,
                what="64 requests inside the replica",
            )
            before = rep.stats()
            rep.control(revoke_tokens=True)
            flying = in_flight(before)
            log(f"stampede: revoked every token with {flying} requests in flight")
            report = probe.wait(timeout=600)
        finally:
            probe.stop()
        after = rep.stats()
    stats = report["stats"]
    resolutions = int(stats.get("cwo_session/resolutions", 0))
    log(f"stampede: {resolutions} resolution(s), replica issued {after['tokens_issued']} token(s)")
    return {
        "stampede_resolutions": resolutions,
        "stampede": {
            "concurrency": CONCURRENCY,
            "in_flight_at_revocation": flying,
            "replica_latency_s": latency,
            "pages": len(urls),
            "real_pages": report["real_pages"],
            "blocked_responses": int(stats.get("cwo_session/challenges_detected", 0)),
            "session_retries": int(stats.get("cwo_session/retries", 0)),
            "tokens_issued": after["tokens_issued"],
            "replica_challenges": after["challenges"],
            "resolution_failures": int(stats.get("cwo_session/resolution_failures", 0)),
            "cpu": plan.describe(),
            "target": "exactly 1 resolution; every page real",
        },
    }
