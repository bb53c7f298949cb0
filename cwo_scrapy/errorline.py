"""One-line error messages that never echo a huge value.

A 100 KB ``-a`` value or setting would otherwise be printed whole in ``scrapy crawl``'s error
line. Messages quote values with ``repr`` (``limit='abc'``); :func:`error_line` cuts every quoted
value longer than :data:`LIMIT` characters, and flattens the message to one line.
"""

from __future__ import annotations

import re

#: Longest echoed value kept whole, in characters.
LIMIT = 200

# A Python repr of a string: single or double quoted, with backslash escapes.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)


def clip(text: str, limit: int = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text)} chars)"


def error_line(message: str, limit: int = LIMIT) -> str:
    """``message`` on one line, each quoted value cut to ``limit`` characters."""
    flat = " ".join(str(message).splitlines())
    clipped = _QUOTED.sub(lambda m: clip(m.group(0), limit), flat)
    # An unquoted value (a path, an OS message) is bounded by the line as a whole.
    return clip(clipped, 5 * limit)
