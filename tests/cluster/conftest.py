"""``redis_server``: a private ``redis-server`` on a free loopback port, in a temporary folder.

Under ``CI=true`` a missing ``redis-server`` fails the test instead of skipping it: the
cluster's guarantees are only proven against a real Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis


@dataclass
class RedisServer:
    """A running server: ``url`` for clients, ``client()`` for assertions, ``stop()``."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    durable: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no final save."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """Start again on the same port and folder (with AOF, the same data)."""
        self.process = start_redis(self.folder, port=self.port, durable=self.durable).process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def require_redis_server() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    message = "redis-server is missing (apt-get install redis-server)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(folder: Path, *, port: int | None = None, durable: bool = False) -> RedisServer:
    """``durable``: append-only file fsynced on every write, as a production server would be."""
    binary = require_redis_server()
    port = port or free_port()
    aof = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
    where = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    process = subprocess.Popen(
        [binary, *where, "--save", "", *aof, "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, process, folder, durable)
    deadline = time.monotonic() + 10
    while True:
        try:
            if server.client().ping():
                return server
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh, empty Redis for one test; stopped afterwards."""
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis with an fsynced append-only file, so that it can be killed and restarted."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = start_redis(folder, durable=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dead_redis_url() -> str:
    """A loopback URL where nothing listens (with a password, to check it is masked)."""
    return f"redis://:s3cretpass@127.0.0.1:{free_port()}/0"
