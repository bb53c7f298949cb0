"""The replica WAF's browser interrogation: is the client that solved the challenge consistent?

AWS documents that its tokens carry "indications of automation and browser setting
inconsistencies". ``challenge.js`` reports what the page sees (``navigator.webdriver``,
``userAgent``, ``platform``, ``userAgentData``, touch points, languages, window and screen);
:func:`refusal` names the first inconsistency, and the token service then issues no token. The
client hints a token was earned with are sealed into it (:func:`hints_digest`); a later request
whose hints disagree is treated like a request without a token.

This module parses User-Agents on its own (it does not share the crawler's identity code), so a
mistake there cannot make both sides agree by accident.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["HINT_HEADERS", "REASONS", "hints_digest", "refusal"]

HINT_HEADERS = ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")
REASONS = (
    "no_fingerprint",
    "webdriver",
    "ua_mismatch",
    "headless_ua",
    "platform_mismatch",
    "ua_data_mismatch",
    "no_touch",
    "hints_mismatch",
)

# UA's OS -> accepted navigator.platform prefixes, and userAgentData.platform.
_PLATFORMS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "windows": (("Win",), "Windows"),
    "macos": (("Mac",), "macOS"),
    "linux": (("Linux",), "Linux"),
    "android": (("Linux", "Android"), "Android"),
    "chromeos": (("Linux", "CrOS"), "Chrome OS"),
    "ios": (("iPhone", "iPad", "iPod"), None),
}
_CHROME_MAJOR = re.compile(r"\b(?:Chrome|CriOS)/(\d+)")
_CHROMIUM_BRANDS = ("Chromium", "Google Chrome")


def ua_os(user_agent: str) -> str | None:
    if re.search(r"iPhone|iPad|iPod", user_agent):
        return "ios"
    if "Android" in user_agent:
        return "android"
    if "CrOS" in user_agent:
        return "chromeos"
    if "Windows" in user_agent:
        return "windows"
    if "Macintosh" in user_agent or "Mac OS X" in user_agent:
        return "macos"
    if "Linux" in user_agent or "X11" in user_agent:
        return "linux"
    return None


def ua_is_mobile(user_agent: str) -> bool:
    return bool(re.search(r"Mobile|Android|iPhone|iPod", user_agent))


def refusal(fingerprint: object, user_agent: str) -> str | None:
    """The first inconsistency between the page's report and the request's UA, or None."""
    if not isinstance(fingerprint, Mapping):
        return "no_fingerprint"
    fp: Mapping[str, Any] = fingerprint
    if fp.get("webdriver") is True:
        return "webdriver"
    if fp.get("userAgent") != user_agent:
        return "ua_mismatch"
    if "HeadlessChrome" in user_agent:
        return "headless_ua"
    os_name = ua_os(user_agent)
    prefixes, data_platform = _PLATFORMS.get(os_name or "", ((), None))
    platform = fp.get("platform")
    if prefixes and not (isinstance(platform, str) and platform.startswith(prefixes)):
        return "platform_mismatch"
    data = fp.get("userAgentData")
    if isinstance(data, Mapping):
        if os_name is not None and data.get("platform") != (data_platform or ""):
            return "platform_mismatch"
        if bool(data.get("mobile")) != ua_is_mobile(user_agent):
            return "ua_data_mismatch"
        match = _CHROME_MAJOR.search(user_agent)
        brands = data.get("brands") if isinstance(data.get("brands"), list) else []
        versions = {
            str(b.get("version"))
            for b in brands
            if isinstance(b, Mapping) and b.get("brand") in _CHROMIUM_BRANDS
        }
        if match and versions != {match.group(1)}:
            return "ua_data_mismatch"
    if ua_is_mobile(user_agent) and not fp.get("maxTouchPoints"):
        return "no_touch"
    return None


def hints_digest(headers: Mapping[str, str]) -> str:
    """A short digest of a request's low-entropy client hints (absent hints count as empty)."""
    text = "\n".join(headers.get(name, "").strip() for name in HINT_HEADERS)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
