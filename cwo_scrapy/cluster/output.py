"""Merge the per-worker JSON-lines files of a cluster crawl into one, and verify it.

A vehicle appears in two files only when a worker died after writing it and before its lease
was acknowledged, so its request ran again elsewhere: identical repeats are dropped and
counted; two *different* items for one identity are a conflict and fail the merge. A
truncated last line (a worker killed mid-write) is reported and skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwo_scrapy.items import IDENTITY, WheelSizeItem

#: Fields that identify an item, in order; the wheel-size combination when present.
IDENTITY_FIELDS = IDENTITY[WheelSizeItem]


def identity(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(item.get(name) for name in IDENTITY_FIELDS if name in item)


@dataclass
class MergeReport:
    files: int = 0
    lines: int = 0
    items: int = 0
    repeats: int = 0
    bad_lines: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    per_file: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.conflicts

    def summary(self) -> str:
        return (
            f"{self.items} items from {self.files} files ({self.lines} lines, "
            f"{self.repeats} repeats dropped, {len(self.bad_lines)} unreadable lines, "
            f"{len(self.conflicts)} conflicts)"
        )


def merge(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[dict[str, Any]], MergeReport]:
    """Items of all files, first occurrence of each identity kept, in file order."""
    report = MergeReport()
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in sorted(Path(p) for p in paths):
        report.files += 1
        count = 0
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                report.lines += 1
                try:
                    item = json.loads(line)
                    if not isinstance(item, dict):
                        raise ValueError("not an object")
                except ValueError:
                    report.bad_lines.append(f"{path}:{number}")
                    continue
                count += 1
                key = identity(item)
                if key in seen:
                    if seen[key] == item:
                        report.repeats += 1
                    else:
                        report.conflicts.append(f"{path}:{number} {key!r}")
                    continue
                seen[key] = item
        report.per_file[str(path)] = count
    report.items = len(seen)
    return list(seen.values()), report


def write_jsonl(items: Iterable[dict[str, Any]], target: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename): a merge never leaves half a file behind."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for item in items:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
