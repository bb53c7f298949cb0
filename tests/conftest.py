"""Shared fixtures: the replica as a subprocess, a real proxy, and the availability rule.

``replica`` is one WAF-off replica for the whole session (tests must not change its settings);
``replica_factory`` starts private replicas with any options and stops them after the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cwo_scrapy.replica.harness import ReplicaProcess

CHROMIUM = Path("/usr/bin/chromium")
TINYPROXY = Path("/usr/bin/tinyproxy")
XVFB = Path("/usr/bin/Xvfb")


def require_program(path: Path, package: str) -> str:
    """``path`` if installed; fails under CI=true when it is missing, skips otherwise."""
    if path.exists():
        return str(path)
    message = f"{path} is missing (apt-get install {package})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class TinyProxy:
    """Debian's tinyproxy in the foreground on a free port, ``Bind 127.0.0.2``, optional
    ``BasicAuth``. ``url`` carries the credentials; ``endpoint`` does not."""

    EGRESS_IP = "127.0.0.2"

    def __init__(self, binary: str, workdir: Path, auth: tuple[str, str] | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.auth = auth
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        if self.auth is None:
            return self.endpoint
        return f"http://{self.auth[0]}:{self.auth[1]}@127.0.0.1:{self.port}"

    def start(self) -> TinyProxy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:  # a free port; tinyproxy cannot report one it chose
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            f"Bind {self.EGRESS_IP}",
            "Timeout 60",
            "MaxClients 200",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
            "LogLevel Connect",
            f'LogFile "{self.workdir / "tinyproxy.log"}"',
            f'PidFile "{self.workdir / "tinyproxy.pid"}"',
        ]
        if os.geteuid() == 0:  # tinyproxy refuses to keep root; nobody needs the log dir
            lines += ["User nobody", "Group nogroup"]
            os.chmod(self.workdir, 0o777)
        if self.auth is not None:
            lines.append(f"BasicAuth {self.auth[0]} {self.auth[1]}")
        config = self.workdir / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(
            [self.binary, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"tinyproxy exited: {err.strip()[:500]}")
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("tinyproxy did not start listening in time")

    def log(self) -> str:
        path = self.workdir / "tinyproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def require_chromium() -> str:
    """Path of Debian's chromium; fails under CI=true when it is missing, skips otherwise."""
    return require_program(CHROMIUM, "chromium")


@pytest.fixture
def tinyproxy_factory() -> Iterator[Callable[..., TinyProxy]]:
    """``tinyproxy_factory(auth=("user", "pass"))`` -> a running Debian tinyproxy on a free port
    whose outgoing connections leave from 127.0.0.2 (so the replica sees another client IP)."""
    binary = require_program(TINYPROXY, "tinyproxy")
    started: list[TinyProxy] = []

    def start(auth: tuple[str, str] | None = None) -> TinyProxy:
        # Not under tmp_path: tinyproxy drops root for nobody, who cannot enter pytest's 0700
        # directories to write its log.
        workdir = Path(tempfile.mkdtemp(prefix="cwo-tinyproxy-"))
        proxy = TinyProxy(binary, workdir, auth=auth).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
        shutil.rmtree(proxy.workdir, ignore_errors=True)


@pytest.fixture
def chromium_path() -> str:
    return require_chromium()


def require_xvfb() -> str:
    """Path of Debian's Xvfb; fails under CI=true when it is missing, skips otherwise."""
    return require_program(XVFB, "xvfb")


@pytest.fixture(scope="session")
def replica() -> Iterator[ReplicaProcess]:
    """A WAF-off replica shared by the session; do not call ``control()`` on it."""
    with ReplicaProcess(waf="off") as proc:
        yield proc


@pytest.fixture
def replica_factory() -> Iterator[Callable[..., ReplicaProcess]]:
    """``replica_factory(waf="challenge", token_ttl=5, extra_args=[...])`` -> started replica."""
    started: list[ReplicaProcess] = []

    def start(**kwargs: Any) -> ReplicaProcess:
        proc = ReplicaProcess(**kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
