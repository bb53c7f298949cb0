"""``scrapy crawl`` from a shell: one-line errors, exit codes, output that survives a kill."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRAPY = [sys.executable, "-m", "scrapy.cmdline"]


def scrapy(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCRAPY, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def replica_flags(replica) -> list[str]:
    return [f"-s{k}={v}" for k, v in replica.settings().items()]


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize(
    ("args", "value"),
    [
        (["fitment", "-a", "limit=abc"], "limit='abc'"),
        (["fitment", "-a", "limit=0"], "limit='0'"),
        (["fitment", "-a", "year=abcd"], "year='abcd'"),
        (["fitment", "-a", "year=1800"], "year='1800'"),
        (["fitment", "-a", "year=3000"], "year='3000'"),
        (["fitment", "-a", "colour=red"], "'colour'"),
        (["fitment", "-a", "combos=all"], "'combos'"),  # a wheel_size-only argument
        (["wheel_size", "-a", "combos=foo"], "combos='foo'"),
        (["nosuchspider"], "'nosuchspider'"),
        (["fitment", "-s", "CWO_PROFILE=turbo"], "CWO_PROFILE='turbo'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2_before_any_request(
    args: list[str], value: str
) -> None:
    # An unroutable target: had the spider started, it would have logged a request error.
    result = scrapy("crawl", *args, "-s", "CWO_SITE_URL=http://127.0.0.1:9", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert value in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("spider", "args", "value"),
    [
        ("fitment", ["year=1930"], "year=1930"),
        ("fitment", ["year=2022", "make=Nope Motors"], "make='Nope Motors'"),
        ("fitment", ["make=Nope Motors"], "make='Nope Motors'"),
        ("wheel_size", ["year=2022", "make=ford", "model=Model T"], "model='Model T'"),
    ],
)
def test_scope_value_not_on_the_site_closes_with_bad_argument(
    replica, tmp_path: Path, spider: str, args: list[str], value: str
) -> None:
    """Detected from the site's own lists: exit 1, one line naming the value, nothing written."""
    out = tmp_path / "out.jsonl"
    spider_args = [part for arg in args for part in ("-a", arg)]
    result = scrapy(
        "crawl", spider, *spider_args, "-O", str(out), "-s", "CWO_PROFILE=fast",
        "-s", "CWO_SESSION_ENABLED=False", *replica_flags(replica),
    )  # fmt: skip
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert "bad_argument" in line
    assert value in line
    assert "Traceback" not in result.stderr
    assert out.read_text() == ""


def test_unreachable_site_ends_with_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    result = scrapy(
        "crawl", "fitment", "-O", str(out), "-s", "CWO_PROFILE=fast", "-s", "RETRY_TIMES=1",
        "-s", f"CWO_SITE_URL=http://127.0.0.1:{port}",
        "-s", f"CWO_API_URL=http://127.0.0.1:{port}/fitment/vehicle/co",
        "-s", "CWO_SESSION_ENABLED=False",
    )  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    line = last_line(result.stderr)
    assert "site_unreachable" in line
    assert f"127.0.0.1:{port}" in line
    assert "Traceback" not in result.stderr
    assert out.exists()


def test_limit_caps_vehicles_and_default_output_is_written(replica, tmp_path: Path) -> None:
    out = tmp_path / "fitment.jsonl"
    result = scrapy(
        "crawl", "fitment", "-a", "limit=7", "-a", "year=2021", "-O", str(out),
        "-s", "CWO_PROFILE=fast", "-s", "CWO_SESSION_ENABLED=False", *replica_flags(replica),
    )  # fmt: skip
    assert result.returncode == 0, last_line(result.stderr)
    assert last_line(result.stderr) == f"fitment: 7 item(s) -> {out}"
    lines = out.read_text().splitlines()
    assert len(lines) == 7
    assert {json.loads(line)["year"] for line in lines} == {2021}


def test_killed_crawl_leaves_only_complete_lines(replica, tmp_path: Path) -> None:
    """kill -9 in the middle of a crawl: every line already in the file is valid JSON."""
    out = tmp_path / "wheel_sizes.jsonl"
    proc = subprocess.Popen(
        [*SCRAPY, "crawl", "wheel_size", "-a", "year=2020", "-O", str(out),
         "-s", "CWO_PROFILE=fast", "-s", "CWO_SESSION_ENABLED=False", *replica_flags(replica)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists() and out.stat().st_size > 200_000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the crawl wrote too little in 120 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    data = out.read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").splitlines()
    assert len(lines) > 100
    for line in lines:
        assert json.loads(line)["url"].startswith(replica.site_url)
