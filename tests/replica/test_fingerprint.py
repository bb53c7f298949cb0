"""The replica interrogates the browser like AWS WAF: inconsistent clients get no token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cwo_scrapy.replica.fingerprint import refusal
from cwo_scrapy.replica.harness import ReplicaProcess, fetch
from cwo_scrapy.replica.powclient import browser_report, verify_body

Factory = Callable[..., ReplicaProcess]

DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.3 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)


def report(user_agent: str = DESKTOP, **changes: Any) -> dict[str, Any]:
    fingerprint = browser_report(user_agent)[0]
    fingerprint.update(changes)
    return fingerprint


def test_a_consistent_desktop_chrome_passes() -> None:
    assert refusal(report(), DESKTOP) is None


@pytest.mark.parametrize(
    ("fingerprint", "user_agent", "reason"),
    [
        (None, DESKTOP, "no_fingerprint"),
        (report(webdriver=True), DESKTOP, "webdriver"),
        (report(userAgent=DESKTOP.replace("156", "155")), DESKTOP, "ua_mismatch"),
        (
            report(DESKTOP.replace("Chrome/", "HeadlessChrome/")),
            DESKTOP.replace("Chrome/", "HeadlessChrome/"),
            "headless_ua",
        ),
        (report(platform="Linux x86_64"), DESKTOP, "platform_mismatch"),
        (  # a forced iPhone UA in desktop Chromium
            report(
                IPHONE,
                platform="Linux x86_64",
                userAgentData={"brands": [], "mobile": False, "platform": "Linux"},
            ),
            IPHONE,
            "platform_mismatch",
        ),
        (
            report(userAgentData={**report()["userAgentData"], "mobile": True}),
            DESKTOP,
            "ua_data_mismatch",
        ),
        (
            report(
                userAgentData={
                    **report()["userAgentData"],
                    "brands": [{"brand": "Chromium", "version": "141"}],
                }
            ),
            DESKTOP,
            "ua_data_mismatch",
        ),
        (report(ANDROID, maxTouchPoints=0), ANDROID, "no_touch"),
    ],
)
def test_each_inconsistency_is_refused_with_its_reason(
    fingerprint: Any, user_agent: str, reason: str
) -> None:
    assert refusal(fingerprint, user_agent) == reason


def _verify(rep: ReplicaProcess, user_agent: str, fingerprint: Any) -> tuple[int, dict]:
    headers = {"User-Agent": user_agent, **browser_report(user_agent)[1]}
    inputs = fetch(f"{rep.token_base}/inputs?client=browser", headers=headers).json()
    body = verify_body(inputs, user_agent, rep.hostname)
    body["fingerprint"] = fingerprint
    answer = fetch(f"{rep.token_base}/verify", headers=headers, data=json.dumps(body).encode())
    return answer.status, answer.json()


def test_the_token_service_refuses_an_inconsistent_browser_and_counts_why(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(waf="challenge")
    status, _ = _verify(rep, DESKTOP, report(webdriver=True))
    assert status == 400
    status, _ = _verify(rep, DESKTOP, report(platform="MacIntel"))
    assert status == 400
    status, answer = _verify(rep, DESKTOP, report())
    assert status == 200
    assert answer["token"]
    stats = rep.stats()
    assert stats["fingerprint_refused"] == {"webdriver": 1, "platform_mismatch": 1}
    assert stats["tokens_issued"] == 1


def test_no_fingerprint_check_issues_tokens_to_anything(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge", extra_args=["--no-fingerprint-check"])
    assert rep.info()["fingerprint_check"] is False
    status, answer = _verify(rep, DESKTOP, None)
    assert status == 200
    assert answer["token"]
    assert rep.stats()["fingerprint_refused"] == {}


def test_later_requests_must_send_the_client_hints_the_token_was_earned_with(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(waf="challenge")
    token = rep.mint_token(DESKTOP)
    hints = browser_report(DESKTOP)[1]
    base = {"User-Agent": DESKTOP, "Cookie": f"aws-waf-token={token}"}
    assert fetch(rep.site_url + "/", headers={**base, **hints}).status == 200
    other = {**hints, "sec-ch-ua-platform": '"macOS"'}
    assert fetch(rep.site_url + "/", headers={**base, **other}).status == 202
    assert fetch(rep.site_url + "/", headers=base).status == 202  # no hints at all
    stats = rep.stats()
    assert stats["fingerprint_refused"] == {"hints_mismatch": 2}
    assert stats["rejected_tokens"]["hints_mismatch"] == 2
