"""Shared fixtures: the replica as a subprocess, and the Chromium availability rule.

``replica`` is one WAF-off replica for the whole session (tests must not change its settings);
``replica_factory`` starts private replicas with any options and stops them after the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cwo_scrapy.replica.testing import ReplicaProcess

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> str:
    """Path of Debian's chromium; fails under CI=true when it is missing, skips otherwise."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def chromium_path() -> str:
    return require_chromium()


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
