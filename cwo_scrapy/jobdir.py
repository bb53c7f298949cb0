"""Safe resume of a ``JOBDIR`` crawl that was killed instead of stopped.

Scrapy persists the pending requests (``requests.queue/``) and the seen fingerprints
(``requests.seen``) as it goes. After ``kill -9`` (or a power cut) they are inconsistent: a
queue file can be cut inside its header, so the resumed crawl fails to push requests of that
priority (``struct.error`` in queuelib, requests lost), and fingerprints of requests that were
never answered are marked seen, so they are filtered out instead of fetched.

This extension marks a running crawl in its job directory and removes the mark on a clean
close (a finished crawl, or Ctrl-C's graceful shutdown). A crawl that finds the mark left
behind moves those two files aside (``*.unclean-<UTC time>``) with a warning and starts the
crawl over; the duplicate guard (seeded from the appended feed) keeps items already written
from being written again, and the spiders do not fetch again the store pages and fitment vehicle
records whose items it holds (``CascadeSpider.in_output``). Nothing is lost, and only the
cascade's lists and the missing items are fetched again.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

MARK = "cwo-crawl-running"
UNTRUSTED = ("requests.queue", "requests.seen")


def recover(jobdir: Path, *, now: float | None = None) -> list[Path]:
    """Move aside the queue and seen-file of a run that did not close; the paths moved to."""
    if not (jobdir / MARK).exists():
        return []
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    moved: list[Path] = []
    for name in UNTRUSTED:
        source = jobdir / name
        if source.exists():
            target = jobdir / f"{name}.unclean-{stamp}"
            source.rename(target)
            moved.append(target)
    return moved


class JobdirGuard:
    """Enabled when ``JOBDIR`` is set; see the module docstring."""

    def __init__(self, jobdir: Path) -> None:
        self.jobdir = jobdir
        moved = recover(jobdir)
        if moved:
            logger.warning(
                "JOBDIR %s: the previous run did not close cleanly (killed?); its request "
                "queue cannot be trusted, so this run starts over (moved aside: %s)",
                jobdir,
                ", ".join(p.name for p in moved),
            )
        jobdir.mkdir(parents=True, exist_ok=True)
        (jobdir / MARK).write_text(f"{os.getpid()}\n")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        jobdir = crawler.settings.get("JOBDIR")
        if not jobdir:
            raise NotConfigured  # no JOBDIR, nothing to guard: no "Disabled ..." warning
        guard = cls(Path(jobdir))
        crawler.signals.connect(guard.spider_closed, signal=signals.spider_closed)
        return guard

    def spider_closed(self) -> None:
        (self.jobdir / MARK).unlink(missing_ok=True)
