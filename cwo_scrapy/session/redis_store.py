"""Session store on a Redis hash, shared by every worker of a cluster.

Same contract as the JSON store (``SessionStore``): atomic read-modify-write with a generation
counter, ``expect_generation`` adoption, ``clear()``, and a resolution lock; but the lock is
cluster-wide and has an expiry, so a worker killed while resolving frees it after
``lock_ttl`` seconds instead of blocking every other machine. No Scrapy imports.

Layout under ``prefix`` (default ``cwo:session``):

- ``<prefix>``: hash, field = the JSON file's key, value = that key's JSON value;
- ``<prefix>:version``: counter bumped by every write and every ``clear()``; ``load()`` reads
  only it when nothing changed (``generation`` cannot serve as the cache key because
  ``clear()`` resets it to 0 and a later write reuses old numbers);
- ``<prefix>:lock``: the resolution lock, ``SET NX PX`` with a random token, renewed by a
  thread while held, released only by its owner (token-checked Lua).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from cwo_scrapy.session.base import SessionStoreError, StoreHealth
from cwo_scrapy.session.json_store import decode_session_json
from cwo_scrapy.session.mask import mask_url
from cwo_scrapy.session.state import FIELD_NAMES, SessionState

logger = logging.getLogger("cwo_scrapy.session")

DEFAULT_PREFIX = "cwo:session"
_EMPTY = SessionState()

# Release and renew only if the lock still holds our token: after an expiry another worker may
# own it, and deleting or extending its lock would break single flight.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisStoreError(SessionStoreError):
    """The Redis store cannot be used (unreachable, refused, wrong password).

    A ``SessionStoreError`` so the middleware and ``scrapy cleansession`` handle both stores
    alike; the message is one line with the password masked.
    """


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


class _Corrupt(Exception):
    """The hash exists but does not hold a session; the message is a secret-free reason."""


def _decode(raw: dict[str, str]) -> SessionState:
    """The session in a hash; any field that does not decode (deep nesting too) is corrupt."""
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if not _is_utf8(key):
            raise _Corrupt("a field name is not UTF-8") from None
        if not _is_utf8(value):
            raise _Corrupt(f"field {key!r} is not UTF-8") from None
        try:
            data[key] = decode_session_json(value)
        except ValueError:
            raise _Corrupt(f"field {key!r} is not JSON") from None
    try:
        return SessionState.from_json(data)
    except ValueError as exc:
        raise _Corrupt(f"not a session ({exc})") from None
    except (TypeError, RecursionError):
        raise _Corrupt("not a session (unexpected structure)") from None


def _is_utf8(text: str) -> bool:
    """False for a value that held invalid UTF-8 (read with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _encode(state: SessionState) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in state.to_json().items()}


class RedisSessionStore:
    """The ``SessionStore`` on Redis; obtain it through ``open_store("redis", url)``.

    ``lock_ttl``: seconds a resolution lock survives without renewal (a dead holder's lock
    frees itself after this); ``poll``: how often a waiter retries the lock.
    """

    kind = "redis"

    def __init__(
        self,
        location: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        lock_ttl: float = 30.0,
        poll: float = 0.05,
        socket_timeout: float = 10.0,
        client: redis.Redis | None = None,
    ) -> None:
        self.url = location
        self.location = mask_url(location)
        self.prefix = prefix
        self.key = prefix
        self.version_key = f"{prefix}:version"
        self.lock_key = f"{prefix}:lock"
        self.lock_ttl = lock_ttl
        self.poll = poll
        self.writes = 0
        self._mutex = threading.Lock()
        self._cached: SessionState = _EMPTY
        self._cached_version: str | None = None
        try:
            self.client: redis.Redis = client or redis.Redis.from_url(
                location,
                decode_responses=True,
                # Invalid UTF-8 in a field must not fail the read: it surfaces as a
                # surrogate, which _decode reports as corrupt (moved aside, fresh session).
                encoding_errors="surrogateescape",
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                health_check_interval=30,
            )
        except ValueError as exc:
            raise RedisStoreError(f"Bad Redis URL {self.location}: {_one_line(exc)}") from None
        self._release = self.client.register_script(_RELEASE)
        self._renew = self.client.register_script(_RENEW)
        # No I/O here: the first load() reports an unreachable server as a one-line
        # SessionStoreError, where the middleware and ``cleansession`` expect store errors.

    def ping(self) -> None:
        """Raise ``SessionStoreError`` (one line) when the server cannot be used."""
        self._call(self.client.ping)

    def __repr__(self) -> str:
        return f"RedisSessionStore({self.location!r}, prefix={self.prefix!r})"

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one Redis call, turning connection and auth failures into a one-line error."""
        try:
            return func(*args, **kwargs)
        except redis.WatchError:
            raise
        except redis.RedisError as exc:
            raise RedisStoreError(
                f"Redis session store {self.location} unusable: {_one_line(exc)}"
            ) from None

    # ----------------------------------------------------------------------------- reading

    def load(self) -> SessionState:
        """The persisted state; one ``GET`` of the version counter when nothing changed."""
        version = self._call(self.client.get, self.version_key)
        with self._mutex:
            if version is not None and version == self._cached_version:
                return self._cached
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.version_key)
        pipe.hgetall(self.key)
        version, raw = self._call(pipe.execute)
        try:
            state = _decode(raw) if raw else _EMPTY
        except _Corrupt as exc:
            return self._quarantine_and_reload(str(exc))
        with self._mutex:
            self._cached, self._cached_version = state, version
        return state

    def _quarantine_and_reload(self, reason: str) -> SessionState:
        """Rename a corrupt hash aside (like the JSON store's ``*.corrupt-<time>``), start empty."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = f"{self.key}:corrupt-{stamp}-{uuid.uuid4().hex[:6]}"
        pipe = self.client.pipeline(transaction=True)
        pipe.rename(self.key, target)
        pipe.incr(self.version_key)
        try:
            self._call(pipe.execute)
        except RedisStoreError:
            if self._call(self.client.exists, self.key):
                raise
            # another worker moved it first
        else:
            logger.warning(
                "Redis session %s at %s was unusable (%s); moved it to %s, starting fresh",
                self.key,
                self.location,
                reason,
                target,
            )
        return self.load()

    # ----------------------------------------------------------------------------- writing

    def update(self, expect_generation: int | None = None, **changes: Any) -> SessionState:
        """Optimistic read-modify-write (``WATCH``/``MULTI``); see ``SessionStore.update``."""
        unknown = set(changes) - FIELD_NAMES
        if unknown:
            raise TypeError(f"unknown SessionState field(s): {', '.join(sorted(unknown))}")
        if "generation" in changes:
            raise TypeError("generation is managed by the store and cannot be set")
        while True:
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    self._call(pipe.watch, self.key, self.version_key)
                    raw = self._call(pipe.hgetall, self.key)
                    try:
                        current = _decode(raw) if raw else _EMPTY
                    except _Corrupt as exc:
                        self._call(pipe.unwatch)
                        self._quarantine_and_reload(str(exc))
                        continue
                    if expect_generation is not None and current.generation != expect_generation:
                        self._call(pipe.unwatch)
                        return current
                    try:
                        wanted = SessionState.from_json(current.replace(**changes).to_json())
                    except ValueError as exc:
                        raise TypeError(f"invalid session value: {exc}") from None
                    if wanted == current:
                        self._call(pipe.unwatch)
                        return current
                    new = wanted.replace(generation=current.generation + 1)
                    pipe.multi()
                    pipe.delete(self.key)
                    pipe.hset(self.key, mapping=_encode(new))
                    pipe.incr(self.version_key)
                    _, _, version = self._call(pipe.execute)
                except redis.WatchError:
                    continue  # another worker wrote in between: redo on its state
            with self._mutex:
                self.writes += 1
                self._cached, self._cached_version = new, str(version)
            return new

    def clear(self) -> None:
        """Empty the session atomically; safe while other workers crawl."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.key)
        pipe.incr(self.version_key)
        _, version = self._call(pipe.execute)
        with self._mutex:
            self.writes += 1
            self._cached, self._cached_version = _EMPTY, str(version)

    # ----------------------------------------------------------------------------- locking

    @contextmanager
    def resolution_lock(self, timeout: float) -> Iterator[None]:
        """Cluster-wide single flight for resolving a challenge, with an expiry.

        Not reentrant. Raises ``TimeoutError`` after ``timeout`` seconds. While held, a daemon
        thread renews the expiry every ``lock_ttl / 3`` seconds: a slow resolution keeps the
        lock, a killed process stops renewing and its lock lapses after ``lock_ttl``.
        """
        token = uuid.uuid4().hex
        ttl_ms = max(1, int(self.lock_ttl * 1000))
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._call(self.client.set, self.lock_key, token, nx=True, px=ttl_ms):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Timed out after {timeout:g}s waiting for the resolution lock of "
                    f"{self.location} ({self.lock_key})"
                )
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())) or self.poll)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._keep_alive, args=(token, ttl_ms, stop), name="cwo-redis-lock", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join(timeout=5)
            try:
                self._release(keys=[self.lock_key], args=[token])
            except redis.RedisError as exc:  # it expires on its own
                logger.warning("Could not release the resolution lock: %s", _one_line(exc))

    def _keep_alive(self, token: str, ttl_ms: int, stop: threading.Event) -> None:
        while not stop.wait(ttl_ms / 3000):
            try:
                if not self._renew(keys=[self.lock_key], args=[token, ttl_ms]):
                    logger.warning("Resolution lock %s expired while held", self.lock_key)
                    return
            except redis.RedisError as exc:
                logger.warning("Could not renew the resolution lock: %s", _one_line(exc))

    # ----------------------------------------------------------------------------- health

    def health(self) -> StoreHealth:
        """Facts for ``cleansession --status``; never raises, never modifies."""
        base = {"kind": self.kind, "location": f"{self.location} (key {self.key})"}
        try:
            raw = self.client.hgetall(self.key)
            size = self.client.memory_usage(self.key) if raw else None
        except redis.RedisError as exc:
            return StoreHealth(
                **base,
                exists=False,
                readable=False,
                valid_json=False,
                problem=f"unreachable ({_one_line(exc)})",
            )
        if not raw:
            return StoreHealth(**base, exists=False, state=_EMPTY)
        try:
            state = _decode(raw)
        except _Corrupt as exc:
            valid = all(_is_json(v) for v in raw.values())
            return StoreHealth(
                **base, exists=True, size=size, valid_json=valid, problem=f"corrupt: {exc}"
            )
        return StoreHealth(**base, exists=True, size=size, state=state)


def _is_json(value: str) -> bool:
    try:
        decode_session_json(value)
    except ValueError:
        return False
    return True
