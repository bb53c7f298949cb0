"""Feeds: the spiders' default output, appends that write nothing twice, and our CSV format.

- :func:`apply_default_feed`: ``scrapy crawl`` writes ``<CWO_DATA_DIR>/<spider's default_feed>``
  (JSON lines, overwritten) only when the user configured no feed: no ``FEEDS`` at project
  priority or above (``settings.py``, ``-s FEEDS=...``, Scrapyd's ``items_dir``), none in the
  spider's ``custom_settings``, no ``-o``/``-O``. Other commands (``parse``, ``shell``,
  ``check``, ``fetch``) never get it, so they never write or truncate a feed.
- :func:`append_problems`: ``-o`` (append) onto an existing file in a format the duplicate
  guard cannot read back (``json``: appending makes the file invalid JSON; ``xml``, ...) is
  refused with one line; ``jsonl`` and ``csv`` appends are read back by the guard.
- :class:`CsvItemExporter`: one column per field; lists as JSON arrays in one cell, booleans
  ``true``/``false``, ``None`` as an empty cell; a header only in a new (empty) file, and the
  existing header's column order when appending; each row written whole (full disk: see
  ``cwo_scrapy.feedguard``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from scrapy.exporters import CsvItemExporter as ScrapyCsvItemExporter
from scrapy.settings import SETTINGS_PRIORITIES

from cwo_scrapy.datadir import data_dir
from cwo_scrapy.feedguard import LineWriter

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

# Formats whose existing content the duplicate guard reads back before appending.
READABLE_FORMATS = ("jsonl", "jsonlines", "csv")
JSONL_FORMATS = ("jsonl", "jsonlines")


def user_configured_feeds(settings: BaseSettings, spidercls: type) -> bool:
    """Did the user ask for any feed (or for none, with ``FEEDS = {}``) themselves?"""
    custom = getattr(spidercls, "custom_settings", None) or {}
    if "FEEDS" in custom:
        return True
    return (settings.getpriority("FEEDS") or 0) >= SETTINGS_PRIORITIES["project"]


def apply_default_feed(settings: BaseSettings, spidercls: type) -> Path | None:
    """Set the spider's default feed when the user configured none; the path, or None."""
    name = getattr(spidercls, "default_feed", None)
    if not name or user_configured_feeds(settings, spidercls):
        return None
    path = data_dir(settings) / name
    # "default" priority: the cluster add-on may still make it one file per worker.
    settings.set("FEEDS", {str(path): {"format": "jsonl", "overwrite": True}}, priority="default")
    return path


def local_path(uri: str, spider_name: str) -> Path | None:
    """The local file a feed URI names (``%(name)s`` filled in), or None (stdout:, s3://...)."""
    try:
        uri = uri % {"name": spider_name}
    except (KeyError, ValueError, TypeError):
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        return Path(uri)
    return None


def appended_feeds(settings: BaseSettings, spider_name: str) -> Iterator[tuple[Path, str]]:
    """(path, format) of the local feeds this crawl appends to (not truncated at start)."""
    for uri, options in settings.getdict("FEEDS").items():
        options = options or {}
        if options.get("overwrite"):
            continue
        path = local_path(str(uri), spider_name)
        if path is not None:
            yield path, str(options.get("format", ""))


def append_problems(settings: BaseSettings, spider_name: str) -> list[str]:
    """One line per append the duplicate guard could not protect (existing file, bad format)."""
    problems = []
    for path, fmt in appended_feeds(settings, spider_name):
        if fmt in READABLE_FORMATS or not _non_empty(path):
            continue
        why = "appending makes it invalid JSON" if fmt == "json" else "it cannot be read back"
        problems.append(
            f"cannot append to existing {fmt} feed {path}: {why}, so items could be written "
            "twice; use -O to replace it, or a .jsonl or .csv feed to append"
        )
    return problems


def _non_empty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def read_records(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    """The records already in a ``jsonl`` or ``csv`` feed (unreadable lines skipped)."""
    try:
        if fmt in JSONL_FORMATS:
            with path.open("rb") as fh:
                for line in fh:
                    try:
                        data = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(data, dict):
                        yield data
        elif fmt == "csv":
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                yield from csv.DictReader(fh)
    except FileNotFoundError:
        return


def csv_cell(value: Any) -> Any:
    """A value as written in a CSV cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


class CsvItemExporter(ScrapyCsvItemExporter):
    """Registered for the ``csv`` feed format; see the module docstring.

    Rows are rendered in memory and written whole through
    :class:`~cwo_scrapy.feedguard.LineWriter`, like the JSON-lines exporter: a full disk ends the
    crawl ``output_error`` with the file cut back to its last whole row.
    """

    def __init__(self, file: Any, *, crawler: Crawler | None = None, **kwargs: Any) -> None:
        existing = _existing_header(file)
        if existing and not kwargs.get("fields_to_export"):
            kwargs["fields_to_export"] = existing
        super().__init__(file, **kwargs)
        self._row = io.StringIO()
        self.csv_writer = csv.writer(self._row, **self._kwargs)
        self.lines = LineWriter(crawler, file)
        if existing:
            self._headers_not_written = False  # appending: the file has its header already

    @classmethod
    def from_crawler(cls, crawler: Crawler, file: Any, **kwargs: Any) -> Self:
        return cls(file, crawler=crawler, **kwargs)

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        serializer = field.get("serializer", csv_cell) if field else csv_cell
        return serializer(value)

    def export_item(self, item: Any) -> None:
        super().export_item(item)  # the header (first row of a new file) and the row
        data = self._row.getvalue()
        self._row.seek(0)
        self._row.truncate()
        self.lines.write_line(data.encode(self.encoding or "utf-8"))


def _existing_header(file: Any) -> list[str] | None:
    """The header row of the non-empty file a feed appends to, or None."""
    try:
        if os.fstat(file.fileno()).st_size == 0:
            return None
        with open(file.name, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), None)
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    return header or None
