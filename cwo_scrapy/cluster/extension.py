"""The worker's side of the cluster between requests: heartbeat, completion, idle close.

- **Heartbeat** (every ``CWO_CLUSTER_HEARTBEAT`` s): keeps the worker alive in Redis, publishes
  its counters, acknowledges finished leases, pushes requests kept while Redis was away, and
  puts a dead worker's leases back in the queue (whichever worker notices first).
- **Completion**: download, response and item signals feed the lease tracker (``tracker.py``).
- **Cluster-wide idle close.** A worker whose engine is idle stays open while the shared queue
  holds requests or another live worker is busy (it may still add requests), and closes with
  ``finished`` only after the whole crawl has been drained for ``CWO_CLUSTER_IDLE_CLOSE``
  seconds. (scrapy-redis's ``SCHEDULER_IDLE_BEFORE_CLOSE`` blocks the reactor in ``BRPOP``,
  and its ``PriorityQueue`` ignores it.) It closes ``incomplete`` instead when the workers
  together finished fewer vehicles than they queued, or a vehicle's store page never finished.
- **Redis outage.** Unreachable for ``CWO_CLUSTER_REDIS_TIMEOUT`` seconds: the crawl closes
  with ``redis_unreachable`` (exit 1); the worker's unacknowledged leases stay in Redis for
  the other workers, or the next run, to requeue.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import redis
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from twisted.internet.task import LoopingCall

from cwo_scrapy.closing import close_crawl
from cwo_scrapy.cluster.outage import one_line
from cwo_scrapy.cluster.queue import PAGE_VEHICLES_DONE, VEHICLES_DONE
from cwo_scrapy.cluster.scheduler import REASON_UNREACHABLE, VEHICLES_QUEUED, ClusterScheduler
from cwo_scrapy.cluster.tracker import LEASE_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: Stats published to Redis at each heartbeat (progress) and summed by ``cluster status``.
PUBLISHED_STATS = (
    "item_scraped_count",
    "response_received_count",
    "cwo/vehicles_discovered",
    "cwo/vehicles_done",
    "cwo_session/resolutions",
    "cwo_session/adopted_tokens",
    "cwo_session/challenges_detected",
    "cwo_cluster/requests_popped",
    "cwo_cluster/requeued",
    "cwo_cluster/pushes_deferred",
    "cwo_cluster/orphans_requeued",
    VEHICLES_QUEUED,
    PAGE_VEHICLES_DONE,
)
#: Close reason when the drained cluster finished fewer vehicles than it queued (as the
#: spiders' own ``incomplete``: exit code 1).
REASON_INCOMPLETE = "incomplete"
#: Spider class attribute: True if ``cwo/vehicles_done`` is counted by whichever worker
#: finishes a vehicle, so that the cluster's sums prove a vehicle missing. A vehicle made of
#: several requests (``wheel_size``'s store pages, tagged ``meta[PAGE_KEY]``) is counted by
#: the worker that acknowledged its last page (``coordinator.py``'s ``pages``).
CHECK_ATTRIBUTE = "cluster_vehicle_check"


def vehicle_totals(published: dict[str, dict[str, Any]], pages_done: int = 0) -> tuple[int, int]:
    """(vehicles queued, vehicles done) summed over every worker of the crawl.

    Each worker sees only its own counters: one queues a vehicle that another finishes. A
    vehicle is queued once in the cluster (shared duplicate filter); a requeued lease may
    finish one twice, so only ``done < queued`` proves vehicles missing. The vehicles
    finished by their last page are taken from Redis (``pages_done``) rather than from the
    workers' sums, which miss one whose acknowledgement's reply was lost.
    """

    def total(key: str) -> int:
        return sum(int(stats.get(key, 0) or 0) for stats in published.values())

    done = total(VEHICLES_DONE) - total(PAGE_VEHICLES_DONE) + pages_done
    return total(VEHICLES_QUEUED), done


class ClusterExtension:
    """``EXTENSIONS`` entry of cluster mode (set by the add-on); inert without its scheduler."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.scheduler: ClusterScheduler | None = None
        self._loop: LoopingCall | None = None
        self._idle = False
        self._busy: bool | None = None
        self._drained_since: float | None = None
        self._warned: set[str] = set()
        connect = crawler.signals.connect
        connect(self._opened, signal=signals.spider_opened)
        connect(self._closed, signal=signals.spider_closed)
        connect(self._on_idle, signal=signals.spider_idle)
        connect(self._reached, signal=signals.request_reached_downloader)
        connect(self._left, signal=signals.request_left_downloader)
        connect(self._response, signal=signals.response_received)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            connect(self._item, signal=signal)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _active(self) -> ClusterScheduler | None:
        scheduler = self.scheduler
        return scheduler if scheduler is not None and not scheduler.failed else None

    # -- life cycle ---------------------------------------------------------------------------
    def _opened(self) -> None:
        scheduler = getattr(self.crawler.engine, "scheduler", None)
        if not isinstance(scheduler, ClusterScheduler) or scheduler.failed:
            return
        self.scheduler = scheduler
        self._loop = LoopingCall(self._tick)
        self._loop.start(scheduler.config.heartbeat, now=False)

    def _closed(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        scheduler = self._active()
        if scheduler is None:
            return
        coord = scheduler.coord
        try:
            scheduler.push_pending()
            scheduler.queue.ack_finished(force=reason == "finished")
            coord.heartbeat(self._published())
            if reason == "finished" and self._drained_since is not None:
                scheduler.requeue_orphans()
                if not coord.mark_finished({"worker": scheduler.config.worker_id}):
                    logger.error(
                        "Cluster: requests were queued while this worker closed; the crawl "
                        "is not marked finished (another worker, or the next run, takes them)"
                    )
            # Every lease still held goes back: an unrun request is never deleted.
            requeued = coord.deregister(requeue=True)
        except redis.RedisError as exc:
            logger.error("Cluster: could not leave the crawl cleanly: %s", one_line(exc))
            return
        if requeued:
            logger.info("Cluster: put %d unfinished requests back in the queue", requeued)

    # -- completion tracking ------------------------------------------------------------------
    def _reached(self, request: Request) -> None:
        self._drained_since = None
        self._set_idle(False)

    def _left(self, request: Request) -> None:
        lease = request.meta.get(LEASE_KEY)
        if lease is not None and self.scheduler is not None:
            self.scheduler.tracker.left_downloader(lease)

    def _response(self, response: Any, request: Request) -> None:
        lease = request.meta.get(LEASE_KEY)
        if lease is not None and self.scheduler is not None:
            self.scheduler.tracker.got_response(lease)

    def _item(self, response: Any = None, **_: Any) -> None:
        meta = getattr(getattr(response, "request", None), "meta", None)
        lease = meta.get(LEASE_KEY) if meta else None
        if lease is not None and self.scheduler is not None:
            self.scheduler.tracker.item_done(lease)

    # -- heartbeat and idle -------------------------------------------------------------------
    def _published(self) -> dict[str, Any]:
        stats = self.crawler.stats
        out = {key: stats.get_value(key, 0) for key in PUBLISHED_STATS}
        out["inflight_open"] = self.scheduler.tracker.open_count if self.scheduler else 0
        out["at"] = time.time()
        return out

    def _tick(self) -> None:
        """Stay alive, push what waited, acknowledge, reap dead workers, wake an idle engine."""
        scheduler = self._active()
        if scheduler is None:
            return
        health = scheduler.queue.health
        try:
            scheduler.tracker.sweep(grace=scheduler.config.heartbeat)
            had_pending = bool(scheduler.pending)
            scheduler.push_pending()
            scheduler.queue.ack_finished()
            busy = not self._idle or had_pending
            scheduler.coord.heartbeat(self._published(), busy=busy)
            self._busy = busy
            status = scheduler.coord.status() if self._idle else None
        except redis.RedisError as exc:
            health.failed(exc)
            self._check_outage(scheduler)
            return
        health.ok()
        if had_pending:
            self._wake_engine()
        if status is None:
            return
        self._note_requeued(status.requeued)
        if status.queued or self._drained_for() >= scheduler.config.idle_close:
            self._wake_engine()
        if not status.drained:
            self._drained_since = None
            if status.seed == "orphaned":
                self._warn_once(
                    "orphaned",
                    "Cluster: the worker seeding this crawl died before it finished; "
                    "start another worker to resume seeding",
                )
        elif self._drained_since is None:
            self._drained_since = time.monotonic()

    def _check_outage(self, scheduler: ClusterScheduler) -> None:
        health, config = scheduler.queue.health, scheduler.config
        if health.down_for() < config.redis_timeout:
            return
        scheduler.fail(
            REASON_UNREACHABLE,
            f"lost Redis at {config.redis_url} for {health.down_for():.0f} s "
            f"(CWO_CLUSTER_REDIS_TIMEOUT={config.redis_timeout:g}): {health.last_error}",
        )

    def _drained_for(self) -> float:
        return 0.0 if self._drained_since is None else time.monotonic() - self._drained_since

    def _on_idle(self) -> None:
        """Keep this worker open until the whole cluster is drained."""
        scheduler = self._active()
        if scheduler is None:
            return
        if scheduler.pending:
            # Requests wait for Redis to come back: stay busy, or another worker could see
            # the crawl drained and finish it before they are queued.
            raise DontCloseSpider
        try:
            # Idle: every errback has run, so failed downloads are finished now; acknowledged
            # before going idle, the pages they ran are counted in the counters idle publishes.
            scheduler.tracker.sweep(grace=0.0)
            scheduler.queue.ack_finished()
        except redis.RedisError as exc:
            scheduler.queue.health.failed(exc)
            raise DontCloseSpider from None
        self._set_idle(True)
        try:
            scheduler.requeue_orphans()
            status = scheduler.coord.status()
        except redis.RedisError as exc:
            scheduler.queue.health.failed(exc)
            raise DontCloseSpider from None
        self._note_requeued(status.requeued)
        if not status.drained:
            self._drained_since = None
            raise DontCloseSpider
        if self._drained_since is None:
            self._drained_since = time.monotonic()
        if self._drained_for() < scheduler.config.idle_close:
            raise DontCloseSpider
        self._check_complete(scheduler)
        logger.info("Cluster: crawl drained (queue empty, no worker busy); closing")

    def _check_complete(self, scheduler: ClusterScheduler) -> None:
        """Close ``incomplete`` if the cluster finished fewer vehicles than it queued, or a
        vehicle has a page that was never finished.

        Every worker is idle and has published its counters (going idle acknowledges and
        publishes them), so the sums are final. The sums are checked only for spiders that
        count a vehicle done in the worker that finishes it (``cluster_vehicle_check =
        True``); the others' are only reported.
        """
        try:
            published = scheduler.coord.published_stats()
            pending, pages_done = scheduler.coord.page_totals()
        except redis.RedisError as exc:
            scheduler.queue.health.failed(exc)
            raise DontCloseSpider from None
        published[scheduler.config.worker_id] = self._published()  # mine, up to date
        queued, done = vehicle_totals(published, pages_done)
        stats = self.crawler.stats
        stats.set_value("cwo_cluster/vehicles_queued_total", queued)
        stats.set_value("cwo_cluster/vehicles_done_total", done)
        stats.set_value("cwo_cluster/vehicles_pages_pending", pending)
        checked = getattr(self.crawler.spider, CHECK_ATTRIBUTE, False)
        missing = max(queued - done, 0) if checked else 0
        if not missing and not pending:
            return
        message = (
            f"{max(missing, pending)} of the {queued} vehicles queued by the workers were never "
            f"finished ({pending} with store pages never finished); stats "
            "cwo_cluster/vehicles_*_total"
        )
        close_crawl(self.crawler, REASON_INCOMPLETE, message, idle=True)

    def _set_idle(self, idle: bool) -> None:
        self._idle = idle
        scheduler = self._active()
        if scheduler is None or self._busy is (not idle):
            return
        try:  # with the counters: a worker seen idle has published its final ones
            scheduler.coord.heartbeat(self._published(), busy=not idle)
        except redis.RedisError as exc:
            scheduler.queue.health.failed(exc)  # the next heartbeat writes it
            return
        self._busy = not idle

    def _note_requeued(self, count: int) -> None:
        if count:
            self.crawler.stats.inc_value("cwo_cluster/requeued", count)
            logger.warning(
                "Cluster: a worker stopped heartbeating; put its %d unfinished requests back",
                count,
            )

    def _wake_engine(self) -> None:
        """Make the engine ask for requests now instead of at its next 5 s heartbeat.

        Scrapy has no public hook for "work arrived from outside"; without this an idle worker
        still picks work up, only later.
        """
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)
