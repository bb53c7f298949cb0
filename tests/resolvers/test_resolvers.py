"""Each resolver brings a real crawl through the replica's WAF."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# session_crawl (the middleware tests' probe spider, also run as a script) lives in
# tests/middleware; these crawl tests import it by the same name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "middleware"))
from scrapy.utils.defer import deferred_f_from_coro_f
from session_crawl import (
    browser_settings,
    crawl_settings,
    is_real_page,
    run_crawl,
    seed_session,
    session_stats,
    site_pages,
)

from cwo_scrapy.resolvers import ResolutionError, ResolveContext
from cwo_scrapy.resolvers.browser import BrowserResolver
from cwo_scrapy.resolvers.capsolver import CapSolverResolver, parse_interstitial
from cwo_scrapy.resolvers.static import StaticResolver
from cwo_scrapy.settings import FAKEUSERAGENT_FALLBACK as UA

FIXTURES = Path(__file__).parents[1] / "waf" / "fixtures"  # WAF answers, shared


@pytest.mark.browser
@deferred_f_from_coro_f
async def test_browser_resolver_passes_the_js_challenge_in_headless_chromium(
    replica_factory, chromium_path: str, tmp_path: Path
) -> None:
    """Chromium runs the challenge script with the session's User-Agent; Scrapy then uses the
    harvested token (the replica binds tokens to the User-Agent)."""
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    settings = browser_settings(replica, session_file, chromium_path, CWO_BROWSER_HEADLESS=True)

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 4))

    assert len(items) == 4
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1
    assert replica.stats()["verifies"] >= 1  # the token came from challenge.js, not a shortcut
    assert json.loads(session_file.read_text())["aws_waf_token"]


@pytest.mark.browser
@deferred_f_from_coro_f
async def test_browser_resolver_completes_the_captcha_begin_button_in_chromium(
    replica_factory, chromium_path: str, tmp_path: Path
) -> None:
    """405 captcha wall: Chromium presses "Begin", the captcha script gets a voucher and the
    token carries a captcha timestamp the replica accepts (a challenge-only token would not)."""
    replica = replica_factory(waf="captcha")
    settings = browser_settings(replica, tmp_path / "session.json", chromium_path)

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 3))

    assert len(items) == 3
    assert all(is_real_page(item) for item in items), items
    stats = session_stats(crawler)
    assert stats["resolutions"] == 1
    assert stats["challenges_detected/captcha"] >= 1
    assert replica.stats()["vouchers"] >= 1  # the token came through the captcha flow


@deferred_f_from_coro_f
async def test_capsolver_resolver_passes_a_challenge_through_the_solver_service(
    replica_factory, tmp_path: Path
) -> None:
    replica = replica_factory(waf="challenge")
    crawler, items = await run_crawl(
        crawl_settings(replica, tmp_path / "s.json"), urls=site_pages(replica, 3)
    )

    assert len(items) == 3
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1
    assert replica.stats()["solver_tasks"] == 1


@deferred_f_from_coro_f
async def test_capsolver_resolver_passes_a_captcha(replica_factory, tmp_path: Path) -> None:
    """405 + x-amzn-waf-action: captcha is resolved like a challenge."""
    replica = replica_factory(waf="captcha")
    crawler, items = await run_crawl(
        crawl_settings(replica, tmp_path / "s.json"), urls=site_pages(replica, 3)
    )

    assert len(items) == 3
    assert all(is_real_page(item) for item in items), items
    stats = session_stats(crawler)
    assert stats["resolutions"] == 1
    assert stats["challenges_detected/captcha"] == 1


@deferred_f_from_coro_f
async def test_static_resolver_uses_the_pasted_token_once(
    replica_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token pasted for the session's User-Agent gets the crawl through; once the site
    rejects it the static resolver fails instead of handing it back in a loop."""
    monkeypatch.delenv("CWO_AWS_WAF_TOKEN", raising=False)
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    seed_session(session_file, UA)  # the session (and its UA) exists, no token yet
    token = replica.mint_token(UA)
    settings = crawl_settings(
        replica, session_file, CWO_CAPTCHA_RESOLVER="static", CWO_AWS_WAF_TOKEN=token
    )

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 3))

    assert len(items) == 3
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1
    assert json.loads(session_file.read_text())["aws_waf_token"] == token

    replica.control(revoke_tokens=True)
    crawler2, items2 = await run_crawl(settings, urls=site_pages(replica, 3))

    assert items2 == []
    assert crawler2.stats.get_value("finish_reason") == "session_unrecoverable"
    assert session_stats(crawler2).get("resolutions", 0) == 0


@deferred_f_from_coro_f
async def test_static_resolver_reads_the_token_from_the_environment(
    replica_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replica = replica_factory(waf="challenge")
    session_file = tmp_path / "session.json"
    seed_session(session_file, UA)
    monkeypatch.setenv("CWO_AWS_WAF_TOKEN", replica.mint_token(UA))
    settings = crawl_settings(
        replica, session_file, CWO_CAPTCHA_RESOLVER="static", CWO_AWS_WAF_TOKEN=""
    )

    crawler, items = await run_crawl(settings, urls=site_pages(replica, 2))

    assert len(items) == 2
    assert all(is_real_page(item) for item in items), items
    assert session_stats(crawler)["resolutions"] == 1


def test_interstitial_parameters_are_extracted_for_the_solver_service() -> None:
    """gokuProps key/iv/context and an absolute challenge.js URL, as CapSolver wants them."""
    page = parse_interstitial((FIXTURES / "challenge_202.html").read_bytes(), "https://x.test/a")
    assert page.key is not None
    assert page.key.startswith("AQIDAH")
    assert page.iv == "CgAGVTNd9JAAAAnB"
    assert page.context is not None
    assert page.challenge_js == (
        "https://41bcdd4fb3cb.610cd090.us-east-1.token.awswaf.com/"
        "41bcdd4fb3cb/0d21de737ccb/cd77baa6c832/challenge.js"
    )
    relative = parse_interstitial(
        b'<script>window.gokuProps = {"key":"k","iv":"i","context":"c"};</script>'
        b'<script src="/t/challenge.compact.js"></script>',
        "http://127.0.0.1:8000/page",
    )
    assert (relative.key, relative.iv, relative.context) == ("k", "i", "c")
    assert relative.challenge_js == "http://127.0.0.1:8000/t/challenge.compact.js"
    assert parse_interstitial(b"<html>nothing</html>", "http://x/").key is None


def _ctx(page_url: str, timeout: float = 5.0, stale: str | None = None) -> ResolveContext:
    return ResolveContext(page_url=page_url, user_agent=UA, stale_token=stale, timeout=timeout)


@deferred_f_from_coro_f
async def test_capsolver_errors_are_one_line_and_never_echo_the_key(replica_factory) -> None:
    """A missing key, a failing task and a task that never finishes each end in a
    ResolutionError within the timeout; the API key never appears in the message."""
    replica = replica_factory(waf="challenge")
    page = replica.site_url + "/"
    key = "secret-client-key-123456"

    with pytest.raises(ResolutionError, match="no API key"):
        await CapSolverResolver("", replica.solver_url).resolve(_ctx(page))

    replica.control(solver_fail=True)
    resolver = CapSolverResolver(key, replica.solver_url, poll_interval=0.05)
    try:
        with pytest.raises(ResolutionError) as failed:
            await resolver.resolve(_ctx(page))
        replica.control(solver_fail=False, solver_hang=True)
        with pytest.raises(ResolutionError, match="not ready within") as hung:
            await resolver.resolve(_ctx(page, timeout=1.0))
    finally:
        await resolver.close()
    for exc in (failed.value, hung.value):
        assert "\n" not in str(exc)
        assert key not in str(exc)


@deferred_f_from_coro_f
async def test_browser_resolver_reports_a_missing_chromium_clearly() -> None:
    resolver = BrowserResolver("/nonexistent/chromium", timeout=20.0)
    try:
        with pytest.raises(ResolutionError, match="cannot start Chromium") as failed:
            await resolver.resolve(_ctx("http://127.0.0.1:9/"))
    finally:
        await resolver.close()
    assert "\n" not in str(failed.value)


@deferred_f_from_coro_f
async def test_static_resolver_without_a_token_says_how_to_set_one() -> None:
    with pytest.raises(ResolutionError, match="CWO_AWS_WAF_TOKEN"):
        await StaticResolver("").resolve(_ctx("http://127.0.0.1:9/"))
    token = "aws-waf-token=abc:def"
    resolution = await StaticResolver(token).resolve(_ctx("http://127.0.0.1:9/"))
    assert resolution.aws_waf_token == "abc:def"  # pasted with its cookie name
    assert resolution.user_agent == UA
    assert "abc:def" not in repr(resolution)
