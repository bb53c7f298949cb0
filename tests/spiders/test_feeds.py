"""Feeds from a shell: the default output only when no feed is configured, commands that never
touch it, CSV cells, and ``-o`` appends that write nothing twice."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest
from spider_crawl import as_lines, read_jsonl
from spider_crawl import scrapy_cli as scrapy

from cwo_scrapy.feeds import CsvItemExporter, csv_cell
from cwo_scrapy.replica import truth

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCOPE = ["-a", "year=2024", "-a", "make=Toyota", "-a", "model=Tacoma"]


def expected() -> list[str]:
    return as_lines(truth.fitment_items(year=2024, make="Toyota", model="Tacoma"))


def crawl(replica, data_dir: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    flags = [f"-s{k}={v}" for k, v in replica.settings().items()]
    return scrapy("crawl", "fitment", *SCOPE, *flags, "-s", "CWO_PROFILE=fast", *args,
                  data_dir=data_dir, **kw)  # fmt: skip


def summary(result: subprocess.CompletedProcess[str]) -> str:
    return [line for line in result.stderr.splitlines() if line.strip()][-1]


def test_default_output_goes_to_the_data_dir_when_no_feed_is_configured(
    replica, tmp_path: Path
) -> None:
    result = crawl(replica, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "fitment.jsonl"
    assert summary(result) == f"fitment: 9 item(s) -> {out}"
    assert read_jsonl(out) == expected()
    # The session file lives in the same data directory.
    assert (tmp_path / "custom_wheel_offset_temp.json").exists()


def test_a_feeds_setting_in_the_project_settings_replaces_the_default_output(
    replica, tmp_path: Path
) -> None:
    """FEEDS in a settings module (project priority) wins over the spider's default."""
    mine = tmp_path / "mine.jsonl"
    (tmp_path / "mysettings.py").write_text(
        "from cwo_scrapy.settings import *  # noqa: F403\n"
        f"FEEDS = {{{str(mine)!r}: {{'format': 'jsonl'}}}}\n"
    )
    env = {
        "SCRAPY_SETTINGS_MODULE": "mysettings",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{PROJECT_ROOT}",
    }
    result = crawl(replica, tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_jsonl(mine) == expected()
    assert not (tmp_path / "fitment.jsonl").exists()


def test_dash_o_replaces_the_default_output_and_leaves_it_untouched(
    replica, tmp_path: Path
) -> None:
    default = tmp_path / "fitment.jsonl"
    default.write_text('{"earlier": "crawl"}\n')
    out = tmp_path / "elsewhere.jsonl"
    result = crawl(replica, tmp_path, "-O", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_jsonl(out) == expected()
    assert default.read_text() == '{"earlier": "crawl"}\n'


def test_scrapy_parse_check_and_fetch_never_write_or_truncate_the_output(
    replica, tmp_path: Path
) -> None:
    default = tmp_path / "fitment.jsonl"
    default.write_text('{"earlier": "crawl"}\n')
    flags = [f"-s{k}={v}" for k, v in replica.settings().items()]
    parse = scrapy("parse", "--spider", "fitment", "-c", "parse_years_list", *flags,
                   f"{replica.api_url}/", data_dir=tmp_path)  # fmt: skip
    assert parse.returncode == 0, parse.stderr[-2000:]
    assert "/fitment/vehicle/co/2024>" in parse.stdout  # it did parse the year list
    check = scrapy("check", "fitment", *flags, data_dir=tmp_path)
    assert check.returncode == 0, check.stderr[-2000:]
    fetch = scrapy("fetch", "--nolog", "--spider", "fitment", *flags, f"{replica.api_url}/",
                   data_dir=tmp_path)  # fmt: skip
    assert fetch.returncode == 0, fetch.stderr[-2000:]
    assert "2024" in fetch.stdout
    assert default.read_text() == '{"earlier": "crawl"}\n'
    assert sorted(p.name for p in tmp_path.iterdir() if "jsonl" in p.name) == ["fitment.jsonl"]


def test_csv_has_one_column_per_field_lists_as_json_and_booleans_true_false(
    replica, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    result = crawl(replica, tmp_path, "-O", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = list(truth.fitment_items(year=2024, make="Toyota", model="Tacoma"))
    assert list(rows[0]) == list(type(items[0]).__dataclass_fields__)
    by_key = {(r["trim"], r["drive"]): r for r in rows}
    assert len(by_key) == len(items) == len(rows)
    for item in items:
        row = by_key[(item.trim, item.drive)]
        assert json.loads(row["suspension_options"]) == item.suspension_options
        assert row["staggered"] == ("true" if item.staggered else "false")
        assert row["year"] == "2024"
        assert row == {name: str(csv_cell(value)) for name, value in asdict(item).items()}


def test_csv_cells_for_none_booleans_and_lists() -> None:
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    assert csv_cell(False) == "false"
    assert csv_cell(["a, b", 'Lift 2.5"']) == '["a, b", "Lift 2.5\\""]'
    assert csv_cell(12.5) == 12.5


def test_dash_o_twice_writes_nothing_twice_in_jsonl_and_csv(replica, tmp_path: Path) -> None:
    jsonl, csv_out = tmp_path / "out.jsonl", tmp_path / "out.csv"
    for _ in range(2):
        result = crawl(replica, tmp_path, "-o", str(jsonl), "-o", str(csv_out))
        assert result.returncode == 0, result.stderr[-2000:]
    assert "fitment: 0 item(s)" in summary(result)  # the second crawl found all 9 already there
    assert read_jsonl(jsonl) == expected()
    lines = csv_out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("year,make,model,trim,drive,")
    assert sum(line.startswith("year,") for line in lines) == 1  # one header
    with csv_out.open(newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 9


def test_csv_append_after_an_interrupted_crawl_adds_only_the_missing_rows(
    replica, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    assert crawl(replica, tmp_path, "-O", str(out)).returncode == 0
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:4]), encoding="utf-8")  # header + 3 rows survived
    result = crawl(replica, tmp_path, "-o", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fitment: 6 item(s)" in summary(result)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["trim"], r["drive"]) for r in rows) == sorted(
        (i.trim, i.drive) for i in truth.fitment_items(year=2024, make="Toyota", model="Tacoma")
    )


def test_dash_o_onto_an_existing_json_file_is_refused_with_one_line(
    replica, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    first = crawl(replica, tmp_path, "-o", str(out))  # a new file: fine
    assert first.returncode == 0, first.stderr[-2000:]
    assert len(json.loads(out.read_text())) == 9
    before = out.read_text()
    second = crawl(replica, tmp_path, "-o", str(out))
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1, second.stderr
    assert "cannot append to existing json feed" in second.stderr
    assert "Traceback" not in second.stderr
    assert out.read_text() == before


def test_csv_rows_on_a_full_disk_stay_whole(tmp_path: Path, monkeypatch) -> None:
    """A row that failed half-way is cut off: the file keeps the header and whole rows."""
    items = list(truth.fitment_items(year=2024, make="Toyota", model="Tacoma"))[:3]
    path = tmp_path / "out.csv"
    with path.open("wb") as handle:
        exporter = CsvItemExporter(handle)
        exporter.export_item(items[0])
        exporter.export_item(items[1])
        before = path.stat().st_size
        real_write = os.write

        def half_then_full(fd: int, data) -> int:  # type: ignore[no-untyped-def]
            monkeypatch.setattr(os, "write", real_write)
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(OSError, match="No space left on device"):
            exporter.export_item(items[2])
    assert path.stat().st_size == before
    with path.open(newline="", encoding="utf-8") as fh:
        assert [r["trim"] for r in csv.DictReader(fh)] == [items[0].trim, items[1].trim]
