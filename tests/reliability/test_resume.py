"""An interrupted crawl run with ``-s JOBDIR=...`` resumes to exactly the ground truth.

The crawl appends (``-o``) to one feed in both runs. After SIGINT Scrapy shuts down gracefully:
the in-flight requests finish, their items are written, the pending ones are kept in the job
directory, so the resumed run adds exactly the rest. After SIGKILL the job directory cannot be
trusted (a queue file may be cut inside its header): ``cwo_scrapy.jobdir.JobdirGuard`` moves it
aside and the resumed run starts over, while the duplicate guard, seeded from the appended
feed, keeps every vehicle once in the output.
"""

from __future__ import annotations

import signal
from pathlib import Path

from reliability_helpers import FULL, count, line_count, report, start_crawl, wait_for

from bench.common import FITMENT_KEY, Comparison, compare, fitment_truth
from bench.resume import measure

SCOPE = {"year": 2022, "make": "Ford"}  # 236 vehicles


def crawl_args(rep, tmp_path: Path, output: Path) -> dict:
    return {
        "spider_args": SCOPE,
        "settings": {
            "CWO_PROFILE": "fast",
            **rep.settings(),
            "CWO_SESSION_FILE": str(tmp_path / "session.json"),
            "JOBDIR": str(tmp_path / "job"),
            # Slow enough that the interruption lands mid-crawl.
            "CONCURRENT_REQUESTS": 4,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        },
        "output": output,
        "append": True,
    }


def interrupt_and_resume(sig: signal.Signals, rep, tmp_path: Path) -> tuple[Comparison, dict, str]:
    """Run, interrupt with ``sig`` after some items, run again; (comparison, figures, stderr)."""
    rep.control(latency=0.03)
    output = tmp_path / "fitment.jsonl"
    interrupt_at = count("RESUME_INTERRUPT_AT", 60, 60)

    first = start_crawl(tmp_path, "first", "fitment", **crawl_args(rep, tmp_path, output))
    wait_for(lambda: line_count(output) >= interrupt_at, 90, f"{interrupt_at} items")
    first.proc.send_signal(sig)
    first_code = first.wait(60)
    written_before = line_count(output)
    assert written_before < 236, "the crawl finished before it was interrupted"
    assert "Traceback" not in first.stderr

    second = start_crawl(tmp_path, "second", "fitment", **crawl_args(rep, tmp_path, output))
    second_code = second.wait(120)
    assert second_code == 0, second.stderr[-3000:]
    assert "Traceback" not in second.stderr

    comparison = compare(output, fitment_truth(**SCOPE), FITMENT_KEY)
    figures = {
        "first_exit": first_code,
        "items_before_resume": written_before,
        "second_exit": second_code,
        "comparison": comparison.as_dict(),
    }
    report(f"resume_after_{sig.name.lower()}", **figures)
    return comparison, figures, second.stderr


def test_sigint_then_resume_gives_exactly_the_ground_truth(replica_factory, tmp_path: Path) -> None:
    """Ctrl-C a JOBDIR crawl once it wrote some items, run the same command again: the feed
    equals the ground truth, every vehicle exactly once."""
    comparison, figures, _ = interrupt_and_resume(
        signal.SIGINT, replica_factory(waf="off"), tmp_path
    )
    assert comparison.equal, figures


def test_sigkill_then_resume_loses_nothing(replica_factory, tmp_path: Path) -> None:
    """kill -9 a JOBDIR crawl mid-way, run the same command again: every vehicle of the ground
    truth is in the feed with exactly its values, and only whole lines were written."""
    comparison, figures, _ = interrupt_and_resume(
        signal.SIGKILL, replica_factory(waf="off"), tmp_path
    )
    assert comparison.missing == 0, figures
    assert comparison.wrong == 0, figures
    assert comparison.unexpected == 0, figures
    assert comparison.invalid_lines == 0, figures


def test_sigkill_then_resume_writes_each_vehicle_once(replica_factory, tmp_path: Path) -> None:
    """kill -9 a JOBDIR crawl mid-way, run the same command again: no vehicle is in the feed
    twice (items the killed run already wrote are not written again)."""
    comparison, figures, _ = interrupt_and_resume(
        signal.SIGKILL, replica_factory(waf="off"), tmp_path
    )
    assert comparison.duplicates == 0, figures


def test_sigkill_then_resume_fetches_only_the_missing_items(
    replica_factory, tmp_path: Path
) -> None:
    """kill -9 a ``combos=all`` wheel-size crawl of one make half way, run the same command
    again appending to the feed: the resumed run fetches exactly the store pages whose items are
    missing, and the feed ends equal to the ground truth, nothing twice."""
    scope = (
        {"year": 2022, "make": "Tesla", "combos": "all"}
        if FULL
        else {"year": 2022, "make": "Fiat", "combos": "all"}
    )
    rep = replica_factory(waf="off")
    rep.control(latency=0.01)
    figures = measure(rep, tmp_path, scope, CONCURRENT_REQUESTS=4)
    report("resume_requests_after_sigkill", **figures)
    assert figures["full_exit"] == 0, figures
    assert figures["killed_mid_crawl"], figures
    assert 0 < figures["items_before_resume"] < figures["truth_items"], figures
    assert figures["resume_exit"] == 0, figures
    assert figures["resume_store_pages"] == figures["missing_at_resume"], figures
    assert figures["resume_store_pages_not_missing"] == 0, figures
    assert figures["missing_pages_not_fetched"] == 0, figures
    assert figures["resume_requests"] < figures["full_requests"], figures
    assert figures["comparison"]["duplicates"] == 0, figures
    assert figures["comparison"]["missing"] == 0, figures
    assert figures["comparison"]["wrong"] == figures["comparison"]["unexpected"] == 0, figures
