"""The pasted-token flow: a pinned User-Agent is the session's, and the README's steps work."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f
from session_crawl import crawl_settings, run_crawl, seed_session, site_pages

from cwo_scrapy.identity import client_hints, desktop_chrome_ua, host_os, local_chrome_major
from cwo_scrapy.replica import truth
from cwo_scrapy.resolvers import ResolveContext
from cwo_scrapy.resolvers.browser import BrowserResolver

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OLD_UA = desktop_chrome_ua("linux", 150)
PINNED = desktop_chrome_ua("windows", 156)


@deferred_f_from_coro_f
async def test_a_pinned_ua_differing_from_the_stored_session_starts_a_fresh_one(
    replica, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session_file = tmp_path / "session.json"
    seed_session(session_file, OLD_UA, token="stale-token-of-the-old-ua")
    settings = crawl_settings(replica, session_file, CWO_USER_AGENT=PINNED)

    with caplog.at_level(logging.INFO, logger="cwo_scrapy.middleware"):
        _, items = await run_crawl(settings, urls=site_pages(replica, 2))

    assert len(items) == 2
    stored = json.loads(session_file.read_text())
    assert stored["user_agent"] == PINNED
    assert "aws_waf_token" not in stored  # bound to the old UA: dropped with it
    assert stored["identity_headers"]["sec-ch-ua-platform"] == '"Windows"'
    lines = [r for r in caplog.records if "pinned User-Agent differs" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO


@pytest.mark.browser
@deferred_f_from_coro_f
async def test_a_token_earned_in_a_browser_crawls_everything_with_the_static_resolver(
    replica_factory, chromium_path: str, tmp_path: Path
) -> None:
    """README: solve the challenge in your browser, copy the token and the browser's UA, then
    ``scrapy crawl ... -s CWO_CAPTCHA_RESOLVER=static -s CWO_AWS_WAF_TOKEN=...
    -s USER_AGENT=...``."""
    replica = replica_factory(waf="challenge")
    # The user's browser runs another OS than ours, so only pinning gives the crawl its UA.
    other_os = "macos" if host_os() != "macos" else "windows"
    user_agent = desktop_chrome_ua(other_os, local_chrome_major(chromium_path) or 156)
    browser = BrowserResolver(chromium_path, headless=True, timeout=60.0)
    try:
        earned = await browser.resolve(
            ResolveContext(
                page_url=replica.site_url + "/",
                user_agent=user_agent,
                stale_token=None,
                timeout=60.0,
            )
        )
    finally:
        await browser.close()
    assert client_hints(user_agent)  # the browser sent hints the crawl must repeat

    first = next(truth.fitment_items(year=2022))
    expected = [
        dataclasses.asdict(i)
        for i in truth.fitment_items(year=2022, make=first.make, model=first.model)
    ]
    out = tmp_path / "fitment.jsonl"
    settings = {
        **replica.settings(),
        "CWO_PROFILE": "fast",
        "CWO_CAPTCHA_RESOLVER": "static",
        "CWO_AWS_WAF_TOKEN": earned.aws_waf_token,
        "USER_AGENT": user_agent,
        "CWO_SESSION_FILE": str(tmp_path / "session.json"),
    }
    flags = [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]
    scope = ["-a", "year=2022", "-a", f"make={first.make}", "-a", f"model={first.model}"]
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "scrapy.cmdline",
            "crawl",
            "fitment",
            *scope,
            "-O",
            str(out),
            *flags,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    got = [json.loads(line) for line in out.read_text().splitlines() if line]
    key = lambda d: json.dumps(d, sort_keys=True)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, expected))
    assert expected
    stats = replica.stats()
    assert stats["tokens_issued"] == 1  # only the browser's: the crawl used the pasted token
    assert stats["fingerprint_refused"] == {}
