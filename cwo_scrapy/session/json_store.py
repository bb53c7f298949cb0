"""Session store backed by one JSON file, shared safely by threads and processes.

Every write goes to a temporary file in the same folder, is fsynced and then renamed over the
session file (and the folder fsynced), so a reader or a process killed mid-write only ever sees
the old or the new file. Writers serialise on a ``filelock`` next to the file; readers need no
lock. ``load()`` is called before every challenge resolution, so it re-reads only when the
file's stat signature changed.

Only a regular file is used. A device, FIFO or socket at the session path is refused with a
one-line :class:`SessionStoreError` (checked with ``lstat`` and opened ``O_NONBLOCK``, so a FIFO
never blocks), and so is a symbolic link (``O_NOFOLLOW``): such a path is never read, renamed,
chmodded or replaced. Content that does not decode as a session (invalid UTF-8 or JSON, JSON
nested too deep for the parser, wrong types) is corrupt: moved aside, a fresh session.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cwo_scrapy.session.base import SessionStoreError, StoreHealth
from cwo_scrapy.session.state import FIELD_NAMES, SessionState

logger = logging.getLogger("cwo_scrapy.session")

FILE_MODE = 0o600
_EMPTY = SessionState()
# (device, inode, size, mtime_ns, ctime_ns): os.replace gives every write a new inode, and
# size/mtime catch an editor rewriting the file in place.
_StatKey = tuple[int, int, int, int, int]


class _CorruptFile(Exception):
    """The file was read but does not hold a session; the message is the secret-free reason."""


def _stat_key(st: os.stat_result) -> _StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


_KINDS = (
    (stat.S_ISLNK, "a symbolic link (not followed)"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(mode: int) -> str | None:
    """What a non-regular file is (``"a FIFO"``), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def decode_session_json(text: str) -> Any:
    """``json.loads`` with every failure as ``ValueError`` (deep nesting is RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def parse_session_bytes(raw: bytes) -> SessionState:
    """Parse a session file's content; raises ``_CorruptFile`` with a one-line reason."""
    if not raw.strip():
        raise _CorruptFile("the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _CorruptFile("the file is not UTF-8 text") from None
    try:
        data = decode_session_json(text)
    except json.JSONDecodeError as exc:  # exc.msg never quotes the document
        raise _CorruptFile(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise _CorruptFile(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _CorruptFile(f"not a JSON object but a JSON {type(data).__name__}")
    try:
        return SessionState.from_json(data)
    except ValueError as exc:
        raise _CorruptFile(f"not a session ({exc})") from None
    except (TypeError, RecursionError):
        raise _CorruptFile("not a session (unexpected structure)") from None


class JsonSessionStore:
    """The ``SessionStore`` for a JSON file; obtain it through ``open_store("json", path)``."""

    kind = "json"

    def __init__(self, location: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> None:
        self.path = Path(os.path.abspath(os.path.expanduser(os.fspath(location))))
        self.location = str(self.path)
        self.writes = 0
        self.lock_timeout = lock_timeout
        self._mutex = threading.RLock()  # one thread at a time in read-modify-write and cache
        self._resolve_mutex = threading.Lock()  # not reentrant on purpose, see resolution_lock
        self._write_lock: FileLock | None = None
        self._resolve_lock: FileLock | None = None
        self._cache_key: _StatKey | None = None
        self._cached: SessionState = _EMPTY

    def __repr__(self) -> str:
        return f"JsonSessionStore({self.location!r})"

    # ----------------------------------------------------------------------------- reading

    def load(self) -> SessionState:
        """The persisted state; only a stat() when the file has not changed since last time."""
        with self._mutex:
            try:
                st = os.lstat(self.path)
            except FileNotFoundError:
                self._cache_key, self._cached = None, _EMPTY
                return _EMPTY
            except OSError as exc:
                raise self._read_error(exc) from None
            self._check_regular(st.st_mode)
            if self._cache_key is not None and _stat_key(st) == self._cache_key:
                return self._cached
            try:
                state, key = self._read()
            except _CorruptFile:
                # Writers hold the lock, so a re-read under it sees a settled file.
                with self._locked():
                    return self._read_or_quarantine()
            self._cache_key, self._cached = key, state
            return state

    def _read(self) -> tuple[SessionState, _StatKey | None]:
        """Read and parse the file; the stat key is taken from the open descriptor."""
        try:
            raw, st = self._read_bytes()
        except FileNotFoundError:
            return _EMPTY, None
        return parse_session_bytes(raw), _stat_key(st)

    def _read_bytes(self) -> tuple[bytes, os.stat_result]:
        """The file's bytes and stat, refusing anything but a regular file (never blocks).

        ``lstat`` first so a device or FIFO is not even opened; then ``O_NOFOLLOW |
        O_NONBLOCK`` and ``fstat`` on the descriptor, so a path swapped in between is caught.
        Raises ``FileNotFoundError`` for a missing file, ``SessionStoreError`` otherwise.
        """
        try:
            self._check_regular(os.lstat(self.path).st_mode)
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._read_error(exc) from None
        try:
            st = os.fstat(fd)
            self._check_regular(st.st_mode)
            with os.fdopen(fd, "rb") as handle:
                fd = -1
                return handle.read(), st
        except OSError as exc:
            raise self._read_error(exc) from None
        finally:
            if fd >= 0:
                os.close(fd)

    def _check_regular(self, mode: int) -> None:
        kind = not_regular(mode)
        if kind is not None:
            raise SessionStoreError(
                f"Session file {self.location} is {kind}; refusing to use it "
                "(point CWO_SESSION_FILE at a regular file)"
            )

    def _read_or_quarantine(self) -> SessionState:
        """Under the write lock: the current state, moving a corrupt file aside first."""
        try:
            state, key = self._read()
        except _CorruptFile as exc:
            self._quarantine(str(exc))
            state, key = _EMPTY, None
        self._cache_key, self._cached = key, state
        return state

    def _quarantine(self, reason: str) -> Path:
        """Move a corrupt file to ``<file>.corrupt-<UTC time>`` so nothing is lost."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            self._check_regular(os.lstat(self.path).st_mode)  # never move a device or a link
            os.rename(self.path, target)
        except OSError as exc:
            raise SessionStoreError(
                f"Session file {self.location} is corrupt ({reason}) and could not be moved "
                f"aside: {_reason(exc)}"
            ) from None
        with suppress(OSError):  # it may hold secrets
            os.chmod(target, FILE_MODE)
        logger.warning(
            "Session file %s was unusable (%s); moved it aside to %s and starting a fresh session",
            self.location,
            reason,
            target,
        )
        return target

    def _read_error(self, exc: OSError) -> SessionStoreError:
        if isinstance(exc, IsADirectoryError):
            return SessionStoreError(f"Cannot read session file {self.location}: it is a directory")
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # O_NOFOLLOW on a link; a socket
            return SessionStoreError(
                f"Session file {self.location} is not a regular file; refusing to use it"
            )
        return SessionStoreError(f"Cannot read session file {self.location}: {_reason(exc)}")

    # ----------------------------------------------------------------------------- writing

    def update(self, expect_generation: int | None = None, **changes: Any) -> SessionState:
        """Read-modify-write under the lock; see ``SessionStore.update``."""
        unknown = set(changes) - FIELD_NAMES
        if unknown:
            raise TypeError(f"unknown SessionState field(s): {', '.join(sorted(unknown))}")
        if "generation" in changes:
            raise TypeError("generation is managed by the store and cannot be set")
        with self._mutex, self._locked():
            current = self._read_or_quarantine()
            if expect_generation is not None and current.generation != expect_generation:
                return current
            # Round trip through the file format: rejects wrong types before anything is
            # written and normalises ("" -> None, int -> float) so "no change" is detected.
            try:
                wanted = SessionState.from_json(current.replace(**changes).to_json())
            except ValueError as exc:
                raise TypeError(f"invalid session value: {exc}") from None
            if wanted == current:
                return current
            new = wanted.replace(generation=current.generation + 1)
            self._write(new.to_json())
            self._cached = new
            return new

    def clear(self) -> None:
        """Persist ``{}`` under the lock; a file that already holds an empty object is kept."""
        with self._mutex, self._locked():
            try:
                raw: bytes | None = self._read_bytes()[0]
            except FileNotFoundError:
                raw = None
            if raw is not None:
                try:
                    parse_session_bytes(raw)
                except _CorruptFile as exc:  # keep it for the user rather than overwrite it
                    self._quarantine(str(exc))
                else:
                    if decode_session_json(raw.decode("utf-8")) == {}:
                        return
            self._write({})
            self._cached = _EMPTY

    def _write(self, data: dict[str, Any]) -> None:
        """Atomic replace; the caller holds the write lock. Updates the stat cache."""
        folder = self.path.parent
        tmp_name: str | None = None
        try:
            self._remove_stale_temporaries()
            fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # mkstemp says 0600; umask cannot widen it
                json.dump(data, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
            tmp_name = None
            _fsync_folder(folder)
            self._cache_key = _stat_key(os.stat(self.path))
        except OSError as exc:
            raise SessionStoreError(
                f"Cannot write session file {self.location}: {_reason(exc)}"
            ) from None
        finally:
            if tmp_name is not None:
                with suppress(OSError):
                    os.unlink(tmp_name)
        self.writes += 1

    def _remove_stale_temporaries(self) -> None:
        """Temporaries left by a writer killed mid-write; safe because we hold the lock."""
        prefix = f".{self.path.name}."
        with os.scandir(self.path.parent) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                    with suppress(OSError):
                        os.unlink(entry.path)

    # ----------------------------------------------------------------------------- locking

    def _ensure_folder(self) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SessionStoreError(
                f"Cannot create the session folder {folder}: {_reason(exc)}"
            ) from None
        if not folder.is_dir():
            raise SessionStoreError(f"Session folder {folder} is not a directory")

    def _file_lock(self, suffix: str) -> FileLock:
        self._ensure_folder()
        return FileLock(f"{self.location}{suffix}", mode=FILE_MODE, thread_local=False)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The cross-process write lock (``<file>.lock``); the caller holds ``_mutex``."""
        if self._write_lock is None:
            self._write_lock = self._file_lock(".lock")
        else:
            self._ensure_folder()  # the folder may have been removed since
        try:
            self._write_lock.acquire(timeout=self.lock_timeout)
        except Timeout:
            raise SessionStoreError(
                f"Timed out after {self.lock_timeout:g}s waiting for the lock {self.location}.lock"
            ) from None
        except OSError as exc:
            raise SessionStoreError(
                f"Cannot lock session file {self.location}: {_reason(exc)}"
            ) from None
        try:
            yield
        finally:
            self._write_lock.release()

    @contextmanager
    def resolution_lock(self, timeout: float) -> Iterator[None]:
        """Exclusive right to resolve a challenge (``<file>.resolve.lock``).

        Deliberately not reentrant: two coroutines on one thread must not both believe they
        hold it. Raises ``TimeoutError`` after ``timeout`` seconds in total.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._resolve_mutex.acquire(timeout=max(0.0, timeout)):
            raise TimeoutError(
                f"Timed out after {timeout:g}s waiting for the resolution lock of {self.location}"
            )
        try:
            if self._resolve_lock is None:
                self._resolve_lock = self._file_lock(".resolve.lock")
            else:
                self._ensure_folder()
            try:
                self._resolve_lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            except Timeout:
                raise TimeoutError(
                    f"Timed out after {timeout:g}s waiting for the resolution lock of "
                    f"{self.location}"
                ) from None
            except OSError as exc:
                raise SessionStoreError(
                    f"Cannot lock session file {self.location}: {_reason(exc)}"
                ) from None
            try:
                yield
            finally:
                self._resolve_lock.release()
        finally:
            self._resolve_mutex.release()

    # ----------------------------------------------------------------------------- health

    def health(self) -> StoreHealth:
        """Facts about the file for ``cleansession --status``; never moves or changes it."""
        return file_health(self)


def file_health(store: JsonSessionStore) -> StoreHealth:
    """Facts about the file for ``cleansession --status``; never moves or changes it."""
    base = {"kind": store.kind, "location": store.location}
    try:
        st = os.lstat(store.path)
    except FileNotFoundError:
        return StoreHealth(**base, exists=False, state=_EMPTY)
    except OSError as exc:
        return StoreHealth(
            **base,
            exists=False,
            readable=False,
            valid_json=False,
            problem=f"unreadable ({_reason(exc)})",
        )
    size, mode = st.st_size, stat.S_IMODE(st.st_mode)
    facts = {**base, "exists": True, "size": size, "mode": mode}
    kind = not_regular(st.st_mode)
    if kind is not None:
        problem = "it is a directory" if stat.S_ISDIR(st.st_mode) else f"it is {kind}"
        if not stat.S_ISDIR(st.st_mode):
            problem += "; a session file must be a regular file"
        return StoreHealth(**facts, readable=False, valid_json=False, problem=problem)
    warnings: tuple[str, ...] = ()
    if mode & 0o077:
        warnings = (f"mode {mode:04o} lets other users read it; expected 0600",)
    try:
        raw, _ = store._read_bytes()
    except (OSError, SessionStoreError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else str(exc)
        return StoreHealth(
            **facts,
            readable=False,
            valid_json=False,
            problem=f"unreadable ({reason})",
            warnings=warnings,
        )
    try:
        state = parse_session_bytes(raw)
    except _CorruptFile as exc:
        valid_json = True
        try:
            decode_session_json(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError is one
            valid_json = False
        return StoreHealth(
            **facts, valid_json=valid_json, problem=f"corrupt: {exc}", warnings=warnings
        )
    return StoreHealth(**facts, state=state, warnings=warnings)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
