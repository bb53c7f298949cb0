"""Persisted session (``PHPSESSID`` + ``aws-waf-token`` + User-Agent), independent of Scrapy.

``open_store`` keeps one store object per location in the process, like the original tool's
session singleton: every crawler of a process that points at the same file shares its cache,
locks and write counter.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

from cwo_scrapy import default_settings
from cwo_scrapy.datadir import DEFAULT_DATA_DIR, SESSION_FILE_NAME, session_file
from cwo_scrapy.session.base import SessionFileError, SessionStore, SessionStoreError, StoreHealth
from cwo_scrapy.session.json_store import JsonSessionStore
from cwo_scrapy.session.mask import mask
from cwo_scrapy.session.state import SESSION_COOKIE, TOKEN_COOKIE, SessionState

__all__ = [
    "DEFAULT_REDIS_URL",
    "DEFAULT_SESSION_FILE",
    "SESSION_COOKIE",
    "STORE_KINDS",
    "TOKEN_COOKIE",
    "JsonSessionStore",
    "SessionFileError",
    "SessionState",
    "SessionStore",
    "SessionStoreError",
    "StoreHealth",
    "mask",
    "open_store",
    "store_from_settings",
]

DEFAULT_SESSION_FILE = f"{DEFAULT_DATA_DIR}/{SESSION_FILE_NAME}"  # CWO_SESSION_FILE "" means this
DEFAULT_REDIS_URL = default_settings.CWO_REDIS_URL

#: Store kind -> "module:Class"; the class is built as ``Class(location, **options)``.
STORE_KINDS: dict[str, str] = {
    "json": "cwo_scrapy.session.json_store:JsonSessionStore",
    "redis": "cwo_scrapy.session.redis_store:RedisSessionStore",
}

_registry: dict[tuple[str, str], SessionStore] = {}
_registry_lock = threading.Lock()


def _normalise(kind: str, location: str) -> tuple[str, str]:
    kind = (kind or "").strip().lower()
    if kind not in STORE_KINDS:
        raise ValueError(
            f"Unknown session store {kind!r}: expected one of {', '.join(sorted(STORE_KINDS))}"
        )
    location = os.fspath(location).strip() if location else ""
    if not location:
        raise ValueError(f"No location given for the {kind} session store")
    if kind == "json":
        # realpath of the folder: two spellings of one file (relative, symlinked folder) share
        # one store object. The file name itself is kept: a symlink there is refused, not
        # followed (json_store).
        folder, name = os.path.split(os.path.abspath(os.path.expanduser(location)))
        location = os.path.join(os.path.realpath(folder), name)
    return kind, location


def open_store(kind: str, location: str, **options: Any) -> SessionStore:
    """The process-wide store for ``(kind, location)``; the same object on every call.

    ``options`` are passed to the store class the first time only. Raises ``ValueError`` for
    an unknown kind, an empty location or a backend that cannot be imported (one-line
    messages).
    """
    kind, location = _normalise(kind, location)
    key = (kind, location)
    with _registry_lock:
        store = _registry.get(key)
        if store is None:
            module_name, _, class_name = STORE_KINDS[kind].partition(":")
            try:
                store_class = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"Session store {kind!r} is not available: {exc}") from None
            store = store_class(location, **options)
            _registry[key] = store
        return store


def store_from_settings(settings: Any) -> SessionStore:
    """The store configured by ``CWO_SESSION_STORE`` / ``CWO_SESSION_FILE`` / ``CWO_REDIS_URL``.

    ``settings`` is anything with ``get(name)`` (Scrapy ``Settings``, a dict), so the
    middleware and ``scrapy cleansession`` resolve the same location the same way; a setting
    it lacks takes its value from ``cwo_scrapy.default_settings``.
    """

    def setting(name: str) -> Any:
        value = settings.get(name)
        return getattr(default_settings, name) if value is None else value

    kind = str(setting("CWO_SESSION_STORE")).strip().lower()
    # CWO_SESSION_FILE "" = <CWO_DATA_DIR>/custom_wheel_offset_temp.json
    location = setting("CWO_REDIS_URL") if kind == "redis" else session_file(settings)
    if not isinstance(location, str | os.PathLike):
        raise ValueError(f"The session location for the {kind} store must be a string")
    return open_store(kind, os.fspath(location))
