"""Classify a response as a session/WAF problem, as a pure function of status, headers and body.

Follows the signal order of ``docs/aws-waf.md`` §3.1: the ``x-amzn-waf-action`` header first (it
is documented by AWS and present on both the HTML and the empty-body variants), then the
status + body pairs AWS uses (202 challenge, 405 captcha), then the exact "Human Verification"
title. Body markers are looked at only when the status or header already points at the WAF, so a
normal 200 page that embeds ``challenge.js`` in its ``<head>`` (the SDK integration) is never
mistaken for a challenge, and a plain 405 from the application is not a captcha. Nothing depends
on ``server: CloudFront`` (WAF on ALB or API Gateway does not send it).

Bodies are inspected only within the first :data:`SNIFF_BYTES` bytes, so the hot path (a 200
JSON/HTML answer) costs one header lookup and at most one bounded ``bytes.find``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.http import Response

__all__ = ["SNIFF_BYTES", "Verdict", "classify", "classify_response"]

SNIFF_BYTES = 8192
"""How much of a body is ever searched: interstitials are a few KB and their markers sit early."""


class Verdict(enum.Enum):
    """What the session middleware should do about a response."""

    NONE = "none"  # a normal answer
    CHALLENGE = "challenge"  # AWS WAF silent challenge (202 + x-amzn-waf-action: challenge)
    CAPTCHA = "captcha"  # AWS WAF captcha (405 + x-amzn-waf-action: captcha)
    BLOCK = "block"  # plain 403: blocked (e.g. rate-based rule), a new token may help
    SESSION = "session"  # 401: the PHP session is missing or expired
    TITLE_WALL = "title_wall"  # any other status whose page is titled "Human Verification"

    @property
    def is_waf(self) -> bool:
        """True for verdicts that a fresh ``aws-waf-token`` resolves."""
        return self in (Verdict.CHALLENGE, Verdict.CAPTCHA, Verdict.TITLE_WALL, Verdict.BLOCK)


_ACTION_HEADER = "x-amzn-waf-action"
_ACTION_HEADER_B = _ACTION_HEADER.encode()
_CT = "Content-Type"
# Markers of an AWS WAF interstitial; any one is enough once status/header point at the WAF.
_INTERSTITIAL_MARKERS = (
    b"gokuProps",
    b"awsWafCookieDomainList",
    b"AwsWafIntegration",
    b"CaptchaScript",
    b"challenge-container",
    b"captcha-container",
)
_CAPTCHA_MARKERS = (b"CaptchaScript", b"captcha-container", b"captcha.js")
_TITLE_RE = re.compile(rb"<title[^>]*>\s*Human Verification\s*</title>", re.IGNORECASE)
_TITLE_NEEDLE = b"Human Verification"


def _header(headers: Mapping[Any, Any], name: str) -> str | None:
    """Case-insensitive single-value lookup over str/bytes keyed mappings (Scrapy or plain)."""
    value: Any = None
    getter = getattr(headers, "get", None)
    if getter is not None:
        # Scrapy's Headers and most HTTP header maps are case-insensitive already.
        value = getter(name)
        if value is None:
            value = getter(name.encode("latin-1"))
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            key_text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
            if key_text.lower() == lowered:
                value = candidate
                break
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        value = value[0]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _has_marker(head: bytes, markers: tuple[bytes, ...]) -> bool:
    return any(marker in head for marker in markers)


def _has_wall_title(body: bytes) -> bool:
    """The "Human Verification" title within the first SNIFF_BYTES, without copying the body.

    The C-level ``find`` rules out almost every page before the regex runs.
    """
    if body.find(_TITLE_NEEDLE, 0, SNIFF_BYTES) < 0:
        return False
    return _TITLE_RE.search(body, 0, SNIFF_BYTES) is not None


def classify(status: int, headers: Mapping[Any, Any], body: bytes) -> Verdict:
    """Return the :class:`Verdict` for one HTTP answer.

    ``headers`` may be Scrapy ``Headers`` (bytes keys and list values), a ``dict`` of str, or any
    mapping; ``body`` is the (decompressed) body, of which only the first
    :data:`SNIFF_BYTES` bytes are read.
    """
    return _classify(status, _header(headers, _ACTION_HEADER), lambda: _header(headers, _CT), body)


def _classify(
    status: int, action: str | None, content_type: Callable[[], str | None], body: bytes
) -> Verdict:
    """The decision itself; ``content_type`` is only called for the title check."""
    if action is not None:
        action = action.strip().lower()
        if action == "captcha":
            return Verdict.CAPTCHA
        if action == "challenge":
            return Verdict.CHALLENGE
        # Unknown action values still mean "the WAF answered instead of the origin".
        if status == 405:
            return Verdict.CAPTCHA
        return Verdict.CHALLENGE

    if status == 401:
        return Verdict.SESSION
    if status == 403:
        return Verdict.BLOCK

    if status in (202, 405):
        head = body[:SNIFF_BYTES]
        if status == 202 and not head.strip():
            # An empty 202 is how the WAF answers non-HTML requests when the header was stripped
            # by an intermediary; an origin has no reason to send one to a GET.
            return Verdict.CHALLENGE
        if _has_marker(head, _INTERSTITIAL_MARKERS) or _has_wall_title(head):
            if status == 405 or _has_marker(head, _CAPTCHA_MARKERS):
                return Verdict.CAPTCHA
            return Verdict.CHALLENGE
        return Verdict.NONE  # e.g. a plain 405 from the application

    if body and _has_wall_title(body) and _is_html(content_type()):
        return Verdict.TITLE_WALL
    return Verdict.NONE


def _is_html(content_type: str | None) -> bool:
    # No Content-Type: a wall page without one is still a wall page.
    return content_type is None or "html" in content_type.lower()


def classify_response(response: Response) -> Verdict:
    """:func:`classify` for a Scrapy response (after HttpCompressionMiddleware decompressed it).

    The hot path of the session middleware: one case-insensitive header lookup for a normal
    answer, plus a bounded substring search for 200 bodies.
    """
    headers = response.headers
    action = headers.get(_ACTION_HEADER_B)

    def content_type() -> str | None:
        value = headers.get(b"Content-Type")
        return None if value is None else value.decode("latin-1")

    return _classify(
        response.status,
        None if action is None else action.decode("latin-1"),
        content_type,
        response.body,
    )
