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


#: Query parameters whose value is a credential (compared case-insensitively).
SECRET_QUERY_KEYS = frozenset(
    {"password", "pass", "passwd", "pwd", "auth", "token", "secret", "api_key", "apikey", "key"}
)
MASKED = "****"


def mask_url(url: str) -> str:
    """A URL for messages without its credentials: userinfo and secret query values masked.

    ``redis://user:pw@host:6379/0?password=x`` -> ``redis://user:****@host:6379/0?password=****``;
    a user name alone (``https://TOKEN@host``) is masked too, as it is often a token. Proxy and
    Redis URLs alike. Works on the text, so a URL that would not parse (a port of 99999) is
    still masked, and everything else is kept byte for byte.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    # The userinfo ends at the last "@" before the query: a password with an unencoded "/"
    # (an invalid URL, but a real password) is still masked whole.
    at = rest.rfind("@", 0, _first(rest, "?#"))
    netloc = ""
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        netloc = f"{user}:{MASKED}@" if colon else f"{MASKED}@"
        rest = rest[at + 1 :]
    end = _first(rest, "/?#")
    netloc, tail = netloc + rest[:end], rest[end:]
    path, qmark, query = tail.partition("?")
    query, hash_, fragment = query.partition("#")
    if qmark:
        query = "&".join(_mask_pair(pair) for pair in query.split("&"))
    return f"{scheme}{sep}{netloc}{path}{qmark}{query}{hash_}{fragment}"


def _first(text: str, chars: str) -> int:
    """Index of the first of ``chars`` in ``text``, or its length."""
    return min((i for i in map(text.find, chars) if i >= 0), default=len(text))


def _mask_pair(pair: str) -> str:
    name, eq, value = pair.partition("=")
    if eq and value and name.strip().lower() in SECRET_QUERY_KEYS:
        return f"{name}={MASKED}"
    return pair
