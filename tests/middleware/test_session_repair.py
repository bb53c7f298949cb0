"""The repair piece on its own: single flight, adoption, bounded failures, cancellation at close.

Driven with an in-memory store and a scripted resolver, no crawl: what the middleware relies on
when many blocked requests arrive together, another process renewed the token first, the solver
keeps failing (or keeps issuing tokens the site refuses), or the crawl closes mid-repair.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.http.cookies import CookieJar
from scrapy.utils.defer import deferred_f_from_coro_f

from cwo_scrapy.identity_middleware import CurrentIdentity
from cwo_scrapy.resolvers import Resolution, ResolutionError, ResolveContext
from cwo_scrapy.session import SessionState
from cwo_scrapy.session_jar import JarSync
from cwo_scrapy.session_repair import SessionRepair
from cwo_scrapy.waf_detect import Verdict

SITE = "https://www.customwheeloffset.com"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/141.0.0.0 Safari/537.36"


class MemoryStore:
    """A session store in memory, with a real lock so single flight across 'processes' holds."""

    location = "memory"

    def __init__(self) -> None:
        self.state = SessionState(user_agent=UA, created_at=1e12)
        self.writes = 0
        self.lock = threading.Lock()
        self.lock_entries = 0

    def load(self) -> SessionState:
        return self.state

    def update(self, expect_generation: int | None = None, **changes: Any) -> SessionState:
        if expect_generation is not None and expect_generation != self.state.generation:
            return self.state
        self.state = replace(self.state, generation=self.state.generation + 1, **changes)
        self.writes += 1
        return self.state

    def clear(self) -> None:
        self.state = SessionState()

    @contextlib.contextmanager
    def resolution_lock(self, timeout: float) -> Iterator[None]:
        if not self.lock.acquire(timeout=timeout):
            raise TimeoutError("lock")
        self.lock_entries += 1
        try:
            yield
        finally:
            self.lock.release()


class DirectEgress:
    """No proxy: every stored session is ours (the egress checks are the egress tests' job)."""

    key = "direct"
    proxy = None

    def foreign(self, state: SessionState) -> bool:
        return False

    def owns(self, state: SessionState) -> bool:
        return True

    def scrub(self, text: str) -> str:
        return text


class ScriptedResolver:
    """Answers with a new token each time, after ``delay``; or fails, or hangs."""

    def __init__(self, *, delay: float = 0.01, fail: bool = False, hang: bool = False) -> None:
        self.timeout = 5.0
        self.delay, self.fail, self.hang = delay, fail, hang
        self.calls = 0
        self.closed = False
        self.started = asyncio.Event()

    async def resolve(self, ctx: ResolveContext) -> Resolution:
        self.calls += 1
        self.started.set()
        if self.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ResolutionError("the solver said no")
        return Resolution(aws_waf_token=f"token-{self.calls}-" + "x" * 20, user_agent=UA)

    async def close(self) -> None:
        self.closed = True


def build(
    resolver: ScriptedResolver, *, max_failed: int = 3, max_per_hour: int = 0, **kw: Any
) -> tuple[SessionRepair, MemoryStore, Counter[str], list[str]]:
    store, stats, closes = MemoryStore(), Counter[str](), []

    def inc(key: str, count: int) -> None:
        stats[key] += count

    sync = JarSync(
        store,  # type: ignore[arg-type]
        site_url=SITE,
        max_age=0,
        sync_interval=0,
        new_identity=lambda: (UA, None),
        pinned_user_agent=lambda: None,
        inc=inc,
        egress=DirectEgress(),  # type: ignore[arg-type]
        identity=CurrentIdentity(),
    )
    sync.open(CookieJar())

    async def download(request: Request) -> Response:
        raise AssertionError("no download expected")

    repair = SessionRepair(
        sync,
        resolver,  # type: ignore[arg-type]
        resolver_name="scripted",
        download=kw.pop("download", download),
        close=closes.append,
        inc=inc,
        home_url=f"{SITE}/",
        init_url=f"{SITE}/",
        cookiejar="cwo",
        max_failed=max_failed,
        max_per_hour=max_per_hour,
        **kw,
    )
    return repair, store, stats, closes


def page(n: int = 0) -> Request:
    return Request(f"{SITE}/store/wheels?page={n}")


@deferred_f_from_coro_f
async def test_n_concurrent_blocked_requests_cause_one_resolution() -> None:
    repair, store, stats, _ = build(ScriptedResolver(delay=0.05))

    async def main() -> None:
        epoch = repair.sync.epoch
        await asyncio.gather(*(repair.repair(page(i), Verdict.CHALLENGE, epoch) for i in range(20)))

    await main()
    assert repair.resolver.calls == 1  # type: ignore[attr-defined]
    assert stats["resolutions"] == 1
    assert repair.sync.epoch == 1
    assert store.state.aws_waf_token == repair.sync.jar_token == "token-1-" + "x" * 20
    assert store.lock_entries == 1
    assert not repair.flights


@deferred_f_from_coro_f
async def test_a_request_blocked_with_an_older_session_is_not_repaired_again() -> None:
    repair, _, stats, _ = build(ScriptedResolver())

    async def main() -> None:
        await repair.repair(page(), Verdict.CHALLENGE, repair.sync.epoch)
        await repair.repair(page(1), Verdict.CHALLENGE, 0)  # sent before that repair

    await main()
    assert stats["resolutions"] == 1


@deferred_f_from_coro_f
async def test_a_token_another_process_stored_is_adopted_without_resolving() -> None:
    resolver = ScriptedResolver()
    repair, store, stats, _ = build(resolver)
    store.update(aws_waf_token="other-process-token-abcdef")  # while our token was refused

    await repair.repair(page(), Verdict.CHALLENGE, repair.sync.epoch)

    assert resolver.calls == 0
    assert stats["adopted_tokens"] == 1
    assert repair.sync.jar_token == "other-process-token-abcdef"
    assert repair.sync.epoch == 1


@deferred_f_from_coro_f
async def test_failures_are_bounded_and_close_the_crawl_once() -> None:
    resolver = ScriptedResolver(fail=True)
    repair, _, stats, closes = build(resolver, max_failed=3)

    async def main() -> None:
        for i in range(5):
            with pytest.raises(ResolutionError):
                await repair.repair(page(i), Verdict.CHALLENGE, repair.sync.epoch)

    await main()
    assert resolver.calls == 3
    assert stats["resolution_failures"] == 3
    assert repair.unrecoverable
    assert len(closes) == 1
    assert "3 consecutive failed resolutions" in closes[0]
    assert "the solver said no" in closes[0]


@deferred_f_from_coro_f
async def test_a_new_token_blocked_before_any_page_counts_as_a_failure() -> None:
    """Issued is not working: resolution, block, resolution, block... gives up."""
    resolver = ScriptedResolver()
    repair, _, stats, closes = build(resolver, max_failed=2)

    async def main() -> None:
        await repair.repair(page(), Verdict.CHALLENGE, repair.sync.epoch)  # first token
        await repair.repair(page(), Verdict.BLOCK, repair.sync.epoch)  # refused: failure 1
        assert repair.failures == 1
        assert not repair.unrecoverable
        with pytest.raises(ResolutionError):
            await repair.repair(page(), Verdict.BLOCK, repair.sync.epoch)  # failure 2: give up

    await main()
    assert resolver.calls == 2  # no resolution after the limit
    assert repair.unrecoverable
    assert len(closes) == 1
    assert stats["resolution_failures"] == 2


@deferred_f_from_coro_f
async def test_a_page_served_with_the_new_token_resets_the_failures() -> None:
    resolver = ScriptedResolver()
    repair, _, _, closes = build(resolver, max_failed=2)

    async def main() -> None:
        for _ in range(5):
            await repair.repair(page(), Verdict.BLOCK, repair.sync.epoch)
            repair.proven()  # the site served a page: the token worked for a while

    await main()
    assert resolver.calls == 5
    assert repair.failures == 0
    assert not closes


@deferred_f_from_coro_f
async def test_resolutions_per_hour_are_capped() -> None:
    now = [1000.0]
    resolver = ScriptedResolver()
    repair, _, stats, closes = build(resolver, max_failed=100, max_per_hour=3, clock=lambda: now[0])

    async def main() -> None:
        for _ in range(3):
            await repair.repair(page(), Verdict.CHALLENGE, repair.sync.epoch)
            repair.proven()
            now[0] += 60
        with pytest.raises(ResolutionError, match="CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR=3"):
            await repair.repair(page(), Verdict.CHALLENGE, repair.sync.epoch)

    await main()
    assert resolver.calls == 3
    assert stats["resolution_cap_reached"] == 1
    assert len(closes) == 1
    assert "CWO_SESSION_MAX_RESOLUTIONS_PER_HOUR=3" in closes[0]


@deferred_f_from_coro_f
async def test_the_hourly_cap_is_a_sliding_window() -> None:
    now = [0.0]
    repair, _, _, closes = build(ScriptedResolver(), max_per_hour=2, clock=lambda: now[0])

    async def main() -> None:
        for _ in range(6):  # one every 31 minutes: never more than 2 in any hour
            await repair.repair(page(), Verdict.CHALLENGE, repair.sync.epoch)
            repair.proven()
            now[0] += 31 * 60

    await main()
    assert not closes


@deferred_f_from_coro_f
async def test_close_cancels_a_repair_under_way_and_releases_everything() -> None:
    resolver = ScriptedResolver(hang=True)
    repair, store, _, closes = build(resolver)

    async def main() -> list[Any]:
        waiters = [
            asyncio.ensure_future(repair.repair(page(i), Verdict.CHALLENGE, 0)) for i in range(3)
        ]
        await resolver.started.wait()
        await repair.close()
        return await asyncio.gather(*waiters, return_exceptions=True)

    outcomes = await main()
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes
    assert resolver.closed
    assert not repair.flights
    assert not closes
    assert store.lock.acquire(timeout=1)  # the resolution lock was released


@deferred_f_from_coro_f
async def test_one_session_init_for_concurrent_401s() -> None:
    downloads: list[Request] = []

    async def download(request: Request) -> Response:
        downloads.append(request)
        await asyncio.sleep(0.02)
        repair.sync.state = repair.sync.state.replace(phpsessid="fresh-php-session")
        return Response(request.url, status=200, request=request)

    repair, _, stats, _ = build(ScriptedResolver(), download=download)

    async def main() -> None:
        epoch = repair.sync.epoch
        await asyncio.gather(*(repair.repair(page(i), Verdict.SESSION, epoch) for i in range(8)))

    await main()
    assert len(downloads) == 1
    assert downloads[0].meta["cookiejar"] == "cwo"
    assert stats["session_inits"] == 1
    assert "session_init_failures" not in stats
    assert repair.sync.epoch == 1
