"""The interface every session store implements (JSON file now, Redis later).

The middleware, resolvers and ``scrapy cleansession`` only talk to this protocol, so a store
backend can change without touching them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cwo_scrapy.session.state import SessionState


class SessionStoreError(Exception):
    """The session storage cannot be used (unreadable file, bad folder, lock timeout, Redis
    unreachable).

    The message is one line, names the location and never contains a secret, so the command
    line and the middleware can print it as is.
    """


SessionFileError = SessionStoreError
"""Former name of :class:`SessionStoreError` (it was never only about files); kept as an alias."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What ``cleansession --status`` reports about the backing storage; read-only facts.

    ``state`` is the parsed session when the storage is readable and valid, else ``None``.
    ``problem`` says what is wrong (one line, secret-free), ``None`` when healthy; a missing
    file is healthy, it is an empty session. ``readable`` is False when the storage could not
    be read at all (as opposed to read and found corrupt). ``warnings`` are secret-free notes
    that do not stop the store from working (e.g. a file mode wider than 0600).
    """

    kind: str
    location: str
    exists: bool
    size: int | None = None
    mode: int | None = None  # permission bits, e.g. 0o600
    readable: bool = True
    valid_json: bool = True
    problem: str | None = None
    state: SessionState | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


@runtime_checkable
class SessionStore(Protocol):
    """A persisted session shared by every crawler and process pointed at the same location."""

    location: str  # file path or redis URL, for messages and --status
    writes: int  # how many times this object persisted a change

    def load(self) -> SessionState:
        """The current persisted state; cheap when unchanged (stat/generation check)."""
        ...

    def update(self, expect_generation: int | None = None, **changes: Any) -> SessionState:
        """Atomic read-modify-write under the cross-process lock.

        Applies ``changes`` (``SessionState`` field names, not ``generation``) to the current
        persisted state and bumps ``generation``; writes nothing when nothing changes. With
        ``expect_generation`` set and different from the persisted generation it applies
        nothing and returns the newer persisted state, so a resolver adopts another process's
        fresh token instead of overwriting it.
        """
        ...

    def clear(self) -> None:
        """Persist an empty session (``{}``) atomically under the lock."""
        ...

    def resolution_lock(self, timeout: float) -> AbstractContextManager[None]:
        """Cross-process and cross-thread mutual exclusion for resolving a challenge.

        Not reentrant; raises ``TimeoutError`` after ``timeout`` seconds.
        """
        ...

    def health(self) -> StoreHealth:
        """Facts about the storage for ``cleansession --status``; never modifies it."""
        ...
