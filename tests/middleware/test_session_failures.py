"""A session that cannot be repaired ends the crawl cleanly instead of hammering the site."""

from __future__ import annotations

from pathlib import Path

from scrapy.utils.defer import deferred_f_from_coro_f
from session_crawl import crawl_settings, run_crawl, session_stats, site_pages

from cwo_scrapy.closing import close_message


@deferred_f_from_coro_f
async def test_failing_resolver_closes_the_spider_after_a_bounded_number_of_requests(
    replica_factory, tmp_path: Path
) -> None:
    """Every CapSolver task fails: after CWO_SESSION_MAX_FAILED_RESOLUTIONS in a row the
    spider closes with session_unrecoverable, and only a bounded number of requests hit the
    site (not one per scheduled page)."""
    replica = replica_factory(waf="challenge")
    replica.control(solver_fail=True)
    concurrency, max_failed = 4, 3
    settings = crawl_settings(
        replica,
        tmp_path / "session.json",
        CONCURRENT_REQUESTS=concurrency,
        CONCURRENT_REQUESTS_PER_DOMAIN=concurrency,
        CWO_SESSION_MAX_FAILED_RESOLUTIONS=max_failed,
        CWO_SESSION_MAX_RETRIES=10,  # so the failure limit, not the retry limit, stops it
    )

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 200), chained=False)

    assert items == []
    assert crawler.stats.get_value("finish_reason") == "session_unrecoverable"
    stats = session_stats(crawler)
    assert stats["resolution_failures"] == max_failed
    assert "resolutions" not in stats
    assert stats["gave_up"] >= 1
    assert replica.stats()["solver_tasks"] == max_failed
    # Crawl requests: each failed round lets at most `concurrency` blocked requests retry;
    # plus one interstitial fetch per resolution attempt.
    site_requests = replica.stats()["requests"]
    assert site_requests <= concurrency * (max_failed + 1) + max_failed, site_requests


@deferred_f_from_coro_f
async def test_a_resolver_that_hangs_is_timed_out_and_the_crawl_ends(
    replica_factory, tmp_path: Path
) -> None:
    """A resolver that never answers (import-path resolver) is cut off by its timeout."""
    replica = replica_factory(waf="challenge")
    settings = crawl_settings(
        replica,
        tmp_path / "session.json",
        CWO_CAPTCHA_RESOLVER="session_crawl.HangingResolver",
        CWO_SESSION_MAX_FAILED_RESOLUTIONS=2,
    )

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 5))

    assert items == []
    assert crawler.stats.get_value("finish_reason") == "session_unrecoverable"
    assert session_stats(crawler)["resolution_failures"] == 2


@deferred_f_from_coro_f
async def test_requests_give_up_after_the_per_request_retry_limit(
    replica_factory, tmp_path: Path
) -> None:
    """A page that stays blocked whatever the session does is retried at most
    CWO_SESSION_MAX_RETRIES times, then dropped (never handed to the callback)."""
    replica = replica_factory(waf="off")
    replica.control(rate_limit=1, rate_window=300)  # every token/IP is blocked after 1 request
    settings = crawl_settings(replica, tmp_path / "session.json", CWO_SESSION_MAX_RETRIES=2)

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 3))

    assert [item["index"] for item in items] == [0]
    stats = session_stats(crawler)
    assert stats["gave_up"] == 1
    assert stats["challenges_detected/block"] == 3  # the first try and its two retries
    assert stats["retries"] == 2


@deferred_f_from_coro_f
async def test_tokens_issued_but_always_refused_end_the_crawl_unrecoverable(
    replica_factory, tmp_path: Path
) -> None:
    """The solver keeps issuing tokens the site never accepts (403 on every tokened request):
    each new token blocked before any page counts as a failed resolution, so the crawl ends
    session_unrecoverable after CWO_SESSION_MAX_FAILED_RESOLUTIONS of them instead of paying
    for resolutions forever."""
    replica = replica_factory(waf="challenge")
    replica.control(refuse_tokens=True)
    max_failed = 3
    settings = crawl_settings(
        replica,
        tmp_path / "session.json",
        CWO_SESSION_MAX_FAILED_RESOLUTIONS=max_failed,
        CWO_SESSION_MAX_RETRIES=50,  # so the failure limit, not the retry limit, stops it
    )

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 100), chained=False)

    assert crawler.stats.get_value("finish_reason") == "session_unrecoverable"
    assert not [item for item in items if item["status"] == 200]
    stats = session_stats(crawler)
    assert stats["resolutions"] == max_failed
    assert stats["resolution_failures"] == max_failed
    assert replica.stats()["solver_tasks"] == max_failed
    assert replica.stats()["refused_tokens"] >= max_failed
    assert "consecutive failed resolutions" in close_message(crawler)


@deferred_f_from_coro_f
async def test_resolutions_per_hour_are_capped_with_a_message_naming_the_setting(
    replica_factory, tmp_path: Path
) -> None:
    """With the failure limit out of reach, CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR still bounds
    what a refusing site can cost."""
    replica = replica_factory(waf="challenge")
    replica.control(refuse_tokens=True)
    settings = crawl_settings(
        replica,
        tmp_path / "session.json",
        CWO_SESSION_MAX_FAILED_RESOLUTIONS=100,
        CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR=2,
        CWO_SESSION_MAX_RETRIES=50,
    )

    crawler, _items = await run_crawl(settings, urls=site_pages(replica, 50), chained=False)

    assert crawler.stats.get_value("finish_reason") == "session_unrecoverable"
    assert replica.stats()["solver_tasks"] == 2
    assert session_stats(crawler)["resolution_cap_reached"] == 1
    assert "CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR=2" in close_message(crawler)
