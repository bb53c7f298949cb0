"""Real crawls against the replica: the session survives challenges, 401s and 403s."""

from __future__ import annotations

import json
import time
import urllib.request
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

VEHICLE = {
    "vehicle_type": "truck",
    "year": "2019",
    "make": "Ford",
    "model": "F-150",
    "trim": "XLT",
    "drive": "4WD",
    "chassis": "1234",
}


@deferred_f_from_coro_f
async def test_challenge_mid_crawl_is_resolved_once_and_the_next_run_reuses_the_token(
    replica_factory, tmp_path: Path
) -> None:
    """The WAF starts challenging after 4 pages: one resolution, every page still scraped;
    a second run with the same session file passes the WAF without resolving anything."""
    replica = replica_factory(waf="off")
    session_file = tmp_path / "session.json"
    pages = site_pages(replica, 10)
    settings = crawl_settings(replica, session_file)

    crawler, items = await run_crawl(
        settings, urls=pages, hooks={3: lambda: replica.control(waf="challenge")}
    )

    assert sorted(item["index"] for item in items) == list(range(10))
    assert all(is_real_page(item) for item in items), items
    stats = session_stats(crawler)
    assert stats["resolutions"] == 1
    assert stats["challenges_detected"] == 1
    assert stats["retries"] == 1
    assert "resolution_failures" not in stats
    # The blocked page, plus the interstitials the resolver and the solver service fetched.
    assert replica.stats()["challenges"] >= 1
    stored = json.loads(session_file.read_text())
    assert stored["aws_waf_token"]

    replica.reset()
    crawler2, items2 = await run_crawl(settings, urls=pages)

    assert len(items2) == 10
    assert all(is_real_page(item) for item in items2), items2
    assert session_stats(crawler2).get("resolutions", 0) == 0
    assert session_stats(crawler2).get("challenges_detected", 0) == 0
    assert replica.stats()["challenges"] == 0
    assert json.loads(session_file.read_text())["aws_waf_token"] == stored["aws_waf_token"]


@deferred_f_from_coro_f
async def test_expired_token_mid_crawl_is_renewed_once(replica_factory, tmp_path: Path) -> None:
    """A stored token that expires during the crawl (immunity time) is replaced once."""
    replica = replica_factory(waf="challenge", token_ttl=3)
    session_file = tmp_path / "session.json"
    seed_session(session_file, UA, replica.mint_token(UA))
    settings = crawl_settings(replica, session_file)

    crawler, items = await run_crawl(
        settings,
        urls=site_pages(replica, 6),
        hooks={2: lambda: time.sleep(3.2)},  # the stored token's immunity time runs out
    )

    assert len(items) == 6
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1


@pytest.mark.parametrize("init", ["home", "ymm_set"])
@deferred_f_from_coro_f
async def test_401_resets_the_jar_gets_a_new_phpsessid_and_retries(
    replica_factory, tmp_path: Path, init: str
) -> None:
    """The site forgets every PHP session mid-crawl: the middleware starts a new one (session
    init on the home page by default, or CWO_SESSION_INIT_URL) and the request that got the
    401 succeeds on retry."""
    replica = replica_factory(waf="off")
    session_file = tmp_path / "session.json"
    urls = CwoUrls(replica.site_url, replica.api_url)
    options = [
        (urls.ymm_options("truck", kind), JSON_ACCEPT)
        for kind in ("suspension", "trimming", "rubbing", "suspension", "trimming")
    ]
    targets = [urls.ymm_set(**VEHICLE), *options]
    seen: dict[str, str] = {}
    overrides = {"CWO_SESSION_INIT_URL": urls.ymm_set(**VEHICLE)} if init == "ymm_set" else {}

    def expire() -> None:
        seen["before"] = json.loads(session_file.read_text())["PHPSESSID"]
        replica.control(expire_sessions=True)

    crawler, items = await run_crawl(
        crawl_settings(replica, session_file, **overrides), urls=targets, hooks={2: expire}
    )

    assert [item["status"] for item in items] == [200] * len(targets)
    stats = session_stats(crawler)
    assert stats["session_expired"] == 1
    assert stats["session_inits"] == 1
    assert stats["jar_resets"] == 1
    assert stats["retries"] == 1
    assert "resolutions" not in stats
    assert replica.stats()["status_401"] == 1
    after = json.loads(session_file.read_text())["PHPSESSID"]
    assert after
    assert after != seen["before"]


@deferred_f_from_coro_f
async def test_403_rate_block_resets_the_jar_resolves_and_retries(
    replica_factory, tmp_path: Path
) -> None:
    """A rate-based rule blocks the token after 5 requests: jar reset, new token, retry."""
    replica = replica_factory(waf="challenge")
    replica.control(rate_limit=5, rate_window=300)
    session_file = tmp_path / "session.json"
    seed_session(session_file, UA, replica.mint_token(UA))

    crawler, items = await run_crawl(
        crawl_settings(replica, session_file), urls=site_pages(replica, 8)
    )

    assert len(items) == 8
    assert all(is_real_page(item) for item in items), items
    stats = session_stats(crawler)
    assert stats["challenges_detected/block"] == 1
    assert stats["jar_resets"] == 1
    assert stats["resolutions"] == 1
    assert stats["retries"] == 1
    assert replica.stats()["status_403"] == 1


@deferred_f_from_coro_f
async def test_64_concurrent_blocked_requests_share_one_resolution(
    replica_factory, tmp_path: Path
) -> None:
    """64 requests in flight when the token is revoked: exactly 1 resolution, 64 pages."""
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    seed_session(session_file, UA, replica.mint_token(UA))
    # Latency keeps all 64 in flight together, so they are all blocked at once.
    replica.control(revoke_tokens=True, latency=0.3)
    settings = crawl_settings(
        replica, session_file, CONCURRENT_REQUESTS=64, CONCURRENT_REQUESTS_PER_DOMAIN=64
    )

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 64), chained=False)

    assert len(items) == 64
    assert all(is_real_page(item) for item in items), items
    stats = session_stats(crawler)
    assert stats["resolutions"] == 1
    assert replica.stats()["solver_tasks"] == 1
    # Most were blocked together (the rest were held back while the resolution ran) and every
    # blocked one was retried once.
    assert stats["challenges_detected"] >= 32
    assert stats["retries"] == stats["challenges_detected"]


@deferred_f_from_coro_f
async def test_json_api_request_challenged_with_an_empty_202_is_resolved_on_the_home_page(
    replica_factory, tmp_path: Path
) -> None:
    """API calls get an empty 202 without gokuProps; the resolver solves on an HTML page."""
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    urls = CwoUrls(replica.site_url, replica.api_url)

    crawler, items = await run_crawl(
        crawl_settings(replica, session_file), urls=[(urls.ymm_set(**VEHICLE), JSON_ACCEPT)]
    )

    assert [item["status"] for item in items] == [200]
    assert session_stats(crawler)["resolutions"] == 1
    by_path = replica.stats()["by_path"]
    assert any(path == "/" for path in by_path), by_path  # the interstitial came from home


@deferred_f_from_coro_f
async def test_session_middleware_can_be_disabled(replica_factory, tmp_path: Path) -> None:
    """CWO_SESSION_ENABLED=False: no session handling at all (the interstitial gets through)."""
    replica = replica_factory(waf="challenge")
    settings = crawl_settings(replica, tmp_path / "session.json", CWO_SESSION_ENABLED=False)

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 1))

    assert [item["verdict"] for item in items] == ["challenge"]
    assert session_stats(crawler) == {}
    assert not (tmp_path / "session.json").exists()


def test_replica_answers_are_classified_like_the_fixtures(replica_factory) -> None:
    """The detector agrees with a live WAF: 202 HTML, 202 empty, 405 captcha."""
    from cwo_scrapy.waf_detect import Verdict, classify

    replica = replica_factory(waf="challenge")

    def fetch(accept: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(replica.site_url + "/", headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    status, headers, body = fetch("text/html")
    assert (status, classify(status, headers, body)) == (202, Verdict.CHALLENGE)
    assert b"gokuProps" in body
    status, headers, body = fetch("application/json")
    assert (status, body, classify(status, headers, body)) == (202, b"", Verdict.CHALLENGE)
    replica.control(waf="captcha")
    status, headers, body = fetch("text/html")
    assert (status, classify(status, headers, body)) == (405, Verdict.CAPTCHA)


@deferred_f_from_coro_f
async def test_a_session_older_than_max_age_starts_fresh(replica_factory, tmp_path: Path) -> None:
    """A two-day-old session is not reused even if its token still works: new session (new
    created_at), old token dropped, one resolution."""
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    old_token = replica.mint_token(UA)
    seed_session(session_file, UA, old_token, age=2 * 24 * 3600)
    settings = crawl_settings(replica, session_file, CWO_SESSION_MAX_AGE=24 * 3600)

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 2))

    assert len(items) == 2
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1
    data = json.loads(session_file.read_text())
    assert data["aws_waf_token"] != old_token
    assert time.time() - data["created_at"] < 600


@deferred_f_from_coro_f
async def test_an_unusable_session_file_stops_the_crawl_with_a_clear_reason(
    replica, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A session path that cannot be read ends the crawl before any request, one-line error."""
    settings = crawl_settings(replica, tmp_path)  # a directory, not a file

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 2))

    assert items == []
    assert crawler.stats.get_value("finish_reason") == "session_store_error"
    errors = [r.getMessage() for r in caplog.records if r.name == "cwo_scrapy.middleware"]
    assert any("Session store unusable" in m and str(tmp_path) in m for m in errors), errors
    assert crawler.stats.get_value("downloader/request_count", 0) == 0


@deferred_f_from_coro_f
async def test_a_running_crawl_picks_up_a_cleaned_session_store(
    replica_factory, tmp_path: Path
) -> None:
    """`scrapy cleansession --clean` from another shell empties the store mid-crawl: the crawl
    notices (CWO_SESSION_SYNC_INTERVAL), drops its cookies and establishes a new session."""
    from cwo_scrapy.session import open_store

    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    seed_session(session_file, UA, replica.mint_token(UA))
    settings = crawl_settings(replica, session_file, CWO_SESSION_SYNC_INTERVAL=0.05)

    def clean() -> None:
        open_store("json", str(session_file)).clear()
        time.sleep(0.1)  # past the sync interval

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 5), hooks={1: clean})

    assert len(items) == 5
    assert all(is_real_page(item) for item in items), items
    stats = session_stats(crawler)
    assert stats["jar_resets"] == 1
    assert stats["resolutions"] == 1  # the seeded token would still have worked
    data = json.loads(session_file.read_text())
    assert data["aws_waf_token"]
    assert data["user_agent"]
