"""The replica over real HTTP: WAF transitions, rejections, faults, counters and control plane.

Every test talks to a replica subprocess (``replica_factory``) the way a crawler would.
"""

from __future__ import annotations

import http.client
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from cwo_scrapy.replica import truth
from cwo_scrapy.replica.harness import HttpResult, ReplicaError, ReplicaProcess, fetch
from cwo_scrapy.replica.powclient import browser_report, parse_interstitial
from cwo_scrapy.urls import CwoUrls, item_url_args

UA = "Mozilla/5.0 (X11; Linux x86_64) cwo-scrapy-tests/1.0"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
Factory = Callable[..., ReplicaProcess]


def get(
    url: str, *, token: str | None = None, ua: str = UA, accept: str = "*/*", header: bool = False
) -> HttpResult:
    # A browser sends the client hints of its UA, as it did when it earned the token.
    headers = {"User-Agent": ua, "Accept": accept, **browser_report(ua)[1]}
    if token and header:
        headers["x-aws-waf-token"] = token
    elif token:
        headers["Cookie"] = f"aws-waf-token={token}"
    return fetch(url, headers=headers)


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    return fetch(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    ).json()


def assert_waf_action(resp: HttpResult, status: int, action: str) -> None:
    assert resp.status == status
    assert resp.headers["x-amzn-waf-action"] == action
    assert resp.headers["Cache-Control"] == "no-store, max-age=0"
    assert resp.headers["Content-Type"].startswith("text/html")


def first_vehicle() -> dict[str, Any]:
    out = io.StringIO()
    truth.dump("fitment", out, year=2020, make="Acura")
    return json.loads(out.getvalue().splitlines()[0])


# -- WAF transitions --
def test_challenge_mode_no_token_then_token_then_expiry(replica_factory: Factory) -> None:
    """202 without a token, 200 with a minted one, 202 again once the 2 s immunity has passed."""
    rep = replica_factory(waf="challenge", token_ttl=2)
    home = CwoUrls(rep.site_url, rep.api_url).home()
    assert_waf_action(get(home), 202, "challenge")
    token = rep.mint_token(UA)
    ok = get(home, token=token)
    assert ok.status == 200
    assert "x-amzn-waf-action" not in ok.headers
    time.sleep(2.3)
    assert_waf_action(get(home, token=token), 202, "challenge")
    stats = rep.stats()
    assert stats["challenges"] == 2
    assert stats["rejected_tokens"] == {"absent": 1, "expired": 1}
    assert stats["tokens_issued"] == 1
    assert stats["verifies"] == 1
    assert stats["inputs"] == 1


def test_captcha_mode_answers_405_until_a_captcha_is_solved(replica_factory: Factory) -> None:
    rep = replica_factory(waf="captcha")
    home = rep.site_url + "/"
    assert_waf_action(get(home), 405, "captcha")
    challenge_only = rep.mint_token(UA, captcha=False)
    assert_waf_action(get(home, token=challenge_only), 405, "captcha")
    solved = rep.mint_token(UA)
    assert get(home, token=solved).status == 200
    stats = rep.stats()
    assert stats["captchas"] == 2
    assert stats["vouchers"] == 1
    assert stats["rejected_tokens"] == {"absent": 1, "captcha_missing": 1}


def test_interstitial_only_for_html_clients_with_fresh_gokuprops(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    url = rep.site_url + "/makemodel/bp.php?year=2020"
    api_like = get(url, accept="application/json")
    assert_waf_action(api_like, 202, "challenge")
    assert api_like.body == b""
    first, second = get(url, accept=HTML), get(url, accept=HTML)
    page1, page2 = parse_interstitial(first.body.decode()), parse_interstitial(second.body.decode())
    assert page1 is not None
    assert page2 is not None
    assert page1.challenge_js == rep.challenge_js
    assert page1.challenge_js.startswith(rep.token_url)  # served cross-origin, on the token port
    assert (page1.key, page1.iv, page1.context) != (page2.key, page2.iv, page2.context)
    script = fetch(page1.challenge_js)
    assert script.status == 200
    assert b"window.AwsWafIntegration" in script.body


def test_token_is_also_read_from_the_x_aws_waf_token_header(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    token = rep.mint_token(UA)
    assert get(rep.site_url + "/", token=token, header=True).status == 200


def test_forged_foreign_user_agent_and_revoked_tokens_are_rejected(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(waf="challenge")
    home = rep.site_url + "/"
    token = rep.mint_token(UA)
    tid, middle, blob = token.split(":")
    forged = f"{tid}:{middle}:{blob[:-6]}AAAAA="
    assert_waf_action(get(home, token=forged), 202, "challenge")
    assert_waf_action(get(home, token=token, ua="python-requests/2.32"), 202, "challenge")
    assert_waf_action(get(home, token="not-a-token"), 202, "challenge")
    assert get(home, token=token).status == 200
    rep.control(revoke_tokens=True)
    assert_waf_action(get(home, token=token), 202, "challenge")
    assert get(home, token=rep.mint_token(UA)).status == 200  # new tokens still work
    assert rep.stats()["rejected_tokens"] == {
        "bad_signature": 1,
        "ua_mismatch": 1,
        "malformed": 1,
        "revoked": 1,
    }


def test_ua_binding_can_be_switched_off(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge", extra_args=["--no-ua-binding"])
    token = rep.mint_token(UA)
    assert get(rep.site_url + "/", token=token, ua="SomethingElse/1.0").status == 200


def test_fitment_api_and_control_plane_are_not_protected(replica_factory: Factory) -> None:
    rep = replica_factory(waf="captcha")
    years = get(CwoUrls(rep.site_url, rep.api_url).years(), accept="application/json")
    assert years.status == 200
    assert "2020" in years.json()
    assert get(rep.site_url + "/__replica__/info").status == 200


def test_waf_mode_changes_at_run_time(replica_factory: Factory) -> None:
    rep = replica_factory(waf="off")
    home = rep.site_url + "/"
    assert get(home).status == 200
    rep.control(waf="challenge")
    assert get(home).status == 202
    rep.control(waf="captcha")
    assert get(home).status == 405


# -- rate limits and faults --
def test_rate_based_rule_blocks_with_plain_403_per_token(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge", extra_args=["--rate-limit", "3", "--rate-window", "60"])
    home = rep.site_url + "/"
    token, other = rep.mint_token(UA), rep.mint_token(UA)
    statuses = [get(home, token=token).status for _ in range(5)]
    assert statuses == [200, 200, 200, 403, 403]
    blocked = get(home, token=token)
    assert blocked.status == 403
    assert "x-amzn-waf-action" not in blocked.headers
    assert get(home, token=other).status == 200  # another client is unaffected
    assert rep.stats()["status_403"] == 3


def test_retry_after_rate_answers_429_with_retry_after(replica_factory: Factory) -> None:
    rep = replica_factory(extra_args=["--retry-after-rate", "1"])
    resp = get(rep.api_url + "/")
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 0
    assert rep.stats()["status_429"] == 1


def test_error_rate_answers_5xx_and_drop_rate_closes_connections(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(extra_args=["--error-rate", "1"])
    statuses = {get(rep.api_url + "/").status for _ in range(12)}
    assert statuses <= {500, 502, 503, 504}
    assert len(statuses) > 1
    rep.control(error_rate=0, drop_rate=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(rep.api_url + "/")
    rep.control(drop_rate=0)
    assert get(rep.api_url + "/").status == 200
    stats = rep.stats()
    assert stats["injected_errors"] == 12
    assert stats["dropped"] == 1
    assert stats["status_5xx"] == 12


def test_faults_are_reproducible_for_a_seed(replica_factory: Factory) -> None:
    def sequence(seed: int) -> list[int]:
        rep = replica_factory(seed=seed, extra_args=["--error-rate", "0.5"])
        seq = [get(rep.api_url + "/").status for _ in range(16)]
        rep.stop()
        return seq

    assert sequence(7) == sequence(7)


def test_latency_delays_every_request(replica_factory: Factory) -> None:
    rep = replica_factory(extra_args=["--latency", "0.3"])
    started = time.monotonic()
    assert get(rep.api_url + "/").status == 200
    assert time.monotonic() - started >= 0.3


def test_expire_sessions_makes_the_php_session_answer_401(replica_factory: Factory) -> None:
    rep = replica_factory()
    urls = CwoUrls(rep.site_url, rep.api_url)
    v = first_vehicle()
    set_url = urls.ymm_set(**item_url_args(v))
    cookie = get(set_url).headers["Set-Cookie"].split(";")[0]
    options = urls.ymm_options(v["vehicle_type"], "suspension")
    assert fetch(options, headers={"Cookie": cookie}).status == 200
    rep.control(expire_sessions=True)
    stale = fetch(options, headers={"Cookie": cookie})
    assert stale.status == 401
    assert stale.json() == {"error": "Invalid session"}
    assert rep.stats()["status_401"] == 1


# -- counters and control plane --
def test_counters_by_path_and_status_and_reset(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    for _ in range(3):
        get(rep.site_url + "/")
    get(rep.api_url + "/")
    stats = rep.stats()
    assert stats["requests"] == 4
    assert stats["by_path"] == {"/": 3, "/fitment/vehicle/co/": 1}
    assert stats["by_status"] == {"200": 1, "202": 3}
    zero = rep.reset()
    assert zero["requests"] == 0
    assert zero["by_path"] == {}
    assert rep.stats()["requests"] == 0  # control-plane calls are not counted


def test_control_rejects_bad_values_and_changes_nothing(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    with pytest.raises(ReplicaError, match="error_rate"):
        rep.control(waf="off", error_rate=3)
    with pytest.raises(ReplicaError, match="unknown control key"):
        rep.control(nonsense=1)
    info = rep.info()
    assert info["waf"] == "challenge"
    assert info["error_rate"] == 0.0


# -- fake CapSolver --
def solve(rep: ReplicaProcess, task: dict[str, Any], polls: int = 20) -> dict[str, Any]:
    created = post_json(rep.solver_url + "/createTask", {"clientKey": "test-key", "task": task})
    assert created["errorId"] == 0, created
    result: dict[str, Any] = {}
    for _ in range(polls):
        result = post_json(
            rep.solver_url + "/getTaskResult",
            {"clientKey": "test-key", "taskId": created["taskId"]},
        )
        if result.get("status") != "processing":
            break
        time.sleep(0.1)
    return result


def test_fake_capsolver_solves_the_challenge_for_the_crawler_user_agent(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(waf="challenge")
    page = parse_interstitial(get(rep.site_url + "/", accept=HTML).body.decode())
    assert page is not None
    result = solve(
        rep,
        {
            "type": "AntiAwsWafTaskProxyLess",
            "websiteURL": rep.site_url + "/",
            "awsKey": page.key,
            "awsIv": page.iv,
            "awsContext": page.context,
            "awsChallengeJS": page.challenge_js,
            "userAgent": UA,
        },
    )
    assert result["status"] == "ready"
    assert result["solution"]["userAgent"] == UA
    assert get(rep.site_url + "/", token=result["solution"]["cookie"]).status == 200
    assert rep.stats()["solver_tasks"] == 1


def test_fake_capsolver_processing_polls_precede_ready(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    task = {"type": "AntiAwsWafTaskProxyLess", "websiteURL": rep.site_url + "/"}
    created = post_json(rep.solver_url + "/createTask", {"clientKey": "k", "task": task})
    body = {"clientKey": "k", "taskId": created["taskId"]}
    first = post_json(rep.solver_url + "/getTaskResult", body)
    second = post_json(rep.solver_url + "/getTaskResult", body)
    assert [first["status"], second["status"]] == ["processing", "processing"]


def test_fake_capsolver_token_is_bound_to_its_own_user_agent_by_default(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(waf="challenge")
    result = solve(rep, {"type": "AntiAwsWafTaskProxyLess", "websiteURL": rep.site_url + "/"})
    solver_ua = result["solution"]["userAgent"]
    assert solver_ua != UA
    token = result["solution"]["cookie"]
    assert get(rep.site_url + "/", token=token, ua=solver_ua).status == 200
    assert get(rep.site_url + "/", token=token, ua=UA).status == 202


def test_fake_capsolver_solves_the_captcha_page(replica_factory: Factory) -> None:
    rep = replica_factory(waf="captcha")
    result = solve(
        rep,
        {"type": "AntiAwsWafTaskProxyLess", "websiteURL": rep.site_url + "/", "userAgent": UA},
    )
    assert result["status"] == "ready"
    assert get(rep.site_url + "/", token=result["solution"]["cookie"]).status == 200
    assert rep.stats()["captcha_solved"] == 1


def test_fake_capsolver_errors_use_capsolver_envelope(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    create = rep.solver_url + "/createTask"
    task = {"type": "AntiAwsWafTaskProxyLess", "websiteURL": rep.site_url + "/"}
    no_key = post_json(create, {"clientKey": "", "task": task})
    assert (no_key["errorId"], no_key["errorCode"]) == (1, "ERROR_KEY_DOES_NOT_EXIST")
    no_url = post_json(create, {"clientKey": "k", "task": {"type": "AntiAwsWafTaskProxyLess"}})
    assert no_url["errorCode"] == "ERROR_INVALID_TASK_DATA"
    bad_type = post_json(create, {"clientKey": "k", "task": {**task, "type": "HCaptchaTask"}})
    assert bad_type["errorCode"] == "ERROR_INVALID_TASK_DATA"
    unknown = post_json(rep.solver_url + "/getTaskResult", {"clientKey": "k", "taskId": "nope"})
    assert unknown["errorCode"] == "ERROR_TASKID_INVALID"


def test_fake_capsolver_rejects_stale_gokuprops_with_timeout_metering(
    replica_factory: Factory,
) -> None:
    rep = replica_factory(waf="captcha")
    page = parse_interstitial(get(rep.site_url + "/", accept=HTML).body.decode())
    assert page is not None
    rep.control(context_ttl=0.2)
    time.sleep(0.4)
    task = {
        "type": "AntiAwsWafTaskProxyLess",
        "websiteURL": rep.site_url + "/",
        "awsKey": page.key,
        "awsIv": page.iv,
        "awsContext": page.context,
    }
    stale = post_json(rep.solver_url + "/createTask", {"clientKey": "k", "task": task})
    assert stale["errorId"] == 1
    assert "timeout metering" in stale["errorDescription"]


def test_fake_capsolver_fault_knobs_unsolvable_and_hang(replica_factory: Factory) -> None:
    rep = replica_factory(waf="challenge")
    task = {"type": "AntiAwsWafTaskProxyLess", "websiteURL": rep.site_url + "/"}
    rep.control(solver_fail=True)
    failed = solve(rep, task)
    assert (failed["errorId"], failed["errorCode"]) == (1, "ERROR_CAPTCHA_UNSOLVABLE")
    rep.control(solver_fail=False, solver_hang=True)
    hung = solve(rep, task, polls=8)
    assert hung["status"] == "processing"
