"""scrapy-redis's scheduler, with only what several workers need and scrapy-redis lacks.

The pieces of cluster mode sit on scrapy-redis's own seams:

- ``SCHEDULER_QUEUE_CLASS`` = :class:`~cwo_scrapy.cluster.queue.LeasingQueue`: leases (no
  request lost when a worker dies) and the worker-local requests;
- ``SCHEDULER_SERIALIZER`` = :mod:`cwo_scrapy.cluster.serializer`: JSON, never pickle;
- ``EXTENSIONS``: :class:`~cwo_scrapy.cluster.extension.ClusterExtension`: heartbeat,
  completion tracking, the cluster-wide idle close, the Redis outage timeout;
- this scheduler, which overrides four methods of scrapy-redis's ``Scheduler``:

  - ``from_crawler``: no ``ping`` (an exception there ends the process with a traceback; an
    unreachable Redis is reported by ``open`` in one line), and this crawl's keys;
  - ``open``: joins the crawl, refuses one that already finished, and closes the spider with a
    reason (``redis_unreachable`` / ``cluster_crawl_finished``) instead of raising;
  - ``enqueue_request``: duplicate filter and push in one atomic step, handing over the lease of
    a retried request, and acknowledging a child to its parent only once it is safely queued.
    A push that fails (Redis restarting) keeps the request in memory and retries it at each
    heartbeat, so no request is lost and no parent is acknowledged too early;
  - ``next_request``: only to count without the ``spider=`` argument Scrapy deprecated.
"""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

import redis
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.utils.misc import load_object
from scrapy_redis import connection
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler

from cwo_scrapy.closing import close_crawl
from cwo_scrapy.cluster.outage import one_line
from cwo_scrapy.cluster.queue import ClusterSettings, LeasingQueue
from cwo_scrapy.cluster.tracker import LEASE_KEY, PARENT_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

    from cwo_scrapy.cluster.coordinator import Coordinator
    from cwo_scrapy.cluster.tracker import LeaseTracker

logger = logging.getLogger(__name__)

REASON_UNREACHABLE = "redis_unreachable"
REASON_FINISHED_BEFORE = "cluster_crawl_finished"
QUEUE = "cwo_scrapy.cluster.queue.LeasingQueue"
SERIALIZER = "cwo_scrapy.cluster.serializer"
#: Vehicle requests this worker added to the shared queue (summed over the cluster at the end).
VEHICLES_QUEUED = "cwo_cluster/vehicles_queued"


class _Pending(NamedTuple):
    request: Request
    handoff: str | None
    parent: str | None


class ClusterScheduler(Scheduler):
    """``SCHEDULER = "cwo_scrapy.cluster.scheduler.ClusterScheduler"`` (set by the add-on)."""

    crawler: Crawler
    queue: LeasingQueue
    coord: Coordinator
    tracker: LeaseTracker
    config: ClusterSettings
    failed: str | None = None
    pending: deque[_Pending]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        name = crawler.spider.name if crawler.spider is not None else crawler.spidercls.name
        config = ClusterSettings.from_settings(settings, name)
        queue_cls = settings.get("SCHEDULER_QUEUE_CLASS") or QUEUE
        if not issubclass(load_object(queue_cls), LeasingQueue):
            raise ValueError(f"cluster mode needs SCHEDULER_QUEUE_CLASS={QUEUE} or a subclass")
        serializer: Any = settings.get("SCHEDULER_SERIALIZER") or SERIALIZER
        if isinstance(serializer, str):
            serializer = importlib.import_module(serializer)
        server = connection.from_settings(settings)
        keys = config.coordinator(server)
        debug = settings.getbool("DUPEFILTER_DEBUG")
        instance = cls(
            server=server,
            persist=True,  # a closing worker must not flush the others' queue
            # scrapy-redis %-formats the key twice (scheduler, then queue): escape twice.
            queue_key=keys.queue_key.replace("%", "%%%%"),
            queue_cls=queue_cls,
            dupefilter=RFPDupeFilter(server, key=keys.dupefilter_key, debug=debug),
            serializer=serializer,
        )
        instance.crawler = crawler
        instance.stats = crawler.stats
        instance.config = config
        instance.pending = deque()
        return instance

    def open(self, spider: Spider) -> None:
        with warnings.catch_warnings():  # scrapy-redis 0.9.1 logs through Spider.log()
            warnings.simplefilter("ignore", ScrapyDeprecationWarning)
            super().open(spider)  # builds the queue; its length tolerates an unreachable Redis
        self.coord, self.tracker = self.queue.coord, self.queue.tracker
        config = self.config
        try:
            self.server.ping()
            meta = {_s(k): _s(v) for k, v in self.coord.finished_status().items()}
            if meta.get("status") == "finished":
                when = time.strftime(
                    "%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(meta.get("finished_at", 0)))
                )
                self.fail(
                    REASON_FINISHED_BEFORE,
                    f"cluster crawl {config.crawl_id!r} on {config.redis_url} already finished "
                    f"at {when}; run 'python -m cwo_scrapy.cluster reset {config.crawl_id}' or "
                    "choose another CWO_CLUSTER_CRAWL_ID to crawl again",
                )
                return
            host = config.worker_id.rsplit("-", 1)[0]
            self.coord.register({"host": host, "started": time.time()})
            queued = self.coord.queued()
        except redis.RedisError as exc:
            where = config.redis_url
            self.fail(REASON_UNREACHABLE, f"cannot reach Redis at {where}: {one_line(exc)}")
            return
        logger.info(
            "Cluster: worker %s joined crawl %r on %s (%d requests queued, keys %s*)",
            config.worker_id,
            config.crawl_id,
            config.redis_url,
            queued,
            self.coord.base,
        )

    def next_request(self) -> Request | None:
        request = self.queue.pop()
        if request is not None:  # scrapy-redis passes spider= (deprecated since Scrapy 2.14)
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def fail(self, reason: str, message: str) -> None:
        """Close the spider with ``reason`` and a one-line message (no traceback)."""
        self.failed = reason
        close_crawl(self.crawler, reason, message)

    def enqueue_request(self, request: Request) -> bool:
        lease = request.meta.pop(LEASE_KEY, None)
        parent = request.meta.pop(PARENT_KEY, None)
        handoff = lease if lease is not None and self.tracker.handed_off(lease) else None
        if self.failed:
            return False
        entry = _Pending(request, handoff, parent)
        if not self.pending:
            try:
                return self._push(entry)
            except redis.RedisError as exc:
                self.queue.health.failed(exc)
        self.pending.append(entry)  # behind the others: Redis sees them in order
        self.stats.inc_value("cwo_cluster/pushes_deferred")
        return True

    def push_pending(self) -> None:
        """Push the requests kept while Redis was unreachable; raises ``RedisError``."""
        while self.pending:
            self._push(self.pending[0])
            self.pending.popleft()

    def requeue_orphans(self) -> int:
        """Put back the leases Redis holds for this worker but it does not know of.

        A pop whose reply was lost (Redis killed after running it) leaves such a lease; the
        worker would otherwise leave the crawl with it unrun. Raises ``RedisError``.
        """
        known = self.tracker.shared()
        known.update(entry.handoff for entry in self.pending if entry.handoff is not None)
        moved = self.coord.requeue_unknown(known)
        if moved:
            self.stats.inc_value("cwo_cluster/orphans_requeued", moved)
            logger.warning(
                "Cluster: put back %d request(s) leased to this worker that it never received "
                "(a reply lost while Redis went away)",
                moved,
            )
        return moved

    def _push(self, entry: _Pending) -> bool:
        request = entry.request
        fingerprint = "" if request.dont_filter else self.df.request_fingerprint(request)
        added = self.queue.push(request, fingerprint=fingerprint, handoff=entry.handoff)
        if not added:
            self.df.log(request, self.spider)
        elif fingerprint and _is_new_vehicle(request):
            # Counted once in the whole cluster: the duplicate filter is shared and atomic,
            # so a listing re-run after a requeue does not count its vehicles again.
            self.stats.inc_value(VEHICLES_QUEUED)
        if entry.parent is not None:  # only now is the child durable (or a known duplicate)
            self.tracker.item_done(entry.parent)
        return added


def _is_new_vehicle(request: Request) -> bool:
    """A vehicle-record request of the spiders (``cwo_level``), not a redirected copy."""
    meta = request.meta
    return meta.get("cwo_level") == "vehicle" and not meta.get("redirect_urls")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
