"""A feed on a full disk: the crawl says so, and the file keeps only whole lines."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from bench.disk_full import MountNotPermitted, crawl_to_full_disk, small_tmpfs
from cwo_scrapy import feedguard
from cwo_scrapy.pipelines import LineFlushJsonLinesExporter
from cwo_scrapy.replica import truth


def test_full_disk_ends_output_error_with_whole_lines_and_a_true_count(replica) -> None:
    """64 KB tmpfs: exit 1 naming the file and ENOSPC, no cut line, summary = lines in file."""
    try:
        with small_tmpfs("64k") as folder:
            result = crawl_to_full_disk(replica, folder)
    except MountNotPermitted as exc:
        pytest.skip(f"mounting a tmpfs is not permitted here ({exc}); CI runs as root")
    assert result["exit_code"] == 1, result
    assert "'output_error'" in result["error_line"]
    assert "fitment.jsonl" in result["error_line"]
    assert "No space left on device" in result["error_line"]
    assert result["cut_line"] is False
    assert result["whole_lines"] > 0
    assert result["items_reported"] == result["whole_lines"]
    assert result["tracebacks"] == 0


class _FullAfter(io.RawIOBase):
    """A raw file that accepts ``room`` bytes, then fails like a full disk."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        if not self.room:
            raise OSError(28, "No space left on device")
        n = min(len(b), self.room)
        self.data += bytes(b[:n])
        self.room -= n
        return n


def test_exporter_without_a_descriptor_stops_at_the_first_failed_line() -> None:
    """Behind a wrapper (no descriptor) a write error raises once, naming the feed."""
    items = list(truth.fitment_items(year=2016, make="Chrysler"))[:3]
    sized = io.BytesIO()
    LineFlushJsonLinesExporter(sized, encoding="utf-8").export_item(items[0])
    room = 2 * len(sized.getvalue()) + 100  # two lines and a part of the third
    exporter = LineFlushJsonLinesExporter(io.BufferedWriter(_FullAfter(room)), encoding="utf-8")
    exporter.export_item(items[0])
    exporter.export_item(items[1])
    with pytest.raises(OSError, match="No space left on device"):
        exporter.export_item(items[2])
    assert not exporter.lines.write_line(b"{}\n")  # later lines are dropped, not written


def test_line_writer_cuts_a_regular_file_back_to_its_last_whole_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line that failed half-way is removed: the file ends with the previous newline."""
    path = tmp_path / "feed.jsonl"
    with path.open("wb") as handle:
        writer = feedguard.LineWriter(None, handle)
        assert writer.write_line(b'{"a": 1}\n')
        real_write = os.write
        calls = []

        def half_then_full(fd_: int, data) -> int:  # type: ignore[no-untyped-def]
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd_, bytes(data[:4]))
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(OSError, match=str(path)):
            writer.write_line(b'{"b": 2222222}\n')
        monkeypatch.undo()
        assert calls == [15, 11]  # the short write was followed by ENOSPC
    assert path.read_bytes() == b'{"a": 1}\n'
    assert [json.loads(line) for line in path.read_bytes().splitlines()] == [{"a": 1}]
