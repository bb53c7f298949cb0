"""Only a regular file is a session file: devices, FIFOs, sockets and symlinks are refused.

A refused path is never read, renamed, chmodded or replaced, and nothing blocks on it (a FIFO
without a writer would hang a plain ``open``). Content that does not decode (JSON nested
200,000 deep) is corrupt like any other: moved aside, a fresh session, one warning.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cleansession import cleansession

from cwo_scrapy.session import JsonSessionStore, SessionFileError, SessionState

DEEP = b"[" * 200_000 + b"]" * 200_000


def _fifo(path: Path) -> Path:
    os.mkfifo(path, 0o644)
    return path


def _char_device(path: Path) -> Path:
    """A /dev/null twin (char 1:3) in a temp dir; needs root (CI runs as root)."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CI runs as root)")
    return path


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "session.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        yield path


def _symlink(tmp_path: Path) -> Path:
    target = tmp_path / "real.json"
    target.write_text('{"PHPSESSID": "kept"}\n')
    target.chmod(0o644)
    link = tmp_path / "session.json"
    link.symlink_to(target)
    return link


@pytest.fixture(params=["fifo", "char_device", "socket", "symlink"])
def odd_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    kind = request.param
    if kind == "fifo":
        return _fifo(tmp_path / "session.json")
    if kind == "char_device":
        return _char_device(tmp_path / "session.json")
    if kind == "socket":
        return request.getfixturevalue("unix_socket")
    return _symlink(tmp_path)


def _snapshot(path: Path) -> tuple[int, int, int, list[str]]:
    st = os.lstat(path)
    return st.st_mode, st.st_ino, st.st_rdev, sorted(p.name for p in path.parent.iterdir())


def test_store_refuses_a_non_regular_path_and_leaves_it_alone(odd_path: Path) -> None:
    """load, update and clear: one-line error; the path keeps its kind, inode, mode and name."""
    before = _snapshot(odd_path)
    target_before = odd_path.resolve().read_bytes() if odd_path.is_symlink() else None
    store = JsonSessionStore(odd_path)
    for call in (store.load, lambda: store.update(phpsessid="x"), store.clear):
        with pytest.raises(SessionFileError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message
        assert str(odd_path) in message
        assert "refusing" in message
    after = _snapshot(odd_path)
    assert after[:3] == before[:3]
    assert [n for n in after[3] if ".corrupt-" in n] == []
    if target_before is not None:  # the link's target is neither replaced nor chmodded
        target = odd_path.resolve()
        assert target.read_bytes() == target_before
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    health = store.health()
    assert not health.readable
    assert "regular file" in (health.problem or "") or "symbolic link" in (health.problem or "")


@pytest.mark.parametrize("option", ["--status", "--clean"])
def test_cleansession_refuses_a_non_regular_path_with_one_line(odd_path: Path, option: str) -> None:
    """Exit 1, one line, and no hang on a FIFO (the command has a timeout)."""
    before = _snapshot(odd_path)
    run = cleansession(odd_path, option)
    assert run.code == 1, run
    assert run.err.count("\n") == 1, run.err
    assert str(odd_path) in run.err
    assert _snapshot(odd_path)[:3] == before[:3]


def test_crawl_refuses_a_fifo_session_file_with_one_line(replica, tmp_path: Path) -> None:
    from tests.spiders.test_cli import last_line, replica_flags, scrapy

    fifo = _fifo(tmp_path / "session.json")
    result = scrapy(
        "crawl", "fitment", "-a", "year=2021", "-a", "limit=2", "-O", str(tmp_path / "o.jsonl"),
        "-s", "CWO_PROFILE=fast", "-s", f"CWO_SESSION_FILE={fifo}", *replica_flags(replica),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    line = last_line(result.stderr)
    assert "session_store_error" in line
    assert "a FIFO" in line
    assert "Traceback" not in result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize(
    "content",
    [DEEP, b'{"PHPSESSID": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", b"\xff\xfe{}"],
    ids=["deep-array", "deep-field", "not-utf8"],
)
def test_undecodable_content_is_moved_aside_with_one_warning(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(content)
    store = JsonSessionStore(path)
    assert store.health().problem is not None  # --status reports it without a traceback
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.session"):
        assert store.load() == SessionState()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "moved it aside" in warnings[0].getMessage()
    moved = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(moved) == 1
    assert moved[0].read_bytes() == content
    assert store.update(phpsessid="fresh").generation == 1


def test_cleansession_status_reports_deep_nesting_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(DEEP)
    run = cleansession(path, "--status")
    assert run.code == 1
    assert "corrupt" in run.out
    assert path.read_bytes() == DEEP  # --status never moves it
