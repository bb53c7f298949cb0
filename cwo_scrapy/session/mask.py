"""Masking of secret values for logs, stats, errors and ``cleansession --status``.

A masked value keeps enough to tell two tokens apart by eye (a short prefix and the length)
and never enough to replay one.
"""

from __future__ import annotations

#: Characters of the value kept in the clear.
VISIBLE_CHARS = 4


def mask(value: str | None) -> str:
    """``"abcd…(123 chars)"``; ``"<none>"`` for ``None`` or an empty string.

    A value of 8 characters or fewer shows only half of itself, so masking a short secret
    never prints the whole of it.
    """
    if not value:
        return "<none>"
    shown = min(VISIBLE_CHARS, len(value) // 2)
    return f"{value[:shown]}…({len(value)} chars)"
