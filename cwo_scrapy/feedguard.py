"""Feed lines that survive a full disk: whole lines only, and a crawl that says it failed.

Scrapy's feed exporter logs a traceback for every item it could not write and still ends the
crawl ``finished``; a ``BufferedWriter`` that hit ``ENOSPC`` keeps the unwritten tail of a line
and writes it at close, leaving a cut line. :class:`LineWriter` instead writes each line with
``os.write`` on the file's descriptor (nothing is buffered in Python), and on the first
``OSError``:

- cuts a regular file back to the end of its last whole line (``ftruncate`` never needs space);
- closes the crawl with ``output_error`` and one line naming the file and the OS error;
- drops the lines that follow (counted in ``cwo/feed_items_not_written``) instead of logging each.

``items_written(crawler)`` gives how many of this crawl's items the failed feed really holds,
for the summary line of ``scrapy crawl``.
"""

from __future__ import annotations

import io
import os
import stat
from contextlib import suppress
from typing import IO, TYPE_CHECKING
from weakref import WeakKeyDictionary

from cwo_scrapy.closing import close_crawl

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

OUTPUT_ERROR = "output_error"

# Crawler -> items the failed feed holds (set once, on the first write error of the crawl).
_failed: WeakKeyDictionary[Crawler, int] = WeakKeyDictionary()


def items_written(crawler: Crawler) -> int | None:
    """Items of this crawl in the feed that failed to write; None when no feed failed."""
    return _failed.get(crawler)


class LineWriter:
    """Writes whole lines to one feed file for one crawl; see the module docstring."""

    def __init__(self, crawler: Crawler | None, file: IO[bytes]) -> None:
        self.crawler = crawler
        self.file = file
        self.name = str(getattr(file, "name", "the feed"))
        self.written = 0
        self.failed = False
        # A plain binary file: write through its descriptor. Anything else (a post-processing
        # wrapper such as gzip) keeps Python's write + flush.
        self._fd: int | None = None
        if isinstance(file, io.BufferedWriter):
            with suppress(OSError, ValueError):  # io.UnsupportedOperation is both
                file.flush()  # nothing may sit in Python's buffer once we bypass it
                self._fd = file.fileno()

    def write_line(self, data: bytes) -> bool:
        """Write one whole line; False (and nothing in the file) when it could not be."""
        if self.failed:
            if self.crawler is not None and self.crawler.stats is not None:
                self.crawler.stats.inc_value("cwo/feed_items_not_written")
            return False
        start = self._end()
        try:
            if self._fd is None:
                self.file.write(data)
                self.file.flush()
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._fail(exc, start)
            return False
        self.written += 1
        return True

    def _end(self) -> int | None:
        """Offset where the next line starts (the file's size), or None if not a regular file."""
        if self._fd is None:
            return None
        try:
            st = os.fstat(self._fd)
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def _fail(self, exc: OSError, start: int | None) -> None:
        self.failed = True
        if start is not None:
            with suppress(OSError):
                os.ftruncate(self._fd, start)  # type: ignore[arg-type]
        reason = exc.strerror or type(exc).__name__
        errno = f"[Errno {exc.errno}] " if exc.errno else ""
        message = (
            f"cannot write the feed {self.name}: {errno}{reason}; it keeps "
            f"{self.written} whole item line(s) from this crawl"
        )
        if self.crawler is None:
            raise OSError(exc.errno, message) from exc
        _failed.setdefault(self.crawler, self.written)
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("cwo/feed_items_not_written")
        close_crawl(self.crawler, OUTPUT_ERROR, message)
