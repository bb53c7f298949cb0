"""Header sets normalized once and stored into requests without Scrapy normalizing them again.

Every request carries a dozen browser headers (the identity's, the fetch kind's). Scrapy's
``Headers.__setitem__`` and ``Headers(dict)`` title-case and encode each name and value on every
request; a :data:`HeaderSet` is that work done once, and :func:`apply` stores it with plain
``dict`` writes (one fresh value list per header, as ``Headers`` keeps them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

from scrapy.http import Headers

__all__ = ["HeaderSet", "apply", "header_set"]

HeaderSet: TypeAlias = tuple[tuple[bytes, bytes], ...]

_NORMALIZER = Headers()


def header_set(headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]) -> HeaderSet:
    """``headers`` as Scrapy's ``Headers`` would store them (names title-cased, bytes)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in items:
        (normalized,) = _NORMALIZER.normvalue(value)
        out.append((_NORMALIZER.normkey(name), normalized))
    return tuple(out)


def apply(headers: Headers, header_set_: HeaderSet) -> None:
    """Set each header of ``header_set_`` in ``headers``, replacing what was there."""
    store = dict.__setitem__
    for key, value in header_set_:
        store(headers, key, [value])
