"""The session file survives crashes and concurrent crawlers (real crawls, real replica tokens).

A crawl whose token keeps changing (the replica revokes every token a few times a second, so
the session middleware resolves and writes again and again) is killed with SIGKILL at random
moments; two crawls refreshing tokens in the same file at the same time end on the same token.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

from reliability_helpers import count, genuine_token_reason, report, wait_for

from bench.common import fingerprint
from bench.probe_driver import Probe, probe_settings, store_urls

ACCEPTABLE = {"accepted", "revoked", "expired"}  # a token the replica really issued


class Revoker(threading.Thread):
    """Revokes every replica token at random intervals until stopped."""

    def __init__(self, rep, low: float, high: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.rep, self.low, self.high = rep, low, high
        self.rng = random.Random(seed)
        self.stopped = threading.Event()
        self.revocations = 0

    def run(self) -> None:
        while not self.stopped.wait(self.rng.uniform(self.low, self.high)):
            self.rep.control(revoke_tokens=True)
            self.revocations += 1


def test_kill_9_during_token_writes_leaves_a_valid_file_with_a_real_token(
    replica_factory, tmp_path: Path
) -> None:
    """Crawls killed at random moments while their token changes several times a second: the
    session file always parses, holds a token the replica issued (current or superseded, never
    torn), and its generation never goes back."""
    target_writes = count("STORE_WRITES", 30, 200)
    rep = replica_factory(waf="challenge")
    urls = store_urls(rep, 400)
    session_file = tmp_path / "session.json"
    settings = probe_settings(
        rep, session_file, CONCURRENT_REQUESTS=8, CONCURRENT_REQUESTS_PER_DOMAIN=8
    )
    rng = random.Random(5)
    writes = kills = 0
    generation = 0
    reasons: dict[str, int] = {}
    while writes < target_writes:
        probe = Probe(tmp_path, settings, urls, rounds=1000, name=f"kill{kills}")
        revoker = Revoker(rep, 0.05, 0.3, seed=kills)
        try:
            wait_for(lambda probe=probe: probe.pages() > 0, 60, "the crawl to get going")
            revoker.start()
            time.sleep(rng.uniform(0.2, 2.5))
            probe.kill()
        finally:
            revoker.stopped.set()
            probe.stop()
        revoker.join()
        kills += 1

        data = json.loads(session_file.read_text())  # never torn: always one whole JSON object
        assert isinstance(data, dict)
        assert data["generation"] >= generation, "the file went back to an older generation"
        writes += data["generation"] - generation
        generation = data["generation"]
        token = data.get("aws_waf_token")
        if token:
            reason = genuine_token_reason(rep, token, data["user_agent"], urls[0])
            reasons[reason] = reasons.get(reason, 0) + 1
            assert reason in ACCEPTABLE, f"the stored token is not one the replica issued: {reason}"
        assert not list(tmp_path.glob("session.json.corrupt-*")), "the file was quarantined"

    report(
        "kill_9_during_token_writes",
        store_writes=writes,
        kills=kills,
        token_checks=reasons,
        tokens_issued=rep.stats()["tokens_issued"],
    )


def test_two_crawls_refreshing_tokens_at_once_keep_the_file_valid_and_agree(
    replica_factory, tmp_path: Path
) -> None:
    """Two crawler processes share one session file while the replica revokes tokens: the file
    stays valid JSON and, after the last change, both crawls use the token the file holds."""
    revocations = count("CONCURRENT_REVOCATIONS", 3, 10)
    rep = replica_factory(waf="challenge")
    rep.control(latency=0.02)
    urls = store_urls(rep, 300)
    session_file = tmp_path / "session.json"
    settings = probe_settings(
        rep, session_file, CONCURRENT_REQUESTS=8, CONCURRENT_REQUESTS_PER_DOMAIN=8
    )
    probes = [Probe(tmp_path, settings, urls, rounds=1000, name=f"crawl{i}") for i in (1, 2)]
    try:
        for probe in probes:
            wait_for(lambda probe=probe: probe.pages() > 20, 60, "both crawls to get going")
        for _ in range(revocations):
            issued = rep.stats()["tokens_issued"]
            rep.control(revoke_tokens=True)
            wait_for(lambda i=issued: rep.stats()["tokens_issued"] > i, 60, "a new token")
            json.loads(session_file.read_text())  # valid while both crawl
            # Both crawls make progress on the new token before the next revocation: a token
            # refused before any page counts as a failed resolution (the no-progress give-up).
            marks = [probe.pages() for probe in probes]
            for probe, mark in zip(probes, marks, strict=True):
                wait_for(lambda p=probe, m=mark: p.pages() > m + 5, 60, "pages on the new token")
        # Let both crawls run on the final token for a while, then stop them cleanly.
        marks = [probe.pages() for probe in probes]
        for probe, mark in zip(probes, marks, strict=True):
            wait_for(lambda p=probe, m=mark: p.pages() > m + 50, 60, "pages on the last token")
        for probe in probes:
            probe.request_stop()
        results = [probe.wait(timeout=60) for probe in probes]
    finally:
        for probe in probes:
            probe.stop()

    data = json.loads(session_file.read_text())
    newest = fingerprint(data["aws_waf_token"])
    assert [r["last_token_fingerprint"] for r in results] == [newest, newest]
    assert (
        genuine_token_reason(rep, data["aws_waf_token"], data["user_agent"], urls[0]) == "accepted"
    )
    resolutions = [int(r["stats"].get("cwo_session/resolutions", 0)) for r in results]
    adopted = [int(r["stats"].get("cwo_session/adopted_tokens", 0)) for r in results]
    report(
        "two_crawls_refreshing_tokens",
        revocations=revocations,
        resolutions=resolutions,
        adopted_tokens=adopted,
        tokens_issued=rep.stats()["tokens_issued"],
    )
    # One resolution per token change between the two processes (plus the very first token).
    assert sum(resolutions) <= revocations + 1
