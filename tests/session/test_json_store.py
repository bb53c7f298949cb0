"""JsonSessionStore: atomic, locked, private, self-healing; shared within and across processes.

Other processes are real child processes (``python -c``) so locks and atomicity are exercised
through the kernel, not mocked.
"""

from __future__ import annotations

import json
import logging
import os
import random
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwo_scrapy.session import (
    JsonSessionStore,
    SessionFileError,
    SessionState,
    SessionStore,
    mask,
    open_store,
    store_from_settings,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "f00dfeed-1234-5678-9abc-def012345678:BgoAeXQ5PRoBAAAA:" + "Qw" * 90
#: Rounds of the kill -9 test (each kills one writer at a random moment); raise it for soak runs.
KILL_ROUNDS = int(os.environ.get("CWO_STORE_KILL_ROUNDS", "6"))
#: Writes each killed writer attempts.
KILL_WRITES = int(os.environ.get("CWO_STORE_KILL_WRITES", "200"))

WRITER = r"""
import sys
from cwo_scrapy.session import open_store
path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store("json", path)
print("ready", flush=True)
for i in range(count):
    store.update(aws_waf_token=f"{prefix}-{i}")
    print(i, flush=True)
print("writes", store.writes, flush=True)
"""

LOCK_HOLDER = r"""
import sys, time
from cwo_scrapy.session import open_store
store = open_store("json", sys.argv[1])
with store.resolution_lock(5):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _child(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stdin=stdin,
        text=True,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "session.json"


@pytest.fixture
def store(path: Path) -> JsonSessionStore:
    return JsonSessionStore(path)


@pytest.fixture
def zero_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------ basics


def test_store_satisfies_the_session_store_protocol(store: JsonSessionStore) -> None:
    assert isinstance(store, SessionStore)
    assert store.location.endswith("session.json")


def test_missing_file_is_an_empty_session_and_is_not_created_by_reading(
    store: JsonSessionStore, path: Path
) -> None:
    assert store.load() == SessionState()
    assert not path.exists()
    assert store.writes == 0


def test_update_creates_missing_folder_and_writes_original_keys(
    store: JsonSessionStore, path: Path
) -> None:
    state = store.update(aws_waf_token=TOKEN, phpsessid="sess123456", token_obtained_at=5)
    assert state.generation == 1
    data = json.loads(path.read_text())
    assert data["aws_waf_token"] == TOKEN
    assert data["PHPSESSID"] == "sess123456"
    assert data["generation"] == 1
    assert store.load() == state
    assert store.writes == 1


def test_original_tools_file_is_read_and_updated_in_place(
    store: JsonSessionStore, path: Path
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"aws_waf_token": TOKEN, "PHPSESSID": "legacy"}))
    assert store.load().aws_waf_token == TOKEN
    state = store.update(user_agent="Mozilla/5.0")
    assert state.generation == 1
    assert json.loads(path.read_text()) == {
        "aws_waf_token": TOKEN,
        "PHPSESSID": "legacy",
        "user_agent": "Mozilla/5.0",
        "generation": 1,
    }


def test_update_without_a_real_change_writes_nothing(store: JsonSessionStore, path: Path) -> None:
    """The middleware writes back cookies only when they changed, not once per response."""
    first = store.update(aws_waf_token=TOKEN, phpsessid="abc")
    before = path.stat()
    again = store.update(aws_waf_token=TOKEN, phpsessid="abc")
    assert again == first
    assert store.writes == 1
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # Normalised values count as unchanged too ("" is "absent", int is float).
    store.update(user_agent="", token_obtained_at=None)
    assert store.writes == 1


def test_every_persisted_change_bumps_generation_once(store: JsonSessionStore) -> None:
    generations = [store.update(aws_waf_token=f"tok-{i}").generation for i in range(5)]
    assert generations == [1, 2, 3, 4, 5]
    assert store.writes == 5


def test_update_rejects_unknown_fields_wrong_types_and_generation(
    store: JsonSessionStore, path: Path
) -> None:
    with pytest.raises(TypeError, match="tokn"):
        store.update(tokn="x")
    with pytest.raises(TypeError, match="generation"):
        store.update(generation=9)
    with pytest.raises(TypeError, match="aws_waf_token"):
        store.update(aws_waf_token=12345)
    assert not path.exists()
    assert store.writes == 0


def test_expect_generation_adopts_another_writers_newer_token(path: Path) -> None:
    """A resolver that lost the race takes the other process's fresh token, not its own."""
    mine, other = JsonSessionStore(path), JsonSessionStore(path)
    seen = mine.update(aws_waf_token="old-token").generation
    newer = other.update(aws_waf_token="fresh-token-from-other-process")
    result = mine.update(expect_generation=seen, aws_waf_token="my-late-token")
    assert result == newer
    assert result.aws_waf_token == "fresh-token-from-other-process"
    assert mine.writes == 1  # only the first update
    assert json.loads(path.read_text())["aws_waf_token"] == "fresh-token-from-other-process"
    # With the current generation the change is applied.
    applied = mine.update(expect_generation=newer.generation, aws_waf_token="my-next-token")
    assert applied.aws_waf_token == "my-next-token"
    assert applied.generation == newer.generation + 1


def test_clear_persists_an_empty_object(store: JsonSessionStore, path: Path) -> None:
    store.update(aws_waf_token=TOKEN, phpsessid="abc")
    store.clear()
    assert json.loads(path.read_text()) == {}
    assert store.load() == SessionState()
    assert _mode(path) == 0o600
    writes = store.writes
    store.clear()  # already empty: no write
    assert store.writes == writes


# ------------------------------------------------------------------------------ file mode


def test_file_is_created_with_mode_0600_even_with_a_permissive_umask(
    store: JsonSessionStore, path: Path, zero_umask: None
) -> None:
    store.update(aws_waf_token=TOKEN)
    assert _mode(path) == 0o600


def test_every_replace_restores_mode_0600(store: JsonSessionStore, path: Path) -> None:
    store.update(aws_waf_token=TOKEN)
    path.chmod(0o644)
    assert store.health().warnings  # reported as a warning meanwhile
    store.update(aws_waf_token=TOKEN + "x")
    assert _mode(path) == 0o600
    store.clear()
    assert _mode(path) == 0o600


# ------------------------------------------------------------------------------ corrupt files


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \n",
        b'{"aws_waf_token": "' + TOKEN[:60].encode(),  # truncated mid-write by another tool
        b"not json at all",
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"generation": "seven"}',
        b"\xff\xfe\x00garbage",
    ],
    ids=["empty", "blank", "truncated", "text", "array", "string", "bad-type", "binary"],
)
def test_corrupt_file_is_moved_aside_with_a_warning_and_session_starts_fresh(
    store: JsonSessionStore, path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="cwo_scrapy.session"):
        state = store.load()
    assert state == SessionState()
    assert not path.exists()
    moved = list(path.parent.glob("session.json.corrupt-*"))
    assert len(moved) == 1
    assert moved[0].read_bytes() == content  # nothing lost
    assert _mode(moved[0]) == 0o600
    messages = [r.getMessage() for r in caplog.records if r.name == "cwo_scrapy.session"]
    assert len(messages) == 1
    assert str(path) in messages[0]
    assert moved[0].name in messages[0]
    assert TOKEN[:60] not in messages[0]
    # The fresh session is written normally afterwards.
    assert store.update(aws_waf_token="new").generation == 1


def test_update_on_a_corrupt_file_moves_it_aside_first(store: JsonSessionStore, path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("{oops")
    assert store.update(phpsessid="fresh").phpsessid == "fresh"
    assert json.loads(path.read_text())["PHPSESSID"] == "fresh"
    assert len(list(path.parent.glob("session.json.corrupt-*"))) == 1


def test_two_corruptions_in_one_second_keep_both_copies(
    store: JsonSessionStore, path: Path
) -> None:
    path.parent.mkdir(parents=True)
    for content in ("first", "second"):
        path.write_text(content)
        store.load()
    kept = sorted(p.read_text() for p in path.parent.glob("session.json.corrupt-*"))
    assert kept == ["first", "second"]


# ------------------------------------------------------------------------------ unreadable


def test_path_that_is_a_directory_is_a_clear_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "session.json"
    target.mkdir()
    store = JsonSessionStore(target)
    for call in (store.load, lambda: store.update(aws_waf_token="x")):
        with pytest.raises(SessionFileError) as info:
            call()
        message = str(info.value)
        assert str(target) in message
        assert "\n" not in message
    assert target.is_dir()  # nothing moved aside or destroyed
    health = store.health()
    assert not health.readable
    assert not health.ok


def test_folder_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    store = JsonSessionStore(blocker / "session.json")
    with pytest.raises(SessionFileError, match="data"):
        store.update(aws_waf_token="x")
    with pytest.raises(SessionFileError, match=r"session\.json"):
        store.load()
    assert blocker.read_text() == "not a folder"


UNREADABLE_CHECK = r"""
import os, sys
from cwo_scrapy.session import JsonSessionStore, SessionFileError
if os.geteuid() == 0:  # root ignores mode bits: drop to nobody (after importing)
    os.setgid(65534)
    os.setuid(65534)
try:
    JsonSessionStore(sys.argv[1]).load()
except SessionFileError as exc:
    print("ERROR", exc)
else:
    print("LOADED")
"""


def test_file_without_read_permission_is_a_clear_error_not_a_fresh_session(
    tmp_path: Path,
) -> None:
    """Permissions problems must not be mistaken for corruption (that would lose the file)."""
    folder = tmp_path / "private"
    folder.mkdir()
    target = folder / "session.json"
    target.write_text(json.dumps({"aws_waf_token": TOKEN}))
    target.chmod(0o000)
    folder.chmod(0o755)
    tmp_path.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-c", UNREADABLE_CHECK, str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ERROR Cannot read session file"), result.stdout
    assert str(target) in result.stdout
    assert "Permission denied" in result.stdout
    assert TOKEN not in result.stdout
    assert target.exists()
    assert not list(folder.glob("*.corrupt-*"))


# ------------------------------------------------------------------------------ registry


def test_open_store_returns_one_object_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All crawlers in one process share one store, however the path is spelt."""
    monkeypatch.chdir(tmp_path)
    first = open_store("json", "data/s.json")
    assert open_store("json", str(tmp_path / "data" / "s.json")) is first
    assert open_store(" JSON ", "./data/../data/s.json") is first
    (tmp_path / "alias").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "data").mkdir()
    assert open_store("json", "alias/s.json") is first
    assert open_store("json", "data/other.json") is not first
    assert store_from_settings({"CWO_SESSION_FILE": "data/s.json"}) is first


def test_open_store_rejects_unknown_kinds_and_empty_locations() -> None:
    with pytest.raises(ValueError, match="Unknown session store 'sqlite'"):
        open_store("sqlite", "x")
    with pytest.raises(ValueError, match="No location"):
        open_store("json", "")


# ------------------------------------------------------------------------------ load cache


def test_load_rereads_only_when_the_file_changed(
    store: JsonSessionStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load() runs before every resolution, so an unchanged file costs a stat(), not a parse."""
    store.update(aws_waf_token="token-A")
    reads = 0
    real_read = JsonSessionStore._read

    def counting_read(self: JsonSessionStore) -> object:
        nonlocal reads
        reads += self is store
        return real_read(self)

    monkeypatch.setattr(JsonSessionStore, "_read", counting_read)
    for _ in range(50):
        assert store.load().aws_waf_token == "token-A"
    assert reads == 0
    # Another writer replaces the file with a same-sized token: picked up on the next load.
    JsonSessionStore(path).update(aws_waf_token="token-B")
    assert store.load().aws_waf_token == "token-B"
    assert reads == 1
    store.load()
    assert reads == 1


def test_load_picks_up_a_token_written_by_another_process(
    store: JsonSessionStore, path: Path
) -> None:
    assert store.update(aws_waf_token="mine").generation == 1
    assert store.load().aws_waf_token == "mine"
    child = _child(WRITER, str(path), "theirs", "1")
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, out
    state = store.load()
    assert state.aws_waf_token == "theirs-0"
    assert state.generation == 2


# ------------------------------------------------------------------------------ processes


def test_file_stays_valid_json_when_writers_are_killed_at_random_moments(
    path: Path, tmp_path: Path
) -> None:
    """kill -9 mid-write leaves the old or the new token, never a broken or public file."""
    rng = random.Random(20240509)
    store = open_store("json", str(path))
    store.update(aws_waf_token="initial")
    previous = "initial"
    interrupted = 0
    for round_no in range(KILL_ROUNDS):
        prefix = f"r{round_no}"
        child = _child(WRITER, str(path), prefix, str(KILL_WRITES))
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        acked = -1
        kill_after = rng.randrange(0, KILL_WRITES // 2)
        while acked < kill_after:
            acked = int(child.stdout.readline())
        time.sleep(rng.uniform(0, 0.003))
        child.kill()  # SIGKILL
        child.wait(timeout=30)
        for line in child.stdout.read().split("\n"):
            if line.strip().isdigit():
                acked = int(line)
        child.stdout.close()
        token = json.loads(path.read_text())["aws_waf_token"]  # always parses
        allowed = {f"{prefix}-{acked}", f"{prefix}-{acked + 1}"}
        if acked < 0:
            allowed.add(previous)
        assert token in allowed, (round_no, acked, token)
        assert _mode(path) == 0o600
        interrupted += acked < KILL_WRITES - 1
        previous = token
    assert interrupted == KILL_ROUNDS
    # Temporaries of killed writers are swept by the next write.
    store.update(aws_waf_token="after")
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_two_processes_updating_at_once_lose_no_write(path: Path) -> None:
    """Every update lands (generation == total writes) and readers never see broken JSON."""
    count = 60
    store = open_store("json", str(path))
    children = [_child(WRITER, str(path), name, str(count)) for name in ("alpha", "beta")]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    parses = 0
    while any(child.poll() is None for child in children):
        if path.exists():
            json.loads(path.read_text())
            parses += 1
    total_writes = 0
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        total_writes += int(out.strip().splitlines()[-1].split()[1])
    assert total_writes == 2 * count
    final = store.load()
    assert final.generation == 2 * count
    assert final.aws_waf_token in {f"alpha-{count - 1}", f"beta-{count - 1}"}
    assert json.loads(path.read_text())["generation"] == 2 * count
    assert parses > 0


def test_clear_is_safe_while_another_process_writes(path: Path) -> None:
    store = open_store("json", str(path))
    store.update(aws_waf_token="x")
    child = _child(WRITER, str(path), "crawler", "80")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    while child.poll() is None:
        store.clear()
        json.loads(path.read_text())
    child.communicate(timeout=60)
    data = json.loads(path.read_text())
    assert data == {} or data["aws_waf_token"].startswith("crawler-")
    assert _mode(path) == 0o600


# ------------------------------------------------------------------------------ resolution lock


def test_resolution_lock_excludes_another_process(store: JsonSessionStore, path: Path) -> None:
    holder = _child(LOCK_HOLDER, str(path), stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="resolution lock"), store.resolution_lock(0.3):
            pass
        assert time.monotonic() - started >= 0.25
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
        with store.resolution_lock(5):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_resolution_lock_excludes_other_threads_and_is_not_reentrant(
    store: JsonSessionStore,
) -> None:
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.resolution_lock(5):
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(5)
    # Another thread waits while it is held, and times out if it waits too little.
    with pytest.raises(TimeoutError), store.resolution_lock(0.1):
        pass
    waiter = threading.Thread(target=lambda: _enter(store, order))
    waiter.start()
    time.sleep(0.2)
    assert order == ["first in"]
    release.set()
    thread.join(5)
    waiter.join(5)
    assert order == ["first in", "first out", "second in"]
    with store.resolution_lock(1), pytest.raises(TimeoutError), store.resolution_lock(0.1):
        pass  # the holder itself cannot enter twice


def _enter(store: JsonSessionStore, order: list[str]) -> None:
    with store.resolution_lock(5):
        order.append("second in")


# ------------------------------------------------------------------------------ health


def test_health_reports_missing_valid_and_corrupt_files_without_changing_them(
    store: JsonSessionStore, path: Path
) -> None:
    missing = store.health()
    assert (missing.exists, missing.ok, missing.state) == (False, True, SessionState())
    store.update(aws_waf_token=TOKEN)
    healthy = store.health()
    assert healthy.ok
    assert healthy.valid_json
    assert healthy.mode == 0o600
    assert healthy.size == path.stat().st_size
    assert healthy.state is not None
    assert healthy.state.aws_waf_token == TOKEN
    path.write_text('{"aws_waf_token": "' + TOKEN)
    corrupt = store.health()
    assert not corrupt.ok
    assert not corrupt.valid_json
    assert corrupt.state is None
    assert corrupt.problem is not None
    assert TOKEN[:20] not in corrupt.problem
    assert path.exists()  # read-only
    path.write_text("[]")
    array = store.health()
    assert array.valid_json
    assert not array.ok
    assert "object" in (array.problem or "")


def test_masked_values_not_tokens_in_error_and_repr_text(store: JsonSessionStore) -> None:
    state = store.update(aws_waf_token=TOKEN)
    assert TOKEN not in repr(state)
    assert mask(TOKEN) in repr(state)
    assert TOKEN not in repr(store.health())
