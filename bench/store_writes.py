"""Benchmark 4, store writes vs token changes over a crawl with forced token changes.

A probe crawl (an ``api/ymm-temp.php`` call that starts a PHP session, then store pages)
starts with an empty session file against the replica in WAF challenge mode, so it obtains a
token at once; the bench then revokes every
token ``forced`` more times while the crawl runs (each time after the previous new token was
issued). ``token_changes`` is counted from the outside, on the site's side: the tokens the
replica issued plus the PHP sessions it started, i.e. every new ``aws-waf-token`` or
``PHPSESSID`` value the crawl was given. (The distinct values the crawl's requests carried are
reported too; they can be fewer, when a value arrives after the last request that could carry
it.) ``store_writes`` is the middleware's ``cwo_session/store_writes`` (cross-checked with the
file's generation counter). Target: writes <= changes + 1 (the +1 is the write that records a
new session's User-Agent).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import cpu_plan, log, replica
from bench.probe_driver import Probe, probe_settings, session_start_url, store_urls, wait_until


def run(*, quick: bool = False, forced: int | None = None) -> dict[str, Any]:
    forced = forced if forced is not None else (3 if quick else 8)
    plan = cpu_plan()
    pages = 150 * (forced + 1)
    with replica(plan, waf="challenge") as rep, tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        session_file = tmp / "session.json"
        urls = [session_start_url(rep), *store_urls(rep, pages)]
        rep.control(latency=0.02)
        rep.reset()
        settings = probe_settings(
            rep, session_file, CONCURRENT_REQUESTS=16, CONCURRENT_REQUESTS_PER_DOMAIN=16
        )
        probe = Probe(tmp, settings, urls, cpu=plan.crawler, name="writes")
        revoked = 0
        try:
            for n in range(forced):
                issued = n + 1
                wait_until(
                    lambda issued=issued: rep.stats()["tokens_issued"] >= issued,
                    timeout=120,
                    what=f"token {issued}",
                )
                threshold = (n + 1) * len(urls) // (forced + 1)
                wait_until(lambda t=threshold: probe.pages() >= t, timeout=120, what="progress")
                rep.control(revoke_tokens=True)
                revoked += 1
            report = probe.wait(timeout=600)
        finally:
            probe.stop()
        stats = report["stats"]
        generation = json.loads(session_file.read_text()).get("generation")
        site = rep.stats()
        tokens_issued = site["tokens_issued"]
        sessions_started = site["php_sessions_created"]
    writes = int(stats.get("cwo_session/store_writes", 0))
    changes = tokens_issued + sessions_started
    log(f"store writes: {writes} writes for {changes} token changes ({revoked} forced)")
    return {
        "store_writes": writes,
        "token_changes": changes,
        "store": {
            "forced_token_changes": revoked,
            "replica_php_sessions_created": sessions_started,
            "aws_waf_token_values_on_requests": len(report["token_fingerprints"]),
            "phpsessid_values_on_requests": len(report["session_fingerprints"]),
            "file_generation": generation,
            "resolutions": int(stats.get("cwo_session/resolutions", 0)),
            "replica_tokens_issued": tokens_issued,
            "pages": len(urls),
            "real_pages": report["real_pages"],
            "cpu": plan.describe(),
            "target": "store_writes <= token_changes + 1",
        },
    }
