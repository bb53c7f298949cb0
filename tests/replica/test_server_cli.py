"""The ``scrapy replica`` / ``python -m cwo_scrapy.replica`` command line as a user sees it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from cwo_scrapy.replica.harness import PROJECT_ROOT, ReplicaProcess, fetch

MAIN = [sys.executable, "-m", "cwo_scrapy.replica"]
SCRAPY = [sys.executable, "-m", "scrapy.cmdline", "replica"]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p
    ),
}


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=ENV
    )
    assert proc.stdout is not None
    return proc, [proc.stdout.readline().rstrip("\n"), proc.stdout.readline().rstrip("\n")]


@pytest.mark.parametrize("cmd", [MAIN, SCRAPY], ids=["python-m", "scrapy"])
def test_prints_the_serving_line_and_the_scrapy_flags_then_stops_on_sigint(
    cmd: list[str],
) -> None:
    proc, (banner, flags) = start([*cmd, "--port", "0", "--waf", "challenge"])
    try:
        m = re.fullmatch(r"Replica serving at (http://127\.0\.0\.1:(\d+))", banner)
        assert m, banner
        site = m.group(1)
        f = re.fullmatch(
            rf"-s CWO_SITE_URL={re.escape(site)} -s CWO_API_URL={re.escape(site)}"
            r"/fitment/vehicle/co -s CWO_CAPSOLVER_API_URL=(http://127\.0\.0\.1:\d+)"
            r" -s CWO_TWOCAPTCHA_API_URL=(http://127\.0\.0\.1:\d+) -s CWO_PROFILE=fast",
            flags,
        )
        assert f, flags
        assert fetch(site + "/").status == 202
        for solver_url in f.groups():  # the fake CapSolver and the fake 2Captcha
            answer = fetch(solver_url + "/getBalance", data=b'{"clientKey":"k"}').json()
            assert answer["errorId"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("cmd", [MAIN, SCRAPY], ids=["python-m", "scrapy"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--waf", "sometimes"], "--waf must be one of off, challenge, captcha"),
        (["--token-ttl", "soon"], "--token-ttl must be a number"),
        (["--token-ttl", "0"], "--token-ttl must be greater than 0"),
        (["--error-rate", "1.5"], "--error-rate must be between 0 and 1"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--rate-limit", "-1"], "--rate-limit must be between"),
        (["--dump-truth", "tyres"], "--dump-truth must be fitment or wheel_size"),
    ],
)
def test_bad_option_value_gives_one_line_error_and_nonzero_exit(
    cmd: list[str], args: list[str], message: str
) -> None:
    result = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, timeout=60
    )
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_port_already_in_use_is_a_one_line_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*MAIN, "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=ENV,
            timeout=60,
        )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot listen" in result.stderr


def test_replica_process_exposes_urls_and_settings() -> None:
    with ReplicaProcess(waf="off", seed=3) as rep:
        settings = rep.settings()
        assert settings["CWO_SITE_URL"] == rep.site_url
        assert settings["CWO_API_URL"] == rep.site_url + "/fitment/vehicle/co"
        assert settings["CWO_CAPSOLVER_API_URL"] == rep.solver_url
        assert rep.challenge_js.startswith(rep.token_url)
        assert rep.flags.startswith(f"-s CWO_SITE_URL={rep.site_url} ")
        proc = rep.proc
    assert proc is not None
    assert proc.returncode == 0  # SIGTERM is a clean shutdown
