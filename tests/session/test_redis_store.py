"""The Redis session store keeps the JSON store's contract across processes and machines."""

# ruff: noqa: F811  (the imported redis fixtures are test arguments of the same name)

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cwo_scrapy.session import SessionFileError, open_store
from cwo_scrapy.session.redis_store import RedisSessionStore, SessionStoreError, mask_url
from cwo_scrapy.session.state import SessionState

# The cluster tests' private redis-server fixtures (imported: pytest finds them by name).
from tests.cluster.conftest import RedisServer, dead_redis_url, redis_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-" + "x" * 40


def _store(server: RedisServer, **kwargs: object) -> RedisSessionStore:
    return RedisSessionStore(server.url, **kwargs)  # type: ignore[arg-type]


def test_update_persists_bumps_generation_and_skips_no_op_writes(redis_server: RedisServer) -> None:
    store = _store(redis_server)
    assert store.load() == SessionState()
    first = store.update(aws_waf_token=TOKEN, token_obtained_at=100.0, user_agent="UA/1")
    assert first.generation == 1
    assert first.aws_waf_token == TOKEN
    same = store.update(aws_waf_token=TOKEN)
    assert same.generation == 1
    assert store.writes == 1
    # What is in Redis is the JSON file's keys with JSON values, readable by other tools.
    raw = redis_server.client().hgetall("cwo:session")
    assert json.loads(raw["aws_waf_token"]) == TOKEN
    assert json.loads(raw["generation"]) == 1
    assert json.loads(raw["user_agent"]) == "UA/1"


def test_a_second_process_sees_writes_and_adopts_instead_of_overwriting(
    redis_server: RedisServer,
) -> None:
    """expect_generation: a resolver that lost the race gets the winner's token back."""
    a, b = _store(redis_server), _store(redis_server)  # two workers
    seen = a.load()
    b.update(aws_waf_token="winner-token", token_obtained_at=1.0)
    result = a.update(expect_generation=seen.generation, aws_waf_token="loser-token")
    assert result.aws_waf_token == "winner-token"
    assert result.generation == 1
    assert a.writes == 0
    assert a.load().aws_waf_token == "winner-token"
    applied = a.update(expect_generation=1, phpsessid="abc")
    assert applied.generation == 2
    assert applied.aws_waf_token == "winner-token"


def test_clear_empties_the_session_for_every_worker(redis_server: RedisServer) -> None:
    a, b = _store(redis_server), _store(redis_server)
    a.update(aws_waf_token=TOKEN, phpsessid="sess1")
    assert b.load().phpsessid == "sess1"  # b caches generation 1
    a.clear()
    assert b.load() == SessionState()
    # generation restarts at 1 after clear; b's cache must not mistake it for the old state
    a.update(aws_waf_token="new-token")
    assert b.load().aws_waf_token == "new-token"


def test_concurrent_updates_from_threads_lose_nothing(redis_server: RedisServer) -> None:
    stores = [_store(redis_server) for _ in range(4)]
    errors: list[BaseException] = []

    def work(store: RedisSessionStore, n: int) -> None:
        try:
            for i in range(15):
                store.update(user_agent=f"UA-{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert stores[0].load().generation == 60 == sum(s.writes for s in stores)


def test_resolution_lock_is_exclusive_across_threads_and_times_out(
    redis_server: RedisServer,
) -> None:
    stores = [_store(redis_server) for _ in range(3)]
    holders: list[int] = []
    overlap: list[int] = []
    lock = threading.Lock()

    def resolve(store: RedisSessionStore) -> None:
        with store.resolution_lock(timeout=20):
            with lock:
                holders.append(1)
                overlap.append(len(holders))
            time.sleep(0.1)
            with lock:
                holders.pop()

    threads = [threading.Thread(target=resolve, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == [1] * 6
    with (
        stores[0].resolution_lock(timeout=1),
        pytest.raises(TimeoutError, match="resolution lock"),
        stores[1].resolution_lock(timeout=0.3),
    ):
        pass  # pragma: no cover


def test_a_slow_holder_keeps_the_lock_past_its_ttl(redis_server: RedisServer) -> None:
    """Renewal: a resolution longer than lock_ttl is not interrupted by another worker."""
    a, b = _store(redis_server, lock_ttl=0.6), _store(redis_server, lock_ttl=0.6)
    with a.resolution_lock(timeout=1):
        time.sleep(1.5)
        with pytest.raises(TimeoutError), b.resolution_lock(timeout=0.5):
            pass  # pragma: no cover
    with b.resolution_lock(timeout=1):
        pass


def test_a_killed_holder_frees_the_lock_after_its_ttl(redis_server: RedisServer) -> None:
    """A worker SIGKILLed while resolving cannot block the cluster for longer than lock_ttl."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from cwo_scrapy.session.redis_store import RedisSessionStore
        store = RedisSessionStore({redis_server.url!r}, lock_ttl=1.0)
        with store.resolution_lock(timeout=5):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        store = _store(redis_server)
        # alive and renewing: still held after its TTL
        with pytest.raises(TimeoutError), store.resolution_lock(timeout=1.5):
            pass  # pragma: no cover
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        started = time.monotonic()
        with store.resolution_lock(timeout=5):
            waited = time.monotonic() - started
        assert waited < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_two_processes_resolve_once_and_the_other_adopts(redis_server: RedisServer) -> None:
    """The middleware's pattern (lock, reload, resolve only if nobody did) across processes."""
    script = textwrap.dedent(
        f"""
        import time
        from cwo_scrapy.session.redis_store import RedisSessionStore
        store = RedisSessionStore({redis_server.url!r})
        seen = store.load()
        with store.resolution_lock(timeout=30):
            current = store.load()
            if current.aws_waf_token and current.generation != seen.generation:
                print("adopted", flush=True)
            else:
                time.sleep(0.5)  # the resolution
                store.update(expect_generation=current.generation, aws_waf_token="t-1")
                print("resolved", flush=True)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outputs == ["adopted", "adopted", "resolved"]
    assert _store(redis_server).load().generation == 1


def test_corrupt_hash_is_moved_aside_and_the_session_starts_fresh(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis_server.client()
    client.hset("cwo:session", mapping={"aws_waf_token": "{not json", "generation": "3"})
    store = _store(redis_server)
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.session"):
        assert store.load() == SessionState()
    assert "moved it to cwo:session:corrupt-" in caplog.text
    assert [k for k in client.keys("cwo:session:corrupt-*")]
    assert not client.exists("cwo:session")
    assert store.update(phpsessid="p1").generation == 1


def test_unreachable_redis_is_a_one_line_error_without_the_password(dead_redis_url: str) -> None:
    store = RedisSessionStore(dead_redis_url, socket_timeout=2)
    with pytest.raises(SessionFileError) as info:
        store.load()
    message = str(info.value)
    assert isinstance(info.value, SessionStoreError)
    assert "\n" not in message
    assert "s3cretpass" not in message
    assert "redis://:****@127.0.0.1" in message


def test_location_and_health_mask_the_password_and_report_state(
    redis_server: RedisServer,
) -> None:
    assert mask_url("redis://user:pw@host:6379/1") == "redis://user:****@host:6379/1"
    assert mask_url("redis://host:6379/0") == "redis://host:6379/0"
    store = _store(redis_server)
    assert not store.health().exists
    assert store.health().ok
    store.update(aws_waf_token=TOKEN)
    health = store.health()
    assert health.exists
    assert health.ok
    assert health.state is not None
    assert health.state.aws_waf_token == TOKEN
    redis_server.stop()
    down = store.health()
    assert not down.ok
    assert not down.readable
    assert "unreachable" in (down.problem or "")


def test_open_store_registry_returns_one_object_per_url(redis_server: RedisServer) -> None:
    url = redis_server.url + "?registry-test"
    first = open_store("redis", url)
    assert isinstance(first, RedisSessionStore)
    assert open_store("redis", url) is first


def _cleansession(redis_server: RedisServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy.cmdline",
            "cleansession",
            *args,
            "-s",
            "CWO_SESSION_STORE=redis",
            "-s",
            f"CWO_REDIS_URL={redis_server.url}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cleansession_reports_and_cleans_the_redis_session(redis_server: RedisServer) -> None:
    _store(redis_server).update(aws_waf_token=TOKEN, phpsessid="php-session-id-1234")
    status = _cleansession(redis_server, "--status", "--json")
    assert status.returncode == 0, status.stderr
    assert TOKEN not in status.stdout
    assert "php-session-id-1234" not in status.stdout
    assert redis_server.url in status.stdout
    cleaned = _cleansession(redis_server, "--clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not redis_server.client().exists("cwo:session")
    assert _store(redis_server).load() == SessionState()


def test_cleansession_on_unreachable_redis_exits_non_zero_with_one_line(
    dead_redis_url: str,
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy.cmdline",
            "cleansession",
            "--status",
            "-s",
            "CWO_SESSION_STORE=redis",
            "-s",
            f"CWO_REDIS_URL={dead_redis_url}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "s3cretpass" not in result.stderr + result.stdout
    assert "redis://:****@127.0.0.1" in result.stderr
    assert "unreachable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"PHPSESSID": "[" * 200_000 + "]" * 200_000},
        {"aws_waf_token": b'"\xff\xfe token"', "generation": "2"},
        {"generation": '{"a": []}'},
    ],
    ids=["nested-200000-deep", "not-utf8", "wrong-structure"],
)
def test_undecodable_fields_are_moved_aside_with_one_warning(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, fields: dict[str, object]
) -> None:
    """Any field that does not decode is corrupt, as in the JSON store: no traceback."""
    client = redis_server.client()
    client.hset("cwo:session", mapping=fields)  # type: ignore[arg-type]
    store = _store(redis_server)
    assert store.health().problem is not None
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.session"):
        assert store.load() == SessionState()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "moved it to cwo:session:corrupt-" in warnings[0].getMessage()
    assert not client.exists("cwo:session")
    assert store.update(phpsessid="p1").generation == 1


def test_a_password_in_the_redis_url_query_is_masked_in_location_and_errors(
    dead_redis_url: str,
) -> None:
    url = dead_redis_url.replace(":s3cretpass@", "@") + "?password=qu3rypass"
    store = RedisSessionStore(url, socket_timeout=2)
    assert "qu3rypass" not in store.location
    assert "password=****" in store.location
    with pytest.raises(SessionStoreError) as info:
        store.load()
    assert "qu3rypass" not in str(info.value)
    status = subprocess.run(
        [
            *_SCRAPY,
            "cleansession",
            "--status",
            "-s",
            "CWO_SESSION_STORE=redis",
            "-s",
            f"CWO_REDIS_URL={url}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 1
    assert "password=****" in status.stderr
    assert "qu3rypass" not in status.stderr + status.stdout


_SCRAPY = [sys.executable, "-m", "scrapy.cmdline"]
