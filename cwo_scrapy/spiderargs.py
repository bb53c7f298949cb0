"""Validation of ``-a NAME=VALUE`` spider arguments.

Spiders validate their arguments here both in ``__init__`` and, earlier, in the project's
``crawl`` command, so a typo such as ``-a limit=abc`` ends with one line naming the value and
exit code 2 before a single request is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MIN_YEAR = 1900


class SpiderArgumentError(ValueError):
    """A spider argument is unknown or its value is invalid; the message is one line."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which part of the catalogue to crawl; ``None`` means every value."""

    year: int | None = None
    make: str | None = None
    model: str | None = None
    limit: int | None = None


def max_year() -> int:
    """Model years run at most a year or two ahead of the calendar."""
    return dt.date.today().year + 2


def check_known(kwargs: Mapping[str, Any], allowed: Iterable[str], spider: str) -> None:
    """Reject arguments the spider does not understand (a typo must not widen the scope)."""
    allowed = set(allowed)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        raise SpiderArgumentError(
            f"unknown argument {unknown[0]!r} for spider {spider!r} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _text(kwargs: Mapping[str, Any], name: str) -> str | None:
    value = kwargs.get(name)
    if value is None:
        return None
    text = str(value)
    if not text.strip():
        raise SpiderArgumentError(f"{name}={text!r}: empty value")
    if any(ord(c) < 32 for c in text):
        raise SpiderArgumentError(f"{name}={text!r}: control characters are not allowed")
    return text


def ascii_digits(value: Any) -> int | None:
    """The whole number spelled by ASCII digits only, else None.

    ``str.isdigit`` accepts superscripts (``"²"``), which ``int()`` then rejects with a
    traceback, and ``int()`` accepts other scripts' digits, signs and ``_``: a numeric
    argument is ``[0-9]+`` and nothing else (surrounding spaces aside).
    """
    text = str(value).strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_year(value: Any) -> int:
    year = ascii_digits(value)
    if year is None or len(str(value).strip()) != 4:
        raise SpiderArgumentError(f"year={value!r}: not a four-digit year")
    if not MIN_YEAR <= year <= max_year():
        raise SpiderArgumentError(f"year={value!r}: out of range {MIN_YEAR}-{max_year()}")
    return year


def parse_limit(value: Any) -> int:
    limit = ascii_digits(value)
    if limit is None or limit < 1:
        raise SpiderArgumentError(f"limit={value!r}: not a positive whole number")
    return limit


def parse_scope(kwargs: Mapping[str, Any]) -> Scope:
    """Year/make/model/limit from spider arguments (any subset)."""
    year = kwargs.get("year")
    limit = kwargs.get("limit")
    return Scope(
        year=None if year is None else parse_year(year),
        make=_text(kwargs, "make"),
        model=_text(kwargs, "model"),
        limit=None if limit is None else parse_limit(limit),
    )


def parse_choice(kwargs: Mapping[str, Any], name: str, choices: Iterable[str]) -> str | None:
    value = kwargs.get(name)
    if value is None:
        return None
    choices = list(choices)
    if value not in choices:
        raise SpiderArgumentError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return str(value)


def parse_text(kwargs: Mapping[str, Any], name: str) -> str | None:
    """A free-text argument (a fitment preference value), checked against the site later."""
    return _text(kwargs, name)
