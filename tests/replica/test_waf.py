"""Unit tests of the replica's WAF core: token format and validation, gokuProps, interstitials,
and the pure-Python proof-of-work client the fake solver and the test helpers share."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from cwo_scrapy.replica.powclient import (
    checksum_for,
    endpoint_of,
    leading_zero_bits,
    parse_interstitial,
    pow_ok,
    solve_hashcash,
)
from cwo_scrapy.replica.waf import Stats, Waf, WafConfig, ua_hash

HOST = "127.0.0.1"
UA = "Mozilla/5.0 (X11; Linux x86_64) cwo-scrapy-tests"
TOKEN_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}:[^:]{16}:[A-Za-z0-9+/=]+$"
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def waf(clock: Clock) -> Waf:
    w = Waf(WafConfig(mode="challenge", token_ttl=300.0), Stats(), clock=clock)
    w.token_base = "http://127.0.0.1:9/aaaaaaaaaaaa/bbbbbbbbbbbb/cccccccccccc"
    w.captcha_base = "http://127.0.0.1:9/captcha/aaaaaaaaaaaa/bbbbbbbbbbbb/cccccccccccc"
    return w


def issue(
    waf: Waf, clock: Clock, *, captcha: bool = False, ua: str = UA, domain: str = HOST
) -> str:
    return waf.issue_token(
        domain, ua, challenge_ts=clock.now, captcha_ts=clock.now if captcha else 0.0
    )


def test_token_has_the_real_shape_and_is_accepted_for_its_host_and_user_agent(
    waf: Waf, clock: Clock
) -> None:
    token = issue(waf, clock)
    assert TOKEN_RE.match(token)
    assert waf.check(token, HOST, UA)[0] is None
    assert waf.stats.tokens_issued == 1


@pytest.mark.parametrize(
    "bad",
    ["", "garbage", "a:b:c", "not-a-uuid:AAAAAAAAAAAAAAAA:AAAA", "x" * 6000],
)
def test_malformed_tokens_are_rejected_as_malformed_or_absent(waf: Waf, bad: str) -> None:
    reason, _ = waf.check(bad, HOST, UA)
    assert reason == ("absent" if bad == "" else "malformed")


def test_tampered_or_foreign_tokens_fail_the_signature_check(waf: Waf, clock: Clock) -> None:
    token = issue(waf, clock)
    tid, middle, blob = token.split(":")
    raw = bytearray(base64.b64decode(blob))
    payload_end = len(raw) - 32
    tampered_payload = bytes(raw[:payload_end]).replace(b'"d":"127.0.0.1"', b'"d":"127.0.0.2"')
    forged = base64.b64encode(tampered_payload + bytes(raw[payload_end:])).decode()
    assert waf.check(f"{tid}:{middle}:{forged}", HOST, UA)[0] == "bad_signature"
    # A token signed by another replica process (another secret) is not ours.
    other = Waf(WafConfig(mode="challenge"), Stats(), clock=clock)
    assert waf.check(issue(other, clock), HOST, UA)[0] == "bad_signature"
    # Swapping the uuid of a valid token breaks the binding between the parts.
    other_id = "0f0e0d0c-0b0a-4908-8706-050403020100"
    assert waf.check(f"{other_id}:{middle}:{blob}", HOST, UA)[0] == "bad_signature"


def test_token_is_bound_to_the_user_agent_unless_binding_is_off(waf: Waf, clock: Clock) -> None:
    token = issue(waf, clock)
    assert waf.check(token, HOST, "curl/8.0")[0] == "ua_mismatch"
    waf.config.ua_binding = False
    assert waf.check(token, HOST, "curl/8.0")[0] is None


def test_token_for_another_host_is_rejected_unless_the_domain_list_covers_it(
    waf: Waf, clock: Clock
) -> None:
    token = issue(waf, clock, domain="example.com")
    assert waf.check(token, "www.example.com", UA)[0] == "wrong_domain"
    waf.config.cookie_domain_list = ("example.com",)
    assert waf.check(token, "www.example.com", UA)[0] is None
    assert waf.check(token, "www.other.com", UA)[0] == "wrong_domain"


def test_token_expires_after_the_immunity_time(waf: Waf, clock: Clock) -> None:
    waf.config.token_ttl = 2.0
    token = issue(waf, clock)
    clock.now += 2.0
    assert waf.check(token, HOST, UA)[0] is None
    clock.now += 0.01
    assert waf.check(token, HOST, UA)[0] == "expired"


def test_revocation_rejects_every_earlier_token_but_not_later_ones(waf: Waf, clock: Clock) -> None:
    before = [issue(waf, clock) for _ in range(3)]
    waf.revoke_all()
    after = issue(waf, clock)
    assert {waf.check(t, HOST, UA)[0] for t in before} == {"revoked"}
    assert waf.check(after, HOST, UA)[0] is None


def test_captcha_mode_needs_a_solved_captcha_within_the_immunity_time(
    waf: Waf, clock: Clock
) -> None:
    challenge_only = issue(waf, clock)
    solved = issue(waf, clock, captcha=True)
    assert waf.check(challenge_only, HOST, UA, "captcha")[0] == "captcha_missing"
    assert waf.check(solved, HOST, UA, "captcha")[0] is None
    clock.now += 301
    assert waf.check(solved, HOST, UA, "captcha")[0] == "expired"


def test_gokuprops_are_fresh_per_response_and_their_context_goes_stale(
    waf: Waf, clock: Clock
) -> None:
    first, second = waf.goku_props("/"), waf.goku_props("/")
    assert first != second
    assert first["key"].startswith("AQIDAH")
    assert len(first["iv"]) == 16
    assert waf.check_context(first["context"]) is None
    assert waf.check_context(first["context"][:-8] + "AAAAAAA=") == "malformed"
    clock.now += waf.config.context_ttl + 1
    assert waf.check_context(first["context"]) == "stale"


def test_challenge_interstitial_has_the_observable_structure_of_aws(waf: Waf) -> None:
    html = waf.render_interstitial(captcha=False, path="/")
    page = parse_interstitial(html)
    assert page is not None
    assert not page.is_captcha
    assert page.challenge_js == waf.token_base + "/challenge.js"
    assert endpoint_of(page.challenge_js) == waf.token_base
    assert re.search(r"127\.0\.0\.1:\d+/\w{12}/\w{12}/\w{12}/challenge\.js", page.challenge_js)
    assert "window.awsWafCookieDomainList = [];" in html
    assert '<div id="challenge-container">' in html
    assert "AwsWafIntegration.checkForceRefresh()" in html
    assert "verify that you're not a robot" in html
    assert "<title></title>" in html


def test_captcha_interstitial_is_titled_human_verification_and_loads_captcha_js(
    waf: Waf,
) -> None:
    html = waf.render_interstitial(captcha=True, path="/")
    page = parse_interstitial(html)
    assert page is not None
    assert page.is_captcha
    assert page.captcha_js == waf.captcha_base + "/captcha.js"
    assert "<title>Human Verification</title>" in html
    assert '<div id="captcha-container">' in html
    assert "CaptchaScript.renderCaptcha" in html
    assert "ChallengeScript.submitCaptcha" in html


def test_a_normal_page_is_not_taken_for_an_interstitial() -> None:
    assert parse_interstitial("<html><head><title>Wheels</title></head></html>") is None


def test_hashcash_solution_is_the_smallest_nonce_with_enough_zero_bits() -> None:
    inp, checksum = "eyJ2ZXJzaW9uIjoxfQ==", checksum_for(UA)
    solution = solve_hashcash(inp, checksum, 10)
    assert pow_ok(inp, checksum, solution, 10)
    assert not any(pow_ok(inp, checksum, str(n), 10) for n in range(int(solution)))
    digest = hashlib.sha256(f"{inp}{checksum}{solution}".encode()).digest()
    assert leading_zero_bits(digest) >= 10


def test_leading_zero_bits_counts_bits_not_bytes() -> None:
    assert leading_zero_bits(b"\x00\x00\x01") == 23
    assert leading_zero_bits(b"\x80") == 0
    assert leading_zero_bits(b"\x0f") == 4


def test_counters_snapshot_is_json_and_derives_status_totals() -> None:
    stats = Stats()
    stats.by_status.update({401: 2, 403: 1, 503: 4})
    stats.count_path("/")
    snap = json.loads(json.dumps(stats.snapshot()))
    assert snap["status_401"] == 2
    assert snap["status_403"] == 1
    assert snap["status_5xx"] == 4
    assert snap["by_path"] == {"/": 1}
    assert ua_hash(UA) == hashlib.sha256(UA.encode()).hexdigest()
