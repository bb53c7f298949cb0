"""Bad input never ends in a traceback or lost data: real ``scrapy crawl`` runs.

Each case gives one clear line (a warning when the crawl can go on, an error and a non-zero
exit when it cannot), and whatever was scraped before the problem stays in the feed.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from reliability_helpers import line_count, report, run_crawl, start_crawl, wait_for

from bench.common import (
    FITMENT_KEY,
    WHEEL_SIZE_KEY,
    compare,
    fitment_truth,
    read_jsonl,
    wheel_size_truth,
)
from bench.probe_driver import RESOLVER_KEY

TINY = {"year": 2022, "make": "Bugatti"}  # 3 vehicles


def settings_for(rep, tmp_path: Path, **extra) -> dict:
    return {
        "CWO_PROFILE": "fast",
        **rep.settings(),
        "CWO_SESSION_FILE": str(tmp_path / "session.json"),
        **extra,
    }


def error_line(stderr: str) -> str:
    """The crawl command's one-line error (the last line of stderr)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    return lines[-1]


def assert_clean_failure(code: int, stderr: str, *words: str) -> str:
    assert code != 0, "an error must give a non-zero exit status"
    assert "Traceback" not in stderr, stderr[-3000:]
    line = error_line(stderr)
    assert line.startswith("scrapy crawl: error:"), line
    for word in words:
        assert word.lower() in line.lower(), line
    return line


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"aws_waf_token": "abc'])
def test_corrupt_or_empty_session_file_is_set_aside_and_the_crawl_completes(
    content: bytes, replica, tmp_path: Path
) -> None:
    """A corrupt, empty or truncated session file: one warning, the file moved aside, a fresh
    session, and the crawl's output is complete."""
    (tmp_path / "session.json").write_bytes(content)
    output = tmp_path / "out.jsonl"
    code, stderr, _ = run_crawl(
        tmp_path,
        "crawl",
        "fitment",
        spider_args=TINY,
        settings=settings_for(replica, tmp_path),
        output=output,
    )
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    warnings = [line for line in stderr.splitlines() if "WARNING" in line and "session" in line]
    assert any("corrupt" in line.lower() for line in warnings), warnings
    assert list(tmp_path.glob("session.json.corrupt-*")), "the bad file was not kept aside"
    assert compare(output, fitment_truth(**TINY), FITMENT_KEY).equal


def unreadable_cases() -> list:
    cases = [pytest.param("directory", id="path-is-a-directory")]
    if os.geteuid() != 0:  # root reads any file whatever its mode
        cases.append(pytest.param("mode-000", id="no-read-permission"))
    return cases


@pytest.mark.parametrize("kind", unreadable_cases())
def test_unreadable_session_file_is_a_clear_error(kind: str, replica, tmp_path: Path) -> None:
    """A session file that cannot be read stops the crawl with one line and exit status 1,
    and the file is left alone (it may be a user's only copy)."""
    path = tmp_path / "session.json"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text('{"aws_waf_token": null}')
        path.chmod(0)
    code, stderr, _ = run_crawl(
        tmp_path,
        "crawl",
        "fitment",
        spider_args=TINY,
        settings=settings_for(replica, tmp_path),
        output=tmp_path / "out.jsonl",
    )
    line = assert_clean_failure(code, stderr)
    report(f"unreadable_session_file_{kind}", exit_status=code, message=line)
    assert path.exists()
    assert not list(tmp_path.glob("session.json.corrupt-*"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CWO_SESSION_MAX_RETRIES", "abc"),
        ("CWO_SESSION_MAX_AGE", "one day"),
        ("CWO_RESOLVER_TIMEOUT", "fast"),
        ("CWO_PROGRESS_INTERVAL", "often"),
    ],
)
def test_wrong_type_setting_is_a_one_line_error(
    name: str, value: str, replica, tmp_path: Path
) -> None:
    """``-s NAME=garbage`` for a number setting: one line naming the setting, exit non-zero,
    no traceback."""
    code, stderr, _ = run_crawl(
        tmp_path,
        "crawl",
        "fitment",
        spider_args=TINY,
        settings=settings_for(replica, tmp_path, **{name: value}),
        output=tmp_path / "out.jsonl",
    )
    line = assert_clean_failure(code, stderr, name)
    report(f"wrong_type_{name}", exit_status=code, message=line)


def test_unreachable_site_is_a_one_line_error(tmp_path: Path) -> None:
    """Nothing listens on the target port: the crawl ends at once with one line naming the
    host and exit status 1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    base = f"http://127.0.0.1:{port}"
    code, stderr, _ = run_crawl(
        tmp_path,
        "crawl",
        "fitment",
        spider_args=TINY,
        settings={
            "CWO_PROFILE": "fast",
            "CWO_SITE_URL": base,
            "CWO_API_URL": f"{base}/fitment/vehicle/co",
            "CWO_SESSION_FILE": str(tmp_path / "session.json"),
            "RETRY_TIMES": 1,
        },
        output=tmp_path / "out.jsonl",
    )
    line = assert_clean_failure(code, stderr, f"127.0.0.1:{port}")
    report("unreachable_site", exit_status=code, message=line)


def test_resolver_failing_every_time_closes_the_crawl_and_keeps_what_was_scraped(
    replica_factory, tmp_path: Path
) -> None:
    """The WAF starts challenging mid-crawl and every resolution fails: the spider closes with
    ``session_unrecoverable`` after a bounded number of requests, exit status 1, one line, and
    every item written before is in the feed, whole and correct."""
    rep = replica_factory(waf="off")
    rep.control(latency=0.02)
    scope = {"year": 2022, "make": "Ford"}
    output = tmp_path / "out.jsonl"
    stats_file = tmp_path / "stats.json"
    concurrency = 8
    crawl = start_crawl(
        tmp_path,
        "crawl",
        "wheel_size",
        spider_args=scope,
        settings=settings_for(
            rep,
            tmp_path,
            CWO_CAPTCHA_RESOLVER="capsolver",
            CWO_CAPSOLVER_API_KEY=RESOLVER_KEY,
            CWO_CAPSOLVER_POLL_INTERVAL=0.1,
            CONCURRENT_REQUESTS=concurrency,
            CONCURRENT_REQUESTS_PER_DOMAIN=concurrency,
        ),
        output=output,
        stats_file=stats_file,
    )
    wait_for(lambda: line_count(output) >= 20, 60, "20 items")
    rep.control(waf="challenge", solver_fail=True)
    rep.reset()
    code = crawl.wait(120)
    stderr = crawl.stderr
    line = assert_clean_failure(code, stderr, "session_unrecoverable")

    stats = json.loads(stats_file.read_text())
    items, invalid = read_jsonl(output)
    comparison = compare(
        output, wheel_size_truth(rep.site_url, **scope), WHEEL_SIZE_KEY, subset=True
    )
    after = rep.stats()
    protected = after["requests"] - sum(
        n for path, n in after["by_path"].items() if path.startswith("/fitment/")
    )
    report(
        "resolver_failing_every_time",
        exit_status=code,
        message=line,
        items_kept=len(items),
        protected_requests_after_failure=protected,
        solver_tasks=after["solver_tasks"],
        resolution_failures=stats.get("cwo_session/resolution_failures"),
    )
    assert invalid == 0
    assert len(items) == stats["item_scraped_count"] >= 20
    assert comparison.wrong == comparison.unexpected == comparison.duplicates == 0
    # Bounded: the blocked requests, their session retries and the resolver's own fetches,
    # not one request per remaining vehicle.
    max_retries = 3
    assert protected <= concurrency * (max_retries + 1) + 3 * 2, protected
