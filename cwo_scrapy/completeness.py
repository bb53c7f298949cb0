"""Did the crawl get everything it set out to? Checked when the crawl goes idle.

Users run long crawls unattended and read the exit code: a crawl that lost data must not end
``finished`` (exit 0). The spiders report what they know as it happens, through two signals
(rare events, so the crawl's hot path pays nothing):

- :data:`failure`: a request failed for good or a response could not be parsed;
- :data:`scope_found` (``field="make"``/``"model"``): a ``-a make``/``model`` value was found
  in one of the site's lists;
- :data:`root_received`: the years list arrived, so this run walks the cascade from its root
  (a ``JOBDIR`` run that resumes another does not: the lists it would search were fetched by
  the run it resumes).

The vehicle counters are stats the spiders keep anyway (``cwo/vehicles_discovered`` when a
vehicle record is requested or skipped because its items are already in the output,
``cwo/vehicles_done`` when its items were handed on or it failed). A vehicle request the
duplicate filter dropped (a site list naming one vehicle twice) is discovered but never done:
it is counted apart (``cwo/vehicles_duplicate``, from Scrapy's ``request_dropped`` signal, sent
only for dropped requests).

When the engine goes idle, :class:`Completeness` closes the crawl through
:func:`cwo_scrapy.closing.close_crawl` (``idle=True``), in this order:

1. any failure or spider exception: ``incomplete``;
2. a ``make``/``model`` the site never listed (no failure that could explain it, and the run
   walked the cascade from its root): ``bad_argument``;
3. vehicles discovered differ from vehicles done, that is some vehicle's outputs vanished
   without any failure being reported: ``incomplete``.

A spider with ``completeness_checks = False`` (``scrapy fieldcheck``'s walk) opts out. In
cluster mode (``CWO_CLUSTER``) checks 2 and 3 are skipped: another worker may have seen the
lists that contain the make, or finish the vehicles this worker discovered, so this process's
counters prove nothing; ``cwo_scrapy/cluster/extension.py`` checks the cluster's sums instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals

from cwo_scrapy.closing import close_crawl, close_reason

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

REASON_BAD_ARGUMENT = "bad_argument"
REASON_INCOMPLETE = "incomplete"

#: Sent by a spider when data is lost for good (a failed request, an unparsable response).
failure = object()
#: Sent by a spider when a ``-a`` scope value was found in a site list (``field="make"``...).
scope_found = object()
#: Sent by a spider when the cascade's root list (the years) arrived in this run.
root_received = object()


class Completeness:
    """``EXTENSIONS`` entry (``cwo_scrapy/settings.py``)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.failures = 0
        self.found: set[str] = set()
        self.from_root = False
        self.local_checks = not crawler.settings.getbool("CWO_CLUSTER")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.on_failure, signal=failure)
        crawler.signals.connect(ext.on_scope_found, signal=scope_found)
        crawler.signals.connect(ext.on_root_received, signal=root_received)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.on_dropped, signal=signals.request_dropped)
        return ext

    def on_failure(self, count: int = 1, **_: Any) -> None:
        self.failures += count

    def on_scope_found(self, field: str, **_: Any) -> None:
        self.found.add(field)

    def on_dropped(self, request: Request, **_: Any) -> None:
        if request.meta.get("cwo_level") == "vehicle":
            self.crawler.stats.inc_value("cwo/vehicles_duplicate")

    def on_root_received(self, **_: Any) -> None:
        self.from_root = True

    def spider_idle(self, spider: Spider) -> None:
        if close_reason(self.crawler) is not None or not getattr(
            spider, "completeness_checks", True
        ):
            return
        stats = self.crawler.stats.get_stats()
        errors = sum(v for k, v in stats.items() if k.startswith("spider_exceptions/"))
        if self.failures or errors:
            # Raised on every idle signal, not latched: in cluster mode an extension may keep
            # the spider open (DontCloseSpider) on one call and let it close on a later one.
            close_crawl(
                self.crawler,
                REASON_INCOMPLETE,
                f"{self.failures} failed request(s) or parse error(s) and {errors} spider "
                "error(s); some data is missing, see the log and the cwo/* stats",
                idle=True,
            )
        if not self.local_checks:
            return
        scope = getattr(spider, "scope", None)
        problem = self.scope_problem(scope) if scope is not None and self.from_root else None
        if problem is not None:
            logger.error("Bad argument: %s", problem)
            close_crawl(self.crawler, REASON_BAD_ARGUMENT, problem, idle=True)
        discovered = stats.get("cwo/vehicles_discovered", 0)
        discovered -= stats.get("cwo/vehicles_duplicate", 0)
        done = stats.get("cwo/vehicles_done", 0)
        if discovered != done:
            close_crawl(
                self.crawler,
                REASON_INCOMPLETE,
                f"{discovered} vehicle(s) discovered but {done} done, with no failure "
                "reported; some vehicles' data is missing (stats cwo/vehicles_*)",
                idle=True,
            )

    def scope_problem(self, scope: Any) -> str | None:
        """A ``make``/``model`` value no site list contained, as a one-line message."""
        make, model, year = scope.make, scope.model, scope.year
        if make is not None and "make" not in self.found:
            where = f" for {year}" if year else ""
            return f"make={make!r}: not in the site's make list{where}"
        if model is not None and "model" not in self.found:
            where = " ".join(str(v) for v in (year, make) if v)
            return f"model={model!r}: not in the site's model list" + (
                f" for {where}" if where else ""
            )
        return None
