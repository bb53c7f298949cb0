"""Pure-Python client of the replica's token service: the way public solvers mint tokens.

Shared by the fake CapSolver (async, aiohttp) and the test helpers (sync, urllib): parse an
interstitial, fetch ``inputs``, solve the HashcashSHA256 proof of work, ``verify`` for a token,
and for the CAPTCHA variant get a voucher and exchange it at ``voucher``. The protocol logic is
in pure functions; the two transports only move JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from itertools import count
from typing import Any

import aiohttp

HASHCASH_SHA256 = "h7b0c470f0cfe3a80a9e26526ad185f484f6817d0832712a4a37a908786a6a67f"
HASHCASH_SCRYPT = "h72f957df656e80ba55f5d8ce2e8c7ccb59687dba3bfb273d54b08a261b2f3002"
NETWORK_BANDWIDTH = "ha9faaffd31b4d5ede2a2e19d2d7fd525f66fee61911511960dcbb52d3c48ce25"
TEXT_PLAIN = "text/plain;charset=UTF-8"


class TokenServiceError(RuntimeError):
    """The token service refused a step (the message never contains a token)."""


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_ok(input_: str, checksum: str, solution: str, difficulty: int) -> bool:
    digest = hashlib.sha256(f"{input_}{checksum}{solution}".encode()).digest()
    return leading_zero_bits(digest) >= difficulty


def solve_hashcash(input_: str, checksum: str, difficulty: int) -> str:
    """Smallest decimal nonce whose ``sha256(input + checksum + nonce)`` has enough zero bits."""
    prefix = hashlib.sha256(f"{input_}{checksum}".encode())
    for nonce in count():
        h = prefix.copy()
        h.update(str(nonce).encode())
        if leading_zero_bits(h.digest()) >= difficulty:
            return str(nonce)
    raise AssertionError("unreachable")


def checksum_for(user_agent: str) -> str:
    """Stand-in for the fingerprint checksum real clients send: CRC32, 8 upper-case hex chars."""
    return f"{zlib.crc32(user_agent.encode()):08X}"


def browser_report(user_agent: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The fingerprint and client-hint headers a Chrome showing ``user_agent`` would present.

    Solvers emulate the crawler's browser: they run it with the crawler's identity (the same
    CDP override as the browser resolver), so their report is consistent by construction.
    """
    from cwo_scrapy.identity import hint_headers, page_report

    return page_report(user_agent), hint_headers(user_agent)


def verify_body(
    inputs: dict[str, Any], user_agent: str, domain: str, existing_token: str | None = None
) -> dict[str, Any]:
    """The ``/verify`` request body for an ``/inputs`` answer, with the real field names."""
    if inputs.get("challenge_type") != HASHCASH_SHA256:
        raise TokenServiceError(f"unsupported challenge type {inputs.get('challenge_type')!r}")
    challenge = inputs["challenge"]
    checksum = checksum_for(user_agent)
    solution = solve_hashcash(challenge["input"], checksum, int(inputs["difficulty"]))
    return {
        "challenge": challenge,
        "checksum": checksum,
        "solution": solution,
        "signals": [{"name": "KramerAndRio", "value": {"Present": "cHl0aG9u::00::00"}}],
        "existing_token": existing_token,
        "client": "Browser",
        "domain": domain,
        "fingerprint": browser_report(user_agent)[0],
        "metrics": [{"name": "2", "value": 1.0, "unit": "2"}],
    }


def captcha_answer(problem: dict[str, Any]) -> dict[str, Any]:
    """Answer to the replica's CAPTCHA ``problem`` (a sum the widget shows after Begin)."""
    puzzle = problem["problem"]
    if puzzle.get("type") != "sum":
        raise TokenServiceError(f"unsupported captcha problem {puzzle.get('type')!r}")
    return {"state": problem["state"], "solution": str(sum(int(x) for x in puzzle["operands"]))}


@dataclass(frozen=True, slots=True)
class Interstitial:
    """What a solver needs from a WAF interstitial page."""

    key: str
    iv: str
    context: str
    challenge_js: str
    captcha_js: str | None
    cookie_domains: list[str]

    @property
    def is_captcha(self) -> bool:
        return self.captcha_js is not None


_GOKU = re.compile(r"window\.gokuProps\s*=\s*(\{.*?\})\s*;", re.S)
_DOMAINS = re.compile(r"window\.awsWafCookieDomainList\s*=\s*(\[.*?\])\s*;", re.S)
_SCRIPT = re.compile(r"""<script[^>]+src=["']([^"']+/(challenge|captcha)\.js)["']""")


def parse_interstitial(html: str) -> Interstitial | None:
    """gokuProps, domain list and script URLs of an interstitial; None for any other page."""
    goku = _GOKU.search(html)
    scripts = {kind: url for url, kind in _SCRIPT.findall(html)}
    if goku is None or "challenge" not in scripts:
        return None
    props = json.loads(goku.group(1))
    domains = _DOMAINS.search(html)
    return Interstitial(
        key=props["key"],
        iv=props["iv"],
        context=props["context"],
        challenge_js=scripts["challenge"],
        captcha_js=scripts.get("captcha"),
        cookie_domains=json.loads(domains.group(1)) if domains else [],
    )


def endpoint_of(script_url: str) -> str:
    """Endpoint base = everything before ``/challenge.js`` or ``/captcha.js``."""
    return script_url.rsplit("/", 1)[0]


# -- async transport (fake CapSolver) -------------------------------------------------------------
async def _post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], user_agent: str
) -> dict[str, Any]:
    headers = {
        "Content-Type": TEXT_PLAIN,
        "User-Agent": user_agent,
        **browser_report(user_agent)[1],
    }
    async with session.post(url, data=json.dumps(body), headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status != 200:
            raise TokenServiceError(f"{url.rsplit('/', 1)[-1]}: HTTP {resp.status} {data}")
        return data


async def mint_token_async(
    session: aiohttp.ClientSession,
    token_base: str,
    domain: str,
    user_agent: str,
    existing_token: str | None = None,
) -> str:
    async with session.get(
        f"{token_base}/inputs?client=browser", headers={"User-Agent": user_agent}
    ) as resp:
        if resp.status != 200:
            raise TokenServiceError(f"inputs: HTTP {resp.status}")
        inputs = await resp.json(content_type=None)
    body = verify_body(inputs, user_agent, domain, existing_token)
    return (await _post_json(session, f"{token_base}/verify", body, user_agent))["token"]


async def captcha_token_async(
    session: aiohttp.ClientSession,
    captcha_base: str,
    token_base: str,
    user_agent: str,
    existing_token: str | None,
) -> str:
    async with session.get(f"{captcha_base}/problem", headers={"User-Agent": user_agent}) as resp:
        if resp.status != 200:
            raise TokenServiceError(f"problem: HTTP {resp.status}")
        problem = await resp.json(content_type=None)
    answer = await _post_json(
        session, f"{captcha_base}/verify", captcha_answer(problem), user_agent
    )
    body = {
        "captcha_voucher": answer["captcha_voucher"],
        "existing_token": existing_token,
        "fingerprint": browser_report(user_agent)[0],
    }
    return (await _post_json(session, f"{token_base}/voucher", body, user_agent))["token"]


# -- sync transport (tests, benchmarks) -------------------------------------------------------
def _sync(
    url: str, user_agent: str, body: dict[str, Any] | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"User-Agent": user_agent, **browser_report(user_agent)[1]}
    req = urllib.request.Request(url, data=data, headers=headers)
    if data is not None:
        req.add_header("Content-Type", TEXT_PLAIN)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise TokenServiceError(f"{url.rsplit('/', 1)[-1]}: HTTP {exc.code}") from None


def mint_token_sync(
    token_base: str,
    domain: str,
    user_agent: str,
    *,
    captcha_base: str | None = None,
    existing_token: str | None = None,
) -> str:
    """A token bound to ``user_agent``; with ``captcha_base`` also a solved CAPTCHA."""
    inputs = _sync(f"{token_base}/inputs?client=browser", user_agent)
    body = verify_body(inputs, user_agent, domain, existing_token)
    token = _sync(f"{token_base}/verify", user_agent, body)["token"]
    if captcha_base is None:
        return token
    problem = _sync(f"{captcha_base}/problem", user_agent)
    voucher = _sync(f"{captcha_base}/verify", user_agent, captcha_answer(problem))
    body = {
        "captcha_voucher": voucher["captcha_voucher"],
        "existing_token": token,
        "fingerprint": browser_report(user_agent)[0],
    }
    return _sync(f"{token_base}/voucher", user_agent, body)["token"]
