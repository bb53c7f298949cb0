"""The persisted session: two cookies, the User-Agent they are bound to, and bookkeeping.

The on-disk keys ``aws_waf_token`` and ``PHPSESSID`` are the original tool's, so a file it wrote
still loads and a file we write still works with it. Token values never appear in ``repr()``:
states end up in log lines and exception messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cwo_scrapy.session.mask import mask

#: Cookie names as the site sets them (the file uses the original tool's keys instead).
TOKEN_COOKIE = "aws-waf-token"
SESSION_COOKIE = "PHPSESSID"

# Attribute name -> JSON key. Order is the order written to the file.
_JSON_KEYS: dict[str, str] = {
    "aws_waf_token": "aws_waf_token",
    "phpsessid": "PHPSESSID",
    "user_agent": "user_agent",
    "identity_headers": "identity_headers",
    "token_obtained_at": "aws_waf_token_obtained_at",
    "phpsessid_obtained_at": "PHPSESSID_obtained_at",
    "created_at": "created_at",
    "generation": "generation",
    "egress": "egress",  # masked proxy URL or "direct" the session was earned through
}
_STRING_FIELDS = ("aws_waf_token", "phpsessid", "user_agent", "egress")
_TIME_FIELDS = ("token_obtained_at", "phpsessid_obtained_at", "created_at")
#: Attributes whose values are secrets (masked in every human-facing output).
SECRET_FIELDS = frozenset({"aws_waf_token", "phpsessid"})
#: JSON keys whose values are secrets.
SECRET_KEYS = frozenset(_JSON_KEYS[name] for name in SECRET_FIELDS)


@dataclass(frozen=True, slots=True, repr=False)
class SessionState:
    """One session as persisted; immutable so a snapshot can be shared between crawlers."""

    aws_waf_token: str | None = None
    phpsessid: str | None = None
    user_agent: str | None = None
    # The client hints, Accept-Language and Accept sent with that UA (cwo_scrapy.identity).
    identity_headers: dict[str, str] | None = None
    token_obtained_at: float | None = None  # epoch seconds
    phpsessid_obtained_at: float | None = None
    created_at: float | None = None  # when this session (UA) began
    generation: int = 0  # +1 on every persisted change
    egress: str | None = None  # cwo_scrapy.egress: where the session's token was earned

    def to_json(self) -> dict[str, Any]:
        """The file's object: the original tool's keys plus metadata.

        ``None`` values are omitted, and so is generation 0 (never written by a store), so the
        original tool's two-key file and ``{}`` round-trip unchanged.
        """
        out: dict[str, Any] = {}
        for name, key in _JSON_KEYS.items():
            value = getattr(self, name)
            if value is not None and not (name == "generation" and value == 0):
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionState:
        """Parse a file's object; raises ``ValueError`` (naming the key, never the value).

        Accepts the original tool's two-key file, ``null`` or ``""`` for a missing value, and
        ignores keys it does not know, so a newer or older writer does not break loading.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        for name, key in _JSON_KEYS.items():
            raw = data.get(key)
            if raw is None or raw == "":
                continue
            if name in _STRING_FIELDS:
                if not isinstance(raw, str):
                    raise ValueError(f"{key!r} must be a string, got {type(raw).__name__}")
                values[name] = raw
            elif name == "identity_headers":
                if not isinstance(raw, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
                ):
                    raise ValueError(f"{key!r} must be an object of strings")
                values[name] = dict(raw)
            elif name in _TIME_FIELDS:
                if isinstance(raw, bool) or not isinstance(raw, int | float):
                    raise ValueError(f"{key!r} must be a number, got {type(raw).__name__}")
                values[name] = float(raw)
            else:  # generation
                if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                    raise ValueError(f"{key!r} must be a non-negative integer")
                values[name] = raw
        return cls(**values)

    def replace(self, **changes: Any) -> SessionState:
        """A copy with ``changes`` applied; unknown field names raise ``TypeError``."""
        unknown = set(changes) - set(_JSON_KEYS)
        if unknown:
            raise TypeError(f"unknown SessionState field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def age(self, now: float) -> float | None:
        """Seconds since the session began; ``None`` when nothing says when.

        Falls back to the oldest credential's timestamp so a file without ``created_at`` still
        expires under ``CWO_SESSION_MAX_AGE``.
        """
        start = self.created_at
        if start is None:
            stamps = [t for t in (self.token_obtained_at, self.phpsessid_obtained_at) if t]
            start = min(stamps) if stamps else None
        return None if start is None else max(0.0, now - start)

    def cookies(self) -> dict[str, str]:
        """The stored cookies by their site names, for injecting into a cookie jar."""
        out: dict[str, str] = {}
        if self.aws_waf_token:
            out[TOKEN_COOKIE] = self.aws_waf_token
        if self.phpsessid:
            out[SESSION_COOKIE] = self.phpsessid
        return out

    @property
    def empty(self) -> bool:
        """True when no cookie is stored (a fresh session must be established)."""
        return not self.aws_waf_token and not self.phpsessid

    def masked(self) -> dict[str, Any]:
        """``to_json()`` with secret values masked: safe to print or log."""
        return {
            key: mask(value) if key in SECRET_KEYS else value
            for key, value in self.to_json().items()
        }

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{name}={mask(value) if name in SECRET_FIELDS else value!r}"
            for name, value in ((n, getattr(self, n)) for n in _JSON_KEYS)
            if value is not None
        )
        return f"SessionState({parts})"

    __str__ = __repr__


FIELD_NAMES = frozenset(_JSON_KEYS)
