"""The replica's fake 2Captcha and its IP binding, and the 2Captcha resolver against them.

The fake validates an Amazon WAF task like the real API, answers ``processing`` a few times,
then a ``captcha_voucher`` + ``existing_token`` that the token service exchanges for a token
the site accepts; it models a bad key, a zero balance and an unsolvable task.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from cwo_scrapy.replica.harness import ReplicaProcess, fetch
from cwo_scrapy.replica.powclient import browser_report, parse_interstitial
from cwo_scrapy.resolvers import ResolutionError, ResolveContext
from cwo_scrapy.resolvers.twocaptcha import TwoCaptchaResolver

UA = "Mozilla/5.0 (X11; Linux x86_64) cwo-scrapy-tests/1.0"
HTML = "text/html,application/xhtml+xml"
KEY = "test-2captcha-key"
Factory = Callable[..., ReplicaProcess]


def call(replica: ReplicaProcess, method: str, body: dict[str, Any]) -> dict[str, Any]:
    return fetch(f"{replica.twocaptcha_url}/{method}", data=json.dumps(body).encode()).json()


def fresh_task(replica: ReplicaProcess, **extra: Any) -> dict[str, Any]:
    page = parse_interstitial(
        fetch(replica.site_url + "/", headers={"Accept": HTML, "User-Agent": UA}).body.decode()
    )
    assert page is not None
    return {
        "type": "AmazonTaskProxyless",
        "websiteURL": replica.site_url + "/",
        "websiteKey": page.key,
        "iv": page.iv,
        "context": page.context,
        "challengeScript": page.challenge_js,
        **extra,
    }


def poll(replica: ReplicaProcess, task_id: Any, key: str = KEY) -> tuple[int, dict[str, Any]]:
    for polls in range(1, 200):
        answer = call(replica, "getTaskResult", {"clientKey": key, "taskId": task_id})
        if answer.get("status") != "processing":
            return polls, answer
        time.sleep(0.05)
    raise AssertionError("the task never finished")


def test_amazon_task_answers_processing_then_a_voucher_the_token_service_redeems(
    replica_factory: Factory,
) -> None:
    replica = replica_factory(waf="challenge")
    created = call(replica, "createTask", {"clientKey": KEY, "task": fresh_task(replica)})
    assert created["errorId"] == 0

    polls, answer = poll(replica, created["taskId"])

    assert polls > 2  # "processing" twice first, like a worker still busy
    assert answer["status"] == "ready"
    solution = answer["solution"]
    assert set(solution) == {"captcha_voucher", "existing_token"}
    # Redeemed like challenge.js does: with the fingerprint of the browser that carries the token.
    fingerprint, hints = browser_report(UA)
    redeemed = fetch(
        f"{replica.token_base}/voucher",
        data=json.dumps({**solution, "fingerprint": fingerprint}).encode(),
        headers={"User-Agent": UA, "Content-Type": "text/plain;charset=UTF-8", **hints},
    ).json()
    page = fetch(
        replica.site_url + "/",
        headers={"User-Agent": UA, "Cookie": f"aws-waf-token={redeemed['token']}"},
    )
    assert page.status == 200
    assert replica.stats()["twocaptcha_tasks"] == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.pop("context"), "context is required"),
        (lambda t: t.update(context="bm90IG91cnM="), "context is not valid or has expired"),
        (lambda t: t.update(challengeScript="file:///x.js"), "challengeScript must be"),
        (lambda t: t.update(type="AmazonTask"), "proxyType and proxyAddress are required"),
        (
            lambda t: t.update(
                type="AmazonTask", proxyType="http", proxyAddress="127.0.0.1", proxyPort="x"
            ),
            "proxy port must be an integer",
        ),
    ],
)
def test_bad_task_fields_are_refused_with_error_bad_parameters(
    replica_factory: Factory, change: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    replica = replica_factory(waf="challenge")
    task = fresh_task(replica)
    change(task)
    answer = call(replica, "createTask", {"clientKey": KEY, "task": task})
    assert answer["errorCode"] == "ERROR_BAD_PARAMETERS"
    assert expected in answer["errorDescription"]


def test_unknown_task_type_is_not_supported(replica_factory: Factory) -> None:
    replica = replica_factory(waf="challenge")
    answer = call(
        replica, "createTask", {"clientKey": KEY, "task": fresh_task(replica, type="AwsTask")}
    )
    assert answer["errorCode"] == "ERROR_TASK_NOT_SUPPORTED"


def resolver(replica: ReplicaProcess, key: str = KEY) -> TwoCaptchaResolver:
    return TwoCaptchaResolver(key, replica.twocaptcha_url, timeout=30.0, poll_interval=0.05)


def context(replica: ReplicaProcess) -> ResolveContext:
    return ResolveContext(
        page_url=replica.site_url + "/", user_agent=UA, stale_token=None, timeout=30.0
    )


@deferred_f_from_coro_f
async def test_resolver_gets_a_token_the_site_accepts(replica_factory: Factory) -> None:
    replica = replica_factory(waf="captcha")
    solver = resolver(replica)
    try:
        resolution = await solver.resolve(context(replica))
    finally:
        await solver.close()
    page = fetch(
        replica.site_url + "/",
        headers={"User-Agent": UA, "Cookie": f"aws-waf-token={resolution.aws_waf_token}"},
    )
    assert page.status == 200


@pytest.mark.parametrize(
    ("control", "key", "code"),
    [
        ({"twocaptcha_key": "the-only-valid-key"}, KEY, "ERROR_KEY_DOES_NOT_EXIST"),
        ({"twocaptcha_balance": 0}, KEY, "ERROR_ZERO_BALANCE"),
        ({"solver_fail": True}, KEY, "ERROR_CAPTCHA_UNSOLVABLE"),
    ],
    ids=["bad-key", "zero-balance", "unsolvable"],
)
@deferred_f_from_coro_f
async def test_resolver_turns_service_errors_into_one_line_resolution_errors(
    replica_factory: Factory, control: dict[str, Any], key: str, code: str
) -> None:
    replica = replica_factory(waf="challenge")
    replica.control(**control)
    solver = resolver(replica, key)
    try:
        with pytest.raises(ResolutionError) as caught:
            await solver.resolve(context(replica))
    finally:
        await solver.close()
    message = str(caught.value)
    assert message.startswith("twocaptcha ")
    assert code in message
    assert "\n" not in message
    assert key not in message
    assert replica.stats()["twocaptcha_errors"][code] >= 1


@deferred_f_from_coro_f
async def test_resolver_without_a_key_says_where_to_put_one(monkeypatch) -> None:
    monkeypatch.delenv("TWOCAPTCHA_API_KEY", raising=False)
    solver = TwoCaptchaResolver("", "http://127.0.0.1:9")
    with pytest.raises(ResolutionError, match="CWO_TWOCAPTCHA_API_KEY"):
        await solver.resolve(
            ResolveContext(page_url="http://x/", user_agent=UA, stale_token=None, timeout=5.0)
        )


# -- --ip-binding ------------------------------------------------------------------------------
def via(proxy_url: str, url: str, token: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    request = urllib.request.Request(
        url, headers={"User-Agent": UA, "Cookie": f"aws-waf-token={token}"}
    )
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_ip_binding_refuses_a_token_from_another_ip_and_counts_it(
    replica_factory: Factory, tinyproxy_factory
) -> None:
    """A token earned from 127.0.0.1 and sent through a proxy (127.0.0.2) gets the challenge
    again; without --ip-binding the same token passes."""
    proxy = tinyproxy_factory()
    bound = replica_factory(waf="challenge", extra_args=["--ip-binding"])
    token = bound.mint_token(UA)
    assert (
        fetch(
            bound.site_url + "/", headers={"User-Agent": UA, "Cookie": f"aws-waf-token={token}"}
        ).status
        == 200
    )

    assert via(proxy.url, bound.site_url + "/", token) == 202
    stats = bound.stats()
    assert stats["ip_refused"] == 1
    assert stats["rejected_tokens"]["ip_mismatch"] == 1
    assert bound.info()["ip_binding"] is True

    unbound = replica_factory(waf="challenge")
    assert via(proxy.url, unbound.site_url + "/", unbound.mint_token(UA)) == 200
