"""scrapy-redis's scheduler, made safe for several workers and for Scrapy 2.19.

What scrapy-redis 0.9.1's ``Scheduler`` does not do, and this subclass adds:

- **Leases.** ``PriorityQueue.pop`` deletes a request from Redis before it is downloaded: a
  worker killed with requests in flight loses them. Here a Lua script pops a request *and*
  records it in the worker's in-flight hash in one step; the lease is acknowledged only when
  the request is finished (``tracker.py``), and a worker whose heartbeat lapsed has its leases
  put back in the queue by whichever worker notices first.
- **Cluster-wide idle close.** A worker whose local engine is idle stays open while the shared
  queue holds requests or another live worker is busy (it may still add requests), and closes
  with ``finished`` only after the whole crawl has been drained for ``CWO_CLUSTER_IDLE_CLOSE``
  seconds. (``SCHEDULER_IDLE_BEFORE_CLOSE`` is no substitute: it blocks the reactor in
  ``BRPOP``, and ``PriorityQueue`` ignores it.)
- **Worker-local requests.** Requests whose callbacks depend on this process's memory (the
  spiders' once-per-vehicle-type option chain, ``meta["cwo_level"] == "options"``, or any
  request with ``meta["cwo_cluster_local"] = True``) stay in a local queue; so does a request
  that cannot be serialised (logged once per reason), rather than being lost.
- **One-line failures.** Redis unreachable at start, or a crawl id that already finished,
  closes the spider with a reason (``redis_unreachable`` / ``cluster_crawl_finished``) and a
  one-line message, which ``scrapy crawl`` turns into a non-zero exit; no traceback.
- No ``spider=`` arguments to the stats collector (deprecated in Scrapy 2.14+).
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import logging
import time
from typing import TYPE_CHECKING, Any

import redis
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.misc import load_object
from scrapy.utils.request import request_from_dict
from scrapy_redis import connection, picklecompat
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from cwo_scrapy.closing import close_crawl
from cwo_scrapy.cluster.coordinator import DEFAULT_PREFIX, Coordinator, default_worker_id
from cwo_scrapy.cluster.tracker import LEASE_KEY, PARENT_KEY, LeaseTracker
from cwo_scrapy.session.redis_store import mask_url

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

REASON_UNREACHABLE = "redis_unreachable"
REASON_FINISHED_BEFORE = "cluster_crawl_finished"
PRIORITY_QUEUE = "scrapy_redis.queue.PriorityQueue"
DUPEFILTER = "scrapy_redis.dupefilter.RFPDupeFilter"
#: Stats published to Redis at each heartbeat (progress) and summed by ``cluster status``.
PUBLISHED_STATS = (
    "item_scraped_count",
    "response_received_count",
    "cwo/vehicles_done",
    "cwo_session/resolutions",
    "cwo_session/adopted_tokens",
    "cwo_session/challenges_detected",
    "cwo_cluster/requests_popped",
    "cwo_cluster/requeued",
)


class ClusterScheduler(Scheduler):
    """``SCHEDULER = "cwo_scrapy.cluster.scheduler.ClusterScheduler"`` (set by the add-on)."""

    crawler: Crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        queue_cls = settings.get("SCHEDULER_QUEUE_CLASS") or PRIORITY_QUEUE
        if queue_cls != PRIORITY_QUEUE:
            raise ValueError(f"cluster mode needs SCHEDULER_QUEUE_CLASS={PRIORITY_QUEUE}")
        serializer: Any = settings.get("SCHEDULER_SERIALIZER") or picklecompat
        if isinstance(serializer, str):
            serializer = importlib.import_module(serializer)
        # Unlike Scheduler.from_settings, no ping here: an exception at this point would end
        # the process with a traceback; open() reports an unreachable server in one line.
        server = connection.from_settings(settings)
        instance = cls(
            server=server,
            persist=True,
            queue_cls=queue_cls,
            dupefilter_cls=settings.get("DUPEFILTER_CLASS") or DUPEFILTER,
            serializer=serializer,
        )
        instance.crawler = crawler
        instance.stats = crawler.stats
        instance._configure(settings)
        return instance

    def _configure(self, settings: Any) -> None:
        self.redis_url = mask_url(settings.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
        self.prefix = settings.get("CWO_CLUSTER_KEY_PREFIX") or DEFAULT_PREFIX
        self.crawl_id_setting = settings.get("CWO_CLUSTER_CRAWL_ID") or ""
        self.worker_id = settings.get("CWO_CLUSTER_WORKER_ID") or default_worker_id()
        self.heartbeat = max(0.1, settings.getfloat("CWO_CLUSTER_HEARTBEAT", 2.0))
        self.worker_ttl = max(3 * self.heartbeat, settings.getfloat("CWO_CLUSTER_WORKER_TTL", 30.0))
        self.idle_close = max(0.0, settings.getfloat("CWO_CLUSTER_IDLE_CLOSE", 5.0))
        self.local_levels = set(settings.getlist("CWO_CLUSTER_LOCAL_LEVELS", ["options"]))
        self.tracker = LeaseTracker()
        self.coord: Coordinator | None = None
        self.failed: str | None = None
        self._local: list[tuple[int, int, Request]] = []
        self._local_seq = 0
        self._idle = False
        self._busy_flag: bool | None = None
        self._drained_since: float | None = None
        self._warned: set[str] = set()
        self._loop: LoopingCall | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self.crawler.signals.connect(self._on_idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._on_left, signal=signals.request_left_downloader)
        self.crawler.signals.connect(self._on_response, signal=signals.response_received)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            self.crawler.signals.connect(self._on_item, signal=signal)

    # ------------------------------------------------------------------ life cycle

    def open(self, spider: Spider) -> None:
        self.spider = spider
        crawl_id = self.crawl_id_setting or spider.name
        self.coord = Coordinator(
            self.server, crawl_id, self.worker_id, prefix=self.prefix, worker_ttl=self.worker_ttl
        )
        self.queue_key = self.coord.queue_key.replace("%", "%%")
        self.dupefilter_key = self.coord.dupefilter_key
        self.queue = load_object(self.queue_cls)(
            server=self.server, spider=spider, key=self.queue_key, serializer=self.serializer
        )
        debug = self.crawler.settings.getbool("DUPEFILTER_DEBUG")
        self.df = RFPDupeFilter(self.server, key=self.dupefilter_key, debug=debug)
        try:
            self.server.ping()
            meta = {_s(k): _s(v) for k, v in self.coord.finished_status().items()}
            if meta.get("status") == "finished":
                when = time.strftime(
                    "%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(meta.get("finished_at", 0)))
                )
                self._fail(
                    REASON_FINISHED_BEFORE,
                    f"cluster crawl {crawl_id!r} on {self.redis_url} already finished at {when}; "
                    f"run 'python -m cwo_scrapy.cluster reset {crawl_id}' or choose another "
                    "CWO_CLUSTER_CRAWL_ID to crawl again",
                )
                return
            self.coord.register({"host": self.worker_id.rsplit("-", 1)[0], "started": time.time()})
        except redis.RedisError as exc:
            self._fail(
                REASON_UNREACHABLE, f"cannot reach Redis at {self.redis_url}: {_one_line(exc)}"
            )
            return
        queued = self.coord.queued()
        logger.info(
            "Cluster: worker %s joined crawl %r on %s (%d requests queued, keys %s*)",
            self.worker_id,
            crawl_id,
            self.redis_url,
            queued,
            self.coord.base,
        )
        self._loop = LoopingCall(self._tick)
        self._loop.start(self.heartbeat, now=False)

    def close(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.coord is None or self.failed:
            return
        try:
            self._flush_acks(force=reason == "finished")
            self.coord.heartbeat(self._published_stats())
            if reason == "finished" and self._drained_since is not None:
                self.coord.mark_finished({"worker": self.worker_id})
            requeued = self.coord.deregister(requeue=reason != "finished")
        except redis.RedisError as exc:
            logger.error("Cluster: could not leave the crawl cleanly: %s", _one_line(exc))
            return
        if requeued:
            logger.info("Cluster: put %d unfinished requests back in the queue", requeued)

    def _fail(self, reason: str, message: str) -> None:
        """Close the spider with ``reason`` and a one-line message (no traceback)."""
        self.failed = reason
        close_crawl(self.crawler, reason, message)

    # ------------------------------------------------------------------ queue

    def is_local(self, request: Request) -> bool:
        return bool(request.meta.get("cwo_cluster_local")) or (
            request.meta.get("cwo_level") in self.local_levels
        )

    def enqueue_request(self, request: Request) -> bool:
        lease = request.meta.pop(LEASE_KEY, None)
        parent = request.meta.pop(PARENT_KEY, None)
        handoff = lease if lease is not None and self.tracker.handed_off(lease) else None
        try:
            return self._enqueue(request, handoff)
        finally:
            if parent is not None:  # only now is the child durable (or deliberately dropped)
                self.tracker.item_done(parent)

    def _enqueue(self, request: Request, handoff: str | None) -> bool:
        if self.failed or self.coord is None:
            return False
        if not self.is_local(request):
            try:
                data = self.serializer.dumps(request.to_dict(spider=self.spider))
            except Exception as exc:  # unpicklable meta, callback not a spider method, ...
                self._warn_once(
                    type(exc).__name__,
                    "Cluster: a request cannot be shared (%s: %s); it stays in this worker",
                    type(exc).__name__,
                    _one_line(exc),
                )
                self.stats.inc_value("cwo_cluster/unserializable")
            else:
                fingerprint = "" if request.dont_filter else self.df.request_fingerprint(request)
                if not self.coord.push(
                    data, request.priority, fingerprint=fingerprint, handoff=handoff
                ):
                    self.df.log(request, self.spider)
                    return False
                self.stats.inc_value("scheduler/enqueued/redis")
                return True
        if handoff is not None:
            self.coord.ack([handoff])
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        self._local_seq += 1
        heapq.heappush(self._local, (-request.priority, self._local_seq, request))
        self.stats.inc_value("cwo_cluster/enqueued_local")
        return True

    def next_request(self) -> Request | None:
        if self._local:
            request = heapq.heappop(self._local)[2]
            request.meta[LEASE_KEY] = self.tracker.new_local()
            self._set_idle(False)
            return request
        if self.failed or self.coord is None:
            return None
        popped = self.coord.pop()
        if popped is None:
            return None
        lease, data = popped
        self._idle, self._busy_flag, self._drained_since = False, True, None
        try:
            request = request_from_dict(self.serializer.loads(data), spider=self.spider)
        except Exception as exc:
            logger.error(
                "Cluster: dropped a queued request that cannot be loaded: %s", _one_line(exc)
            )
            self.coord.ack([lease])
            self.stats.inc_value("cwo_cluster/undecodable")
            return None
        request.meta[LEASE_KEY] = lease
        self.tracker.leased(lease)
        self.stats.inc_value("scheduler/dequeued/redis")
        self.stats.inc_value("cwo_cluster/requests_popped")
        return request

    def has_pending_requests(self) -> bool:
        if self._local:
            return True
        if self.failed or self.coord is None:
            return False
        return self.coord.queued() > 0

    def __len__(self) -> int:
        return len(self._local) + (self.coord.queued() if self.coord and not self.failed else 0)

    # ------------------------------------------------------------------ seeding

    def claim_seed(self) -> str:
        """``mine``/``resumed``: run ``start()``; ``theirs``/``finished``: skip it."""
        if self.coord is None or self.failed:
            return "theirs"
        verdict = self.coord.claim_seed()
        if verdict == "resumed":
            logger.warning("Cluster: the worker seeding this crawl died; seeding again")
        elif verdict == "theirs":
            logger.info("Cluster: another worker seeds this crawl; consuming the shared queue")
        return verdict

    def seed_done(self) -> None:
        if self.coord is not None and not self.failed:
            self.coord.seed_done()

    # ------------------------------------------------------------------ completion tracking

    def _lease_of(self, obj: Any) -> str | None:
        request = getattr(obj, "request", None)
        meta = getattr(request, "meta", None) if request is not None else None
        return meta.get(LEASE_KEY) if meta else None

    def _on_left(self, request: Request) -> None:
        lease = request.meta.get(LEASE_KEY)
        if lease is not None:
            self.tracker.left_downloader(lease)

    def _on_response(self, response: Any, request: Request) -> None:
        lease = request.meta.get(LEASE_KEY)
        if lease is not None:
            self.tracker.got_response(lease)

    def _on_item(self, response: Any = None, **_: Any) -> None:
        lease = self._lease_of(response)
        if lease is not None:
            self.tracker.item_done(lease)

    def _flush_acks(self, *, force: bool = False) -> None:
        """Acknowledge finished leases, unless worker-local work may hold their results."""
        if self.coord is None:
            return
        if not force and (self._local or self.tracker.open_local):
            return
        self.coord.ack(self.tracker.take_completed())

    # ------------------------------------------------------------------ heartbeat and idle

    def _published_stats(self) -> dict[str, Any]:
        stats = self.crawler.stats
        out = {key: stats.get_value(key, 0) for key in PUBLISHED_STATS}
        out["inflight_open"] = self.tracker.open_count
        out["at"] = time.time()
        return out

    def _tick(self) -> None:
        """Heartbeat: stay alive, acknowledge, reap dead workers, wake an idle engine."""
        if self.coord is None or self.failed:
            return
        try:
            self.tracker.sweep(grace=self.heartbeat)
            self._flush_acks()
            self.coord.heartbeat(self._published_stats())
            if not self._idle:
                return
            status = self.coord.status()
        except redis.RedisError as exc:
            self._warn_once("tick", "Cluster: Redis error in heartbeat: %s", _one_line(exc))
            return
        self._note_requeued(status.requeued)
        if status.queued or self._drained_for() >= self.idle_close:
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

    def _drained_for(self) -> float:
        return 0.0 if self._drained_since is None else time.monotonic() - self._drained_since

    def _on_idle(self) -> None:
        """Keep this worker open until the whole cluster is drained."""
        if self.failed or self.coord is None:
            return
        self._set_idle(True)
        try:
            status = self.coord.status()
        except redis.RedisError as exc:
            self._warn_once("idle", "Cluster: Redis error while idle: %s", _one_line(exc))
            raise DontCloseSpider from None
        self._note_requeued(status.requeued)
        if not status.drained:
            self._drained_since = None
            raise DontCloseSpider
        if self._drained_since is None:
            self._drained_since = time.monotonic()
        if self._drained_for() < self.idle_close:
            raise DontCloseSpider
        logger.info("Cluster: crawl drained (queue empty, no worker busy); closing")

    def _set_idle(self, idle: bool) -> None:
        self._idle = idle
        busy = not idle
        if self._busy_flag != busy and self.coord is not None:
            self.coord.set_busy(busy)
            self._busy_flag = busy

    def _note_requeued(self, count: int) -> None:
        if count:
            self.stats.inc_value("cwo_cluster/requeued", count)
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


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:200]
