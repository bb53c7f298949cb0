"""A JOBDIR left by a killed crawl is not trusted; one left by a clean close is resumed."""

from __future__ import annotations

from pathlib import Path

from cwo_scrapy.jobdir import MARK, JobdirGuard, recover


def _job(tmp_path: Path, *, killed: bool) -> Path:
    job = tmp_path / "job"
    (job / "requests.queue").mkdir(parents=True)
    (job / "requests.queue" / "p0").write_bytes(b"")  # cut inside its 4-byte header
    (job / "requests.seen").write_text("abc\n")
    if killed:
        (job / MARK).write_text("12345\n")
    return job


def test_a_killed_run_s_queue_and_seen_file_are_moved_aside(tmp_path: Path) -> None:
    job = _job(tmp_path, killed=True)
    moved = recover(job, now=0)
    assert sorted(p.name for p in moved) == [
        "requests.queue.unclean-19700101T000000Z",
        "requests.seen.unclean-19700101T000000Z",
    ]
    assert not (job / "requests.queue").exists()
    assert not (job / "requests.seen").exists()


def test_a_cleanly_closed_run_is_resumed_as_it_is(tmp_path: Path) -> None:
    job = _job(tmp_path, killed=False)
    assert recover(job) == []
    assert (job / "requests.queue" / "p0").exists()
    assert (job / "requests.seen").read_text() == "abc\n"


def test_the_mark_lives_exactly_as_long_as_the_crawl(tmp_path: Path) -> None:
    job = tmp_path / "new-job"
    guard = JobdirGuard(job)
    assert (job / MARK).exists()
    guard.spider_closed()
    assert not (job / MARK).exists()
