"""A crawl through injected faults still produces exactly the ground truth.

The replica answers 5 % of requests with a 5xx and drops 2 % of connections, enforces a
rate-based 403 block per token, and during the crawl the test revokes every token and expires
every PHP session at random moments. ``scrapy crawl wheel_size`` (store pages are WAF-protected
on every request, so the session middleware is exercised on each one) must still write exactly
the expected items, once each.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from reliability_helpers import count, report, run_crawl

from bench.common import (
    FITMENT_KEY,
    WHEEL_SIZE_KEY,
    compare,
    fitment_truth,
    wheel_size_truth,
)
from bench.probe_driver import RESOLVER_KEY

SLICES = {False: {"year": 2022, "make": "Ford"}, True: {"year": 2022}}


class Chaos(threading.Thread):
    """Revokes tokens or expires PHP sessions at random moments until stopped."""

    def __init__(self, rep, seed: int, low: float = 0.5, high: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.rep, self.low, self.high = rep, low, high
        self.rng = random.Random(seed)
        self.stopped = threading.Event()
        self.events = {"revoke_tokens": 0, "expire_sessions": 0}

    def run(self) -> None:
        while not self.stopped.wait(self.rng.uniform(self.low, self.high)):
            event = self.rng.choice(list(self.events))
            self.rep.control(**{event: True})
            self.events[event] += 1


@pytest.mark.parametrize("spider", ["wheel_size", "fitment"])
def test_fault_injected_crawl_output_equals_ground_truth(
    spider: str, replica_factory, tmp_path: Path
) -> None:
    """5xx, dropped connections, token revocations, session expiries and a rate-based 403
    block during the crawl: the output still equals the ground truth exactly."""
    full = count("FAULT_FULL_SLICE", 0, 1) == 1
    scope = SLICES[full]
    rep = replica_factory(
        waf="challenge",
        seed=0,
        extra_args=["--error-rate", "0.05", "--drop-rate", "0.02", "--rate-limit", "80",
                    "--rate-window", "5"],
    )  # fmt: skip
    output = tmp_path / f"{spider}.jsonl"
    chaos = Chaos(rep, seed=11)
    chaos.start()
    try:
        code, stderr, stats = run_crawl(
            tmp_path,
            spider,
            spider,
            timeout=900 if full else 120,
            spider_args={k: v for k, v in scope.items() if v is not None},
            settings={
                "CWO_PROFILE": "fast",
                **rep.settings(),
                "CWO_SESSION_FILE": str(tmp_path / "session.json"),
                "CWO_CAPTCHA_RESOLVER": "capsolver",
                "CWO_CAPSOLVER_API_KEY": RESOLVER_KEY,
                "CWO_CAPSOLVER_POLL_INTERVAL": 0.1,
                "CONCURRENT_REQUESTS": 16,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
                "RETRY_TIMES": 8,
                # The chaos revokes a token every few seconds, hundreds an hour: far past what
                # the hourly cap guards against on a real site, so it is off here.
                "CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR": 0,
            },
            output=output,
        )
    finally:
        chaos.stopped.set()
        chaos.join()
    replica_stats = rep.stats()
    if spider == "wheel_size":
        truth = wheel_size_truth(rep.site_url, **scope)
        key = WHEEL_SIZE_KEY
    else:
        truth = fitment_truth(**scope)
        key = FITMENT_KEY
    comparison = compare(output, truth, key)
    report(
        f"fault_injected_{spider}",
        slice=scope,
        exit_status=code,
        comparison=comparison.as_dict(),
        chaos=chaos.events,
        injected_errors=replica_stats["injected_errors"],
        dropped=replica_stats["dropped"],
        rate_blocked=replica_stats["rate_blocked"],
        resolutions=stats.get("cwo_session/resolutions", 0),
        retries=stats.get("retry/count", 0),
    )
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert comparison.equal, comparison.as_dict()
    # The faults really happened (a run that dodged them would prove nothing).
    assert replica_stats["injected_errors"] > 0
    assert replica_stats["dropped"] > 0
    assert sum(chaos.events.values()) > 0
    if spider == "wheel_size":
        assert replica_stats["rate_blocked"] > 0
