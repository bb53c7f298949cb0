"""WAF detection on captured-style fixtures: what the session middleware reacts to, and what not."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Response, TextResponse

from cwo_scrapy.waf_detect import SNIFF_BYTES, Verdict, classify, classify_response

FIXTURES = Path(__file__).parent / "fixtures"
HTML = {"Content-Type": "text/html; charset=UTF-8"}
WAF_HEADERS = {"Cache-Control": "no-store, max-age=0", **HTML}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_202_challenge_interstitial_with_header_is_a_challenge() -> None:
    headers = {**WAF_HEADERS, "x-amzn-waf-action": "challenge"}
    assert classify(202, headers, fixture("challenge_202.html")) is Verdict.CHALLENGE


def test_empty_202_for_an_api_request_is_a_challenge() -> None:
    """Non-HTML requests get an empty body: detection must not depend on it."""
    headers = {**WAF_HEADERS, "x-amzn-waf-action": "challenge", "Content-Length": "0"}
    assert classify(202, headers, b"") is Verdict.CHALLENGE


def test_empty_202_without_the_header_is_still_a_challenge() -> None:
    """An intermediary may strip x-amzn-waf-action; an origin never answers a GET that way."""
    assert classify(202, HTML, b"") is Verdict.CHALLENGE


def test_202_interstitial_without_the_header_is_recognised_by_its_markers() -> None:
    assert classify(202, HTML, fixture("challenge_202.html")) is Verdict.CHALLENGE


def test_202_with_ordinary_content_is_not_a_challenge() -> None:
    assert classify(202, {"Content-Type": "application/json"}, b'{"queued":true}') is Verdict.NONE


def test_405_captcha_with_header_is_a_captcha() -> None:
    headers = {**WAF_HEADERS, "x-amzn-waf-action": "captcha", "server": "CloudFront"}
    assert classify(405, headers, fixture("captcha_405.html")) is Verdict.CAPTCHA


def test_405_captcha_page_without_header_is_a_captcha() -> None:
    assert classify(405, HTML, fixture("captcha_405.html")) is Verdict.CAPTCHA


def test_plain_405_from_the_application_is_not_a_captcha() -> None:
    body = b"<html><head><title>405 Method Not Allowed</title></head><body>POST only</body></html>"
    assert classify(405, {"Allow": "POST", **HTML}, body) is Verdict.NONE


def test_200_page_embedding_the_waf_sdk_is_not_a_challenge() -> None:
    """Normal pages load challenge.js in <head>; matching "awswaf" would stall every crawl."""
    assert classify(200, HTML, fixture("page_with_sdk_200.html")) is Verdict.NONE


def test_plain_403_is_a_block() -> None:
    assert classify(403, HTML, fixture("blocked_403.html")) is Verdict.BLOCK


def test_401_is_a_lost_session() -> None:
    body = b'{"error":"Invalid session"}'
    assert classify(401, {"Content-Type": "application/json"}, body) is Verdict.SESSION


def test_human_verification_title_on_a_200_page_is_a_wall() -> None:
    assert classify(200, HTML, fixture("human_verification_200.html")) is Verdict.TITLE_WALL


def test_human_verification_outside_the_title_or_in_json_is_not_a_wall() -> None:
    text = b"<html><head><title>FAQ</title></head><body>What is Human Verification?</body></html>"
    assert classify(200, HTML, text) is Verdict.NONE
    as_json = b'{"title": "<title>Human Verification</title>"}'
    assert classify(200, {"Content-Type": "application/json"}, as_json) is Verdict.NONE


def test_header_lookup_ignores_case_and_does_not_need_cloudfront() -> None:
    for headers in (
        {"X-Amzn-Waf-Action": "Challenge"},
        {b"x-amzn-waf-action": [b"challenge"]},
        {"x-amzn-waf-action": "challenge", "server": "awselb/2.0"},
    ):
        assert classify(202, headers, b"") is Verdict.CHALLENGE, headers


def test_header_wins_over_status() -> None:
    """A WAF answer with an unusual status is still a WAF answer, not a block."""
    assert classify(403, {"x-amzn-waf-action": "captcha"}, b"") is Verdict.CAPTCHA
    assert classify(200, {"x-amzn-waf-action": "challenge"}, b"") is Verdict.CHALLENGE


def test_only_the_first_bytes_of_a_body_are_inspected() -> None:
    """Bounded cost: a marker deep inside a large page is never searched for."""
    late_title = b" " * SNIFF_BYTES + b"<title>Human Verification</title>"
    assert classify(200, HTML, late_title) is Verdict.NONE
    assert classify(200, HTML, late_title[SNIFF_BYTES:]) is Verdict.TITLE_WALL


@pytest.mark.parametrize(
    ("response", "verdict"),
    [
        (
            HtmlResponse(
                "http://127.0.0.1/",
                status=202,
                headers={"x-amzn-waf-action": "challenge", **HTML},
                body=fixture("challenge_202.html"),
            ),
            Verdict.CHALLENGE,
        ),
        (
            Response(
                "http://127.0.0.1/api", status=202, headers={"x-amzn-waf-action": "challenge"}
            ),
            Verdict.CHALLENGE,
        ),
        (
            TextResponse(
                "http://127.0.0.1/x",
                status=200,
                headers=HTML,
                body=fixture("page_with_sdk_200.html"),
            ),
            Verdict.NONE,
        ),
    ],
)
def test_classify_response_reads_scrapy_responses(response: Response, verdict: Verdict) -> None:
    assert classify_response(response) is verdict
