"""One session shared by processes, and no token value in any log."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f
from session_crawl import (
    JSON_ACCEPT,
    crawl_settings,
    is_real_page,
    run_crawl,
    seed_session,
    session_stats,
    site_pages,
)

from cwo_scrapy.settings import FAKEUSERAGENT_FALLBACK as UA
from cwo_scrapy.urls import CwoUrls

SCRIPT = Path(__file__).parent / "session_crawl.py"


def secret_fragments(*values: str | None) -> set[str]:
    """Each secret and each colon-separated part of it long enough to identify it."""
    out: set[str] = set()
    for value in values:
        if value:
            out.add(value)
            out.update(part for part in value.split(":") if len(part) >= 12)
    return out


def test_two_processes_sharing_the_session_file_resolve_once(
    replica_factory, tmp_path: Path
) -> None:
    """Two crawls started together on one session file: one resolution between them (the
    other adopts the token through the store), the file stays valid JSON, logs stay clean."""
    replica = replica_factory(waf="challenge")
    replica.control(solver_polls=15)  # a slow solver, so both processes meet the challenge
    session_file = tmp_path / "session.json"
    pages = 12
    procs = []
    for n in range(2):
        settings = crawl_settings(
            replica, session_file, LOG_FILE=str(tmp_path / f"crawl{n}.log"), LOG_LEVEL="DEBUG"
        )
        kwargs = {"urls": site_pages(replica, pages, start_year=2024 - n * 20)}
        procs.append(
            subprocess.Popen(
                [sys.executable, str(SCRIPT), json.dumps(settings), json.dumps(kwargs)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=tmp_path,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))

    assert [r["real_pages"] for r in results] == [pages, pages]
    resolutions = sum(r["stats"].get("cwo_session/resolutions", 0) for r in results)
    assert resolutions == 1
    assert replica.stats()["solver_tasks"] == 1
    data = json.loads(session_file.read_text())  # valid JSON, not a half-written file
    assert data["aws_waf_token"]
    assert data["user_agent"]
    logs = "".join((tmp_path / f"crawl{n}.log").read_text() for n in range(2))
    assert "Session:" in logs  # the logs are the real DEBUG logs
    for secret in secret_fragments(data["aws_waf_token"], data.get("PHPSESSID")):
        assert secret not in logs


@deferred_f_from_coro_f
async def test_debug_log_and_stats_of_a_challenged_crawl_hold_no_token(
    replica_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Challenge, token expiry, 403 block and a new PHP session, all logged at DEBUG: none of
    the token or PHPSESSID values (from the session file and the replica) appear."""
    caplog.set_level(logging.DEBUG)
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    seeded = replica.mint_token(UA)
    seed_session(session_file, UA, seeded)
    replica.control(revoke_tokens=True, rate_limit=4, rate_window=300)
    urls = CwoUrls(replica.site_url, replica.api_url)
    vehicle = {
        "vehicle_type": "car",
        "year": "2020",
        "make": "Honda",
        "model": "Civic",
        "trim": "EX",
        "drive": "FWD",
        "chassis": "99",
    }
    targets = [*site_pages(replica, 6), (urls.ymm_set(**vehicle), JSON_ACCEPT)]
    tokens_seen: list[str] = []

    def remember_token() -> None:
        tokens_seen.append(json.loads(session_file.read_text())["aws_waf_token"])

    crawler, items = await run_crawl(
        crawl_settings(replica, session_file),
        urls=targets,
        hooks={0: remember_token, 5: remember_token},
    )

    assert len(items) == len(targets)
    assert all(item["status"] == 200 for item in items)
    assert all(is_real_page(item) for item in items[:-1])
    stats = session_stats(crawler)
    assert stats["resolutions"] >= 2  # the revoked token, then the rate-blocked one
    data = json.loads(session_file.read_text())
    assert data["PHPSESSID"]
    secrets = secret_fragments(seeded, data["aws_waf_token"], data["PHPSESSID"], *tokens_seen)
    log_text = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "Session:" in log_text
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    stats_text = json.dumps(crawler.stats.get_stats(), default=str)
    for secret in secrets:
        assert secret not in log_text
        assert secret not in stats_text
