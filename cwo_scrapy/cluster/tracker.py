"""When is a leased request finished, so that its lease can be acknowledged?

A request is finished when its callback output is exhausted, every request it yielded reached
the scheduler (Scrapy processes a callback's output in parallel tasks, so exhaustion alone does
not mean the children are queued yet), and every item it yielded went through the item
pipelines (so the feed exporter wrote it). A download failure has no spider-middleware pass:
it counts as finished one heartbeat after it left the downloader, by which time its errback
has run.

Acknowledgements are also held back while the worker has *local* work (requests pinned to
this process, see ``queue.LOCAL_KEY``): the spiders keep vehicles in memory until their type's
option lists arrive through such requests, so a finished vehicle request may still have an
item pending in memory. No Scrapy imports.

A finished lease whose request was a page of a vehicle (``meta[PAGE_KEY]``, see
``coordinator.py``'s ``pages``) also notes that page done; the page is marked done in Redis
with the lease's acknowledgement, in the same step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwo_scrapy.cluster.coordinator import PageTag

#: ``Request.meta`` key holding the lease id of a request popped from the queue.
LEASE_KEY = "cwo_cluster_lease"
#: ``Request.meta`` key of a child request: the lease of the request whose callback made it.
PARENT_KEY = "cwo_cluster_parent"
#: Prefix of lease ids of worker-local requests (never in Redis).
LOCAL_PREFIX = "L"
#: ``Request.meta`` key a spider sets on each request that is one page of a vehicle with
#: several: ``[unit, page, pages to run, pages of the vehicle]`` (``coordinator.PageTag``).
PAGE_KEY = "cwo_cluster_page"


def page_tag(meta: dict[str, Any]) -> PageTag | None:
    """The page a request's ``meta`` names, or None (malformed tags are ignored)."""
    tag = meta.get(PAGE_KEY)
    if tag is None:
        return None
    try:
        unit, number, count, total = tag
        return str(unit), int(number), int(count), int(total)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class _Lease:
    local: bool
    items: int = 0
    output_done: bool = False
    left_at: float | None = None
    responded: bool = False
    page: PageTag | None = None


class LeaseTracker:
    """Per-worker bookkeeping of open leases; completed shared leases wait in ``completed``
    and the pages they ran in ``pages``."""

    def __init__(self) -> None:
        self._open: dict[str, _Lease] = {}
        self.completed: list[str] = []
        self.pages: list[PageTag] = []
        self._local_seq = 0

    def new_local(self, page: PageTag | None = None) -> str:
        self._local_seq += 1
        lease = f"{LOCAL_PREFIX}{self._local_seq}"
        self._open[lease] = _Lease(local=True, page=page)
        return lease

    def leased(self, lease: str, page: PageTag | None = None) -> None:
        self._open[lease] = _Lease(local=False, page=page)

    @property
    def open_local(self) -> int:
        return sum(1 for lease in self._open.values() if lease.local)

    def shared(self) -> set[str]:
        """Every shared lease this worker holds: running, or finished and not acknowledged."""
        running = {lease for lease, entry in self._open.items() if not entry.local}
        return running | set(self.completed)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def handed_off(self, lease: str) -> bool:
        """The request was re-scheduled (retry, redirect); True if it held a shared lease."""
        entry = self._open.pop(lease, None)
        return entry is not None and not entry.local

    def item_started(self, lease: str) -> None:
        """An item or child request of ``lease`` is on its way; ``item_done`` when it landed."""
        entry = self._open.get(lease)
        if entry is not None:
            entry.items += 1

    def item_done(self, lease: str) -> None:
        entry = self._open.get(lease)
        if entry is not None:
            entry.items -= 1
            self._maybe_complete(lease, entry)

    def output_done(self, lease: str) -> None:
        entry = self._open.get(lease)
        if entry is not None:
            entry.output_done = True
            self._maybe_complete(lease, entry)

    def got_response(self, lease: str) -> None:
        entry = self._open.get(lease)
        if entry is not None:
            entry.responded = True

    def left_downloader(self, lease: str, now: float | None = None) -> None:
        entry = self._open.get(lease)
        if entry is not None and entry.left_at is None:
            entry.left_at = time.monotonic() if now is None else now

    def sweep(self, grace: float, now: float | None = None) -> int:
        """Complete failed downloads (left the downloader ``grace`` ago, no response)."""
        now = time.monotonic() if now is None else now
        done = [
            lease
            for lease, e in self._open.items()
            if e.left_at is not None and not e.responded and now - e.left_at >= grace
        ]
        for lease in done:
            self._complete(lease)
        return len(done)

    def _maybe_complete(self, lease: str, entry: _Lease) -> None:
        if entry.output_done and entry.items <= 0:
            self._complete(lease)

    def _complete(self, lease: str) -> None:
        entry = self._open.pop(lease, None)
        if entry is None:
            return
        if not entry.local:
            self.completed.append(lease)
        if entry.page is not None:
            self.pages.append(entry.page)

    def take_completed(self) -> list[str]:
        done, self.completed = self.completed, []
        return done

    def take_pages(self) -> list[PageTag]:
        done, self.pages = self.pages, []
        return done
