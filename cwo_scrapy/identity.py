"""The one browser identity a session shows: User-Agent, client hints and the headers around them.

AWS WAF tokens carry "indications of automation and browser setting inconsistencies", so the
resolver's Chromium and every Scrapy request must tell the same story: a current desktop Chrome,
never mobile, never ``HeadlessChrome``, whose ``sec-ch-ua*`` hints, ``navigator.platform`` and
``navigator.userAgentData`` agree with the UA string. Everything here is a pure function of the
UA (plus the local Chromium's version), so a session stored once is replayed identically by any
process or cluster worker.

Since Chrome's User-Agent reduction (Chrome 110+) a desktop Chrome UA is fully determined by its
OS and major version; the brand list follows Chrome's GREASE rules, seeded by the major version.
"""

from __future__ import annotations

import logging
import platform
import random
import re
import subprocess
from collections.abc import Mapping
from functools import cache
from typing import Any

from scrapy.settings import BaseSettings

from cwo_scrapy.useragent import choose_user_agent, is_usable_user_agent

__all__ = [
    "ACCEPT",
    "ACCEPT_LANGUAGE",
    "OS_CHOICES",
    "DesktopChromeProvider",
    "chrome_major",
    "client_hints",
    "desktop_chrome_ua",
    "hint_headers",
    "is_desktop_chrome",
    "local_chrome_major",
    "new_identity",
    "page_report",
    "pinned_user_agent",
    "request_headers",
    "user_agent_override",
]

logger = logging.getLogger(__name__)

#: What Chromium sends on a top-level navigation (measured on Debian's chromium 156).
ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/jxl,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
#: ``navigator.languages`` of the resolver's browser and the header Chrome derives from them.
LANGUAGES = ("en-US", "en")
ACCEPT_LANGUAGE = "en-US,en;q=0.9"

# OS -> (UA platform token, navigator.platform, Sec-CH-UA-Platform, platformVersion)
_OS: dict[str, tuple[str, str, str, str]] = {
    "windows": ("Windows NT 10.0; Win64; x64", "Win32", "Windows", "10.0.0"),
    "macos": ("Macintosh; Intel Mac OS X 10_15_7", "MacIntel", "macOS", "14.5.0"),
    "linux": ("X11; Linux x86_64", "Linux x86_64", "Linux", ""),
}
OS_CHOICES = ("host", "any", *_OS)
# fake-useragent's OS names for the desktop OSes we can present.
_FAKE_UA_OS = {"Windows": "windows", "Mac OS X": "macos", "Linux": "linux"}
#: Chrome major assumed when no local Chromium tells us (the capsolver/static resolvers).
DEFAULT_CHROME_MAJOR = 156
MAX_SKEW = 2  # majors a drawn UA may trail the resolving browser by

_CHROME = re.compile(r"\bChrome/(\d+)\.")
_MOBILE = re.compile(r"Mobile|Android|iPhone|iPad|iPod|CriOS|CrOS", re.IGNORECASE)
_NOT_CHROME = re.compile(r"HeadlessChrome|Edg/|EdgA/|OPR/|YaBrowser|SamsungBrowser|Electron")
_GREASE_CHARS = (" ", "(", ":", "-", ".", "/", ")", ";", "=", "?", "_")
_GREASE_VERSIONS = ("8", "99", "24")
_GREASE_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def chrome_major(user_agent: str) -> int | None:
    match = _CHROME.search(user_agent)
    return int(match.group(1)) if match else None


def is_desktop_chrome(user_agent: str) -> bool:
    """A Chrome UA for Windows, macOS or Linux: not mobile, not headless, not another brand."""
    return (
        chrome_major(user_agent) is not None
        and os_of(user_agent) is not None
        and not _MOBILE.search(user_agent)
        and not _NOT_CHROME.search(user_agent)
    )


def os_of(user_agent: str) -> str | None:
    """The desktop OS a UA names (``windows``/``macos``/``linux``), None for any other."""
    if "Windows NT" in user_agent:
        return "windows"
    if "Macintosh" in user_agent:
        return "macos"
    if "X11" in user_agent and "Linux" in user_agent and "Android" not in user_agent:
        return "linux"
    return None


def host_os() -> str:
    system = platform.system()
    return {"Windows": "windows", "Darwin": "macos"}.get(system, "linux")


def desktop_chrome_ua(os_name: str, major: int) -> str:
    """Chrome's reduced UA string for that desktop OS and major version."""
    return (
        f"Mozilla/5.0 ({_OS[os_name][0]}) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


def brands(major: int) -> list[tuple[str, str]]:
    """Google Chrome's brand list for a major version, GREASE brand included and ordered."""
    grease = (
        f"Not{_GREASE_CHARS[major % len(_GREASE_CHARS)]}A"
        f"{_GREASE_CHARS[(major + 1) % len(_GREASE_CHARS)]}Brand",
        _GREASE_VERSIONS[major % len(_GREASE_VERSIONS)],
    )
    out: list[tuple[str, str]] = [("", "")] * 3
    order = _GREASE_ORDERS[major % len(_GREASE_ORDERS)]
    out[order[0]] = grease
    out[order[1]] = ("Chromium", str(major))
    out[order[2]] = ("Google Chrome", str(major))
    return out


def client_hints(user_agent: str) -> dict[str, str]:
    """The low-entropy client hints Chrome sends with that UA; ``{}`` for a non-Chrome UA.

    A pinned Firefox or Safari UA sends no hints, like those browsers do.
    """
    major = chrome_major(user_agent)
    if major is None or _NOT_CHROME.search(user_agent):
        return {}
    mobile = bool(re.search(r"Mobile|Android", user_agent))
    os_name = os_of(user_agent)
    if os_name is not None:
        ch_platform = _OS[os_name][2]
    elif "Android" in user_agent:
        ch_platform = "Android"
    elif "CrOS" in user_agent:
        ch_platform = "Chrome OS"
    else:
        ch_platform = "Unknown"
    return {
        "sec-ch-ua": ", ".join(f'"{b}";v="{v}"' for b, v in brands(major)),
        "sec-ch-ua-mobile": "?1" if mobile else "?0",
        "sec-ch-ua-platform": f'"{ch_platform}"',
    }


def session_headers(user_agent: str) -> dict[str, str]:
    """Headers a session stores next to its UA: client hints, Accept-Language and Accept."""
    return {**client_hints(user_agent), "accept-language": ACCEPT_LANGUAGE, "accept": ACCEPT}


def request_headers(
    user_agent: str, stored: Mapping[str, str] | None
) -> tuple[tuple[bytes, bytes], ...]:
    """The identity headers every request carries, as bytes (a session from before hints were
    stored gets them derived from its UA). Accept is left out: requests choose their own."""
    headers = stored or session_headers(user_agent)
    return tuple(
        (name.encode(), value.encode("utf-8"))
        for name, value in headers.items()
        if name != "accept"
    )


def _parse_brands(sec_ch_ua: str) -> list[dict[str, str]]:
    return [
        {"brand": brand, "version": version}
        for brand, version in re.findall(r'"([^"]*)";v="([^"]*)"', sec_ch_ua)
    ]


def user_agent_override(user_agent: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    """``Emulation.setUserAgentOverride`` parameters that make Chromium show this identity.

    ``navigator.platform``, ``navigator.userAgentData`` and the hints the browser sends come
    from the session's stored hints, so the browser says exactly what Scrapy says.
    """
    hints = dict(headers or session_headers(user_agent))
    params: dict[str, Any] = {
        "userAgent": user_agent,
        "acceptLanguage": ",".join(LANGUAGES),
    }
    os_name = os_of(user_agent)
    if os_name is not None:
        params["platform"] = _OS[os_name][1]
    if "sec-ch-ua" in hints:
        major = chrome_major(user_agent) or 0
        ch_platform = hints.get("sec-ch-ua-platform", '""').strip('"')
        params["userAgentMetadata"] = {
            "brands": _parse_brands(hints["sec-ch-ua"]),
            "fullVersion": f"{major}.0.0.0",
            "platform": ch_platform,
            "platformVersion": _OS[os_name][3] if os_name else "",
            "architecture": "x86",
            "model": "",
            "mobile": hints.get("sec-ch-ua-mobile") == "?1",
            "bitness": "64",
            "wow64": False,
        }
    return params


def page_report(user_agent: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a page's script sees of a Chrome showing this identity (the WAF's fingerprint).

    For clients that speak to the token service without a browser (a solver's voucher redeemed
    in Python): they present the browser that will carry the token, consistent by construction.
    """
    override = user_agent_override(user_agent, headers)
    metadata = override.get("userAgentMetadata")
    mobile = bool(re.search(r"Mobile|Android|iPhone|iPod", user_agent))
    return {
        "webdriver": False,
        "userAgent": user_agent,
        "platform": override.get("platform", "Linux armv8l" if "Android" in user_agent else ""),
        "userAgentData": None
        if metadata is None
        else {k: metadata[k] for k in ("brands", "mobile", "platform")},
        "maxTouchPoints": 5 if mobile else 0,
        "languages": list(LANGUAGES),
        "screen": {"width": 1920, "height": 1080},
    }


def hint_headers(user_agent: str, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Just the client hints of an identity (the stored ones, else derived from the UA)."""
    stored = headers if headers is not None else client_hints(user_agent)
    return {k: v for k, v in stored.items() if k.startswith("sec-ch-")}


@cache
def local_chrome_major(executable: str | None) -> int | None:
    """Major version of the Chromium at ``executable`` (``chromium --version``), or None."""
    if not executable:
        return None
    try:
        out = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\b(\d{2,4})\.\d+\.\d+", out)
    return int(match.group(1)) if match else None


@cache
def _fake_ua_desktop_chrome() -> list[dict[str, Any]]:
    """fake-useragent 2.x's desktop Chrome entries for Windows, macOS and Linux (loaded once)."""
    from fake_useragent import UserAgent

    data = UserAgent(browsers=["Chrome"], os=list(_FAKE_UA_OS), platforms=["desktop"]).data_browsers
    return [
        d
        for d in data
        if d.get("browser") == "Chrome"
        and d.get("os") in _FAKE_UA_OS
        and is_desktop_chrome(d.get("useragent", ""))
    ]


class DesktopChromeProvider:
    """scrapy-fake-useragent provider: a desktop Chrome UA matching the resolving browser.

    The major version is the local Chromium's (``CWO_BROWSER_EXECUTABLE``) exactly when the
    ``browser`` resolver runs it, else within :data:`MAX_SKEW` majors below it. The OS is
    ``CWO_USER_AGENT_OS``: ``host`` (default), ``windows``, ``macos``, ``linux`` or ``any``
    (drawn with fake-useragent's shares of desktop Chrome). fake-useragent 2.x's own strings are
    used when its data reaches that version; otherwise Chrome's reduced UA for the OS is built.
    """

    def __init__(self, settings: BaseSettings) -> None:
        self.settings = settings
        from cwo_scrapy.resolvers import resolver_setting  # CWO_SESSION_RESOLVER or its old name

        resolver = resolver_setting(settings).lower()
        local = local_chrome_major(settings.get("CWO_BROWSER_EXECUTABLE") or None)
        self.major = local or DEFAULT_CHROME_MAJOR
        self.skew = 0 if resolver == "browser" else MAX_SKEW
        self.os_choice = str(settings.get("CWO_USER_AGENT_OS") or "host").strip().lower()
        self.rng = random.Random()

    def _desktop_chrome(self) -> list[dict[str, Any]]:
        return _fake_ua_desktop_chrome()

    def _os(self, entries: list[dict[str, Any]]) -> str:
        if self.os_choice in _OS:
            return self.os_choice
        if self.os_choice == "any":
            weights: dict[str, float] = {}
            for entry in entries:
                name = _FAKE_UA_OS[entry["os"]]
                weights[name] = weights.get(name, 0.0) + float(entry.get("percent") or 0.0)
            if weights:
                names = sorted(weights)
                return self.rng.choices(names, [weights[n] for n in names])[0]
        return host_os()

    def get_random_ua(self) -> str:
        entries = self._desktop_chrome()
        os_name = self._os(entries)
        lo, hi = self.major - self.skew, self.major
        fitting = [
            d["useragent"]
            for d in entries
            if _FAKE_UA_OS[d["os"]] == os_name and lo <= (chrome_major(d["useragent"]) or 0) <= hi
        ]
        if fitting:
            return self.rng.choice(fitting)
        return desktop_chrome_ua(os_name, self.rng.randint(lo, hi))


def pinned_user_agent(settings: BaseSettings) -> str | None:
    """The UA the user pinned: ``CWO_USER_AGENT``, or ``USER_AGENT`` when set explicitly.

    ``USER_AGENT`` counts as explicit above project priority (``-s``, a spider's
    ``custom_settings``) or when it differs from the shipped value, so the project's own default
    never pins anything.
    """
    value = str(settings.get("CWO_USER_AGENT") or "").strip()
    if value:
        return value
    from cwo_scrapy import settings as shipped

    user_agent = settings.get("USER_AGENT")
    priority = settings.getpriority("USER_AGENT") or 0
    explicit = priority > 20 or user_agent != getattr(shipped, "USER_AGENT", None)
    if explicit and is_usable_user_agent(user_agent) and priority > 0:
        return str(user_agent).strip()
    return None


def new_identity(settings: BaseSettings) -> tuple[str, dict[str, str]]:
    """UA and stored headers for a new session: the pinned UA, else a provider's desktop Chrome.

    A provider that hands out a mobile, headless or non-Chrome UA is overruled (with a warning)
    by :class:`DesktopChromeProvider`: the resolver's Chromium could not present it consistently.
    """
    user_agent = pinned_user_agent(settings)
    if user_agent is None:
        user_agent = choose_user_agent(settings)
        if not is_desktop_chrome(user_agent):
            logger.warning(
                "User-Agent %r is not a desktop Chrome UA; a WAF would see it disagree with the "
                "browser. Using the project's DesktopChromeProvider instead.",
                user_agent,
            )
            user_agent = DesktopChromeProvider(settings).get_random_ua()
    return user_agent, session_headers(user_agent)
