"""One CWO_DATA_DIR for the session file and default outputs, found from any directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.settings import Settings

from cwo_scrapy.datadir import data_dir, session_file
from cwo_scrapy.feeds import apply_default_feed
from spiders.fitment import FitmentSpider


def test_relative_data_dir_is_under_the_project_directory_from_any_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scrapy.cfg").write_text("[settings]\ndefault = cwo_scrapy.settings\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert data_dir({}) == tmp_path / "data"
    assert data_dir({"CWO_DATA_DIR": "out"}) == tmp_path / "out"
    assert session_file({}) == str(tmp_path / "data" / "custom_wheel_offset_temp.json")


def test_without_scrapy_cfg_the_data_dir_is_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a Scrapyd job: no scrapy.cfg anywhere above
    assert data_dir({}) == tmp_path / "data"


def test_absolute_paths_are_used_as_given(tmp_path: Path) -> None:
    assert data_dir({"CWO_DATA_DIR": str(tmp_path / "srv")}) == tmp_path / "srv"
    assert session_file({"CWO_DATA_DIR": str(tmp_path)}) == str(
        tmp_path / "custom_wheel_offset_temp.json"
    )
    explicit = str(tmp_path / "elsewhere.json")
    assert session_file({"CWO_DATA_DIR": "/nope", "CWO_SESSION_FILE": explicit}) == explicit


def test_default_feed_only_when_no_feed_is_configured(tmp_path: Path) -> None:
    settings = Settings({"CWO_DATA_DIR": str(tmp_path)})
    assert apply_default_feed(settings, FitmentSpider) == tmp_path / "fitment.jsonl"
    assert settings.getdict("FEEDS") == {
        str(tmp_path / "fitment.jsonl"): {"format": "jsonl", "overwrite": True}
    }
    for priority in ("project", "cmdline"):
        mine = Settings({"CWO_DATA_DIR": str(tmp_path)})
        mine.set("FEEDS", {"x.csv": {"format": "csv"}}, priority=priority)
        assert apply_default_feed(mine, FitmentSpider) is None
        assert mine.getdict("FEEDS") == {"x.csv": {"format": "csv"}}
