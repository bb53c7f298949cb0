"""``scrapy cleansession`` as users run it: a real subprocess in the project folder.

Every run's stdout and stderr are checked for the token values: they may appear only with
``--show-secrets``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cwo_scrapy.session import JsonSessionStore, mask

ROOT = Path(__file__).resolve().parents[2]
SCRAPY = Path(sys.executable).with_name("scrapy")
TOKEN = "7e57c0de-aaaa-bbbb-cccc-ddddeeeeffff:BgoAbcQ5PRoBAAAA:" + "Tk" * 100
PHPSESSID = "s3cr3tphpsess10nvalue1234"
SECRETS = (TOKEN, PHPSESSID, TOKEN[:30])
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/141.0.0.0 Safari/537.36"


@dataclass
class Run:
    code: int
    out: str
    err: str


def cleansession(session_file: Path, *options: str, secrets_allowed: bool = False) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}
    result = subprocess.run(
        [str(SCRAPY), "cleansession", *options, "-s", f"CWO_SESSION_FILE={session_file}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run = Run(result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in run.err, run.err
    if not secrets_allowed:
        for secret in SECRETS:
            assert secret not in run.out
            assert secret not in run.err
    return run


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "custom_wheel_offset_temp.json"


@pytest.fixture
def populated(session_file: Path) -> Path:
    now = time.time()
    JsonSessionStore(session_file).update(
        aws_waf_token=TOKEN,
        phpsessid=PHPSESSID,
        user_agent=UA,
        token_obtained_at=now - 2 * 3600 - 300,
        phpsessid_obtained_at=now - 90,
        created_at=now - 3 * 3600,
    )
    return session_file


def _one_line_error(run: Run) -> str:
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("scrapy cleansession: error: ")
    return lines[0]


# ------------------------------------------------------------------------------ --status


def test_status_of_a_populated_file_reports_everything_masked(populated: Path) -> None:
    run = cleansession(populated, "--status")
    assert run.code == 0, run.err
    out = run.out
    assert f"Storage path: {populated}" in out
    assert "File exists: yes" in out
    assert "mode 0600, valid JSON" in out
    assert "Cookies: 2" in out
    assert f"aws-waf-token: {mask(TOKEN)}" in out
    assert f"PHPSESSID: {mask(PHPSESSID)}" in out
    assert f"aws_waf_token: {mask(TOKEN)}" in out  # stored data, original keys
    assert "Token age: 2 h 5 min" in out
    assert re.search(r"^PHPSESSID age: 1 min \d+ s \(since \d{4}-\d\d-\d\d ", out, re.M)
    assert f"User-Agent: {UA}" in out
    assert "Generation: 1" in out
    assert populated.stat().st_mode & 0o777 == 0o600  # untouched


def test_status_shows_secrets_only_when_asked(populated: Path) -> None:
    run = cleansession(populated, "--status", "--show-secrets", secrets_allowed=True)
    assert run.code == 0
    assert f"aws-waf-token: {TOKEN}" in run.out
    assert f"PHPSESSID: {PHPSESSID}" in run.out


def test_status_json_is_machine_readable_with_the_same_facts(populated: Path) -> None:
    run = cleansession(populated, "--status", "--json")
    assert run.code == 0
    report = json.loads(run.out)
    assert report["location"] == str(populated)
    assert report["exists"] is True
    assert report["mode"] == "0600"
    assert report["healthy"] is True
    assert report["cookie_count"] == 2
    assert report["cookies"] == {"aws-waf-token": mask(TOKEN), "PHPSESSID": mask(PHPSESSID)}
    assert report["data"]["aws_waf_token"] == mask(TOKEN)
    assert report["user_agent"] == UA
    assert report["generation"] == 1
    assert 2 * 3600 + 299 < report["token_age_seconds"] < 2 * 3600 + 400
    assert report["secrets_shown"] is False
    shown = json.loads(
        cleansession(populated, "--status", "--json", "--show-secrets", secrets_allowed=True).out
    )
    assert shown["data"]["aws_waf_token"] == TOKEN
    assert shown["cookies"]["PHPSESSID"] == PHPSESSID


def test_status_of_a_missing_file_is_an_empty_session_and_creates_nothing(
    session_file: Path,
) -> None:
    run = cleansession(session_file, "--status")
    assert run.code == 0
    assert "File exists: no" in run.out
    assert "Cookies: 0" in run.out
    report = json.loads(cleansession(session_file, "--status", "--json").out)
    assert (report["exists"], report["cookie_count"], report["data"]) == (False, 0, {})
    assert not session_file.parent.exists()


def test_status_of_an_empty_object_file(session_file: Path) -> None:
    session_file.parent.mkdir(parents=True)
    session_file.write_text("{}")
    run = cleansession(session_file, "--status")
    assert run.code == 0
    assert "File exists: yes" in run.out
    assert "Cookies: 0" in run.out
    assert "Stored data: {} (empty)" in run.out


def test_status_reports_a_corrupt_file_without_moving_it(session_file: Path) -> None:
    """--status is read-only: the evidence stays where it is for the user to inspect."""
    session_file.parent.mkdir(parents=True)
    content = '{"aws_waf_token": "' + TOKEN[:40]
    session_file.write_text(content)
    run = cleansession(session_file, "--status")
    assert run.code == 1
    assert "PROBLEM: corrupt: not valid JSON" in run.out
    assert "Cookies:" not in run.out
    report = json.loads(cleansession(session_file, "--status", "--json").out)
    assert report["healthy"] is False
    assert report["valid_json"] is False
    assert report["problem"].startswith("corrupt: not valid JSON")
    assert session_file.read_text() == content
    assert not list(session_file.parent.glob("*.corrupt-*"))


# ------------------------------------------------------------------------------ --clean


def test_clean_empties_a_populated_file_and_says_what_it_removed(populated: Path) -> None:
    run = cleansession(populated, "--clean")
    assert run.code == 0, run.err
    assert "Removed 2 cookie(s)" in run.out
    assert mask(TOKEN) in run.out
    assert mask(PHPSESSID) in run.out
    assert json.loads(populated.read_text()) == {}
    assert stat.S_IMODE(populated.stat().st_mode) == 0o600
    again = cleansession(populated, "--clean")
    assert again.code == 0
    assert "nothing removed" in again.out


def test_clean_json_reports_removed_data_masked(populated: Path) -> None:
    run = cleansession(populated, "--clean", "--json")
    assert run.code == 0
    report = json.loads(run.out)
    assert report["cleaned"] is True
    assert report["removed"]["aws_waf_token"] == mask(TOKEN)
    assert report["removed"]["user_agent"] == UA


def test_clean_of_a_missing_file_writes_an_empty_private_file(session_file: Path) -> None:
    run = cleansession(session_file, "--clean")
    assert run.code == 0
    assert json.loads(session_file.read_text()) == {}
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600


def test_clean_moves_a_corrupt_file_aside_and_warns(session_file: Path) -> None:
    session_file.parent.mkdir(parents=True)
    content = '{"PHPSESSID": "' + PHPSESSID
    session_file.write_text(content)
    run = cleansession(session_file, "--clean")
    assert run.code == 0
    assert "moved it aside" in run.out
    assert "scrapy cleansession: warning: Session file" in run.err
    moved = list(session_file.parent.glob("*.corrupt-*"))
    assert len(moved) == 1
    assert moved[0].read_text() == content
    assert json.loads(session_file.read_text()) == {}


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("options", [(), ("--status", "--clean"), ("--json",), ("--status", "x")])
def test_usage_errors_are_one_line_with_exit_code_2(
    session_file: Path, options: tuple[str, ...]
) -> None:
    run = cleansession(session_file, *options)
    assert run.code == 2
    _one_line_error(run)
    assert not session_file.exists()


def test_unreadable_session_path_is_a_one_line_error(tmp_path: Path) -> None:
    directory = tmp_path / "session.json"
    directory.mkdir()
    for option in ("--status", "--clean"):
        run = cleansession(directory, option)
        assert run.code == 1
        line = _one_line_error(run)
        assert str(directory) in line
        assert "is a directory" in line
    assert directory.is_dir()


def test_bad_store_setting_is_a_one_line_error(populated: Path) -> None:
    run = cleansession(populated, "--status", "-s", "CWO_SESSION_STORE=sqlite")
    assert run.code == 1
    assert "Unknown session store 'sqlite'" in _one_line_error(run)
