"""``SCHEDULER_QUEUE_CLASS`` of cluster mode: scrapy-redis's ``PriorityQueue`` with leases.

scrapy-redis's ``PriorityQueue.pop`` removes a request from Redis before it is downloaded, so a
worker killed with requests in flight loses them. :class:`LeasingQueue` keeps the same sorted
set (member = serialised request, score = ``-priority``) but pops through a Lua script that
also records the request in the worker's in-flight hash (a *lease*, see ``coordinator.py``);
the lease is acknowledged only once the request is finished (``tracker.py``).

It also holds the worker-local requests: a request with ``meta[LOCAL_KEY]`` true (its callback
depends on this process's memory), or one that cannot be serialised, never goes to Redis and
is popped first.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from scrapy_redis.queue import PriorityQueue

from cwo_scrapy.cluster.coordinator import DEFAULT_PREFIX, Coordinator, default_worker_id
from cwo_scrapy.cluster.outage import RedisHealth, one_line
from cwo_scrapy.cluster.tracker import LEASE_KEY, LeaseTracker, page_tag
from cwo_scrapy.session.mask import mask_url

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: ``Request.meta`` key any spider sets to keep a request in the worker that made it.
LOCAL_KEY = "cwo_cluster_local"
#: Counted by the worker whose acknowledgement finished a vehicle's last pending page (both;
#: the second lets the cluster's sum take those from Redis, where they are exact).
VEHICLES_DONE = "cwo/vehicles_done"
PAGE_VEHICLES_DONE = "cwo_cluster/vehicles_done_by_pages"


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """The ``CWO_CLUSTER_*`` settings, read once, shared by the queue, scheduler and extension."""

    redis_url: str  # masked, for messages
    prefix: str
    crawl_id: str
    worker_id: str
    heartbeat: float
    worker_ttl: float
    idle_close: float
    redis_timeout: float

    @classmethod
    def from_settings(cls, settings: BaseSettings, spider_name: str) -> ClusterSettings:
        heartbeat = max(0.1, settings.getfloat("CWO_CLUSTER_HEARTBEAT"))
        return cls(
            redis_url=mask_url(settings.get("REDIS_URL") or "redis://127.0.0.1:6379/0"),
            prefix=settings.get("CWO_CLUSTER_KEY_PREFIX") or DEFAULT_PREFIX,
            crawl_id=settings.get("CWO_CLUSTER_CRAWL_ID") or spider_name,
            worker_id=settings.get("CWO_CLUSTER_WORKER_ID") or default_worker_id(),
            heartbeat=heartbeat,
            worker_ttl=max(3 * heartbeat, settings.getfloat("CWO_CLUSTER_WORKER_TTL")),
            idle_close=max(0.0, settings.getfloat("CWO_CLUSTER_IDLE_CLOSE")),
            redis_timeout=max(0.0, settings.getfloat("CWO_CLUSTER_REDIS_TIMEOUT")),
        )

    def coordinator(self, server: redis.Redis) -> Coordinator:
        return Coordinator(
            server, self.crawl_id, self.worker_id, prefix=self.prefix, worker_ttl=self.worker_ttl
        )


class LeasingQueue(PriorityQueue):
    """Leases on pop, atomic duplicate filtering on push, and a local queue in front."""

    def __init__(
        self, server: redis.Redis, spider: Spider, key: str, serializer: Any = None
    ) -> None:
        super().__init__(server, spider, key, serializer)
        crawler = spider.crawler  # type: ignore[attr-defined]
        self.config = ClusterSettings.from_settings(crawler.settings, spider.name)
        self.stats = crawler.stats
        self.coord = self.config.coordinator(server)
        if self.key != self.coord.queue_key:
            raise ValueError(f"queue key {self.key!r} is not {self.coord.queue_key!r}")
        self.tracker = LeaseTracker()
        self.health = RedisHealth(self.config.redis_url)
        self._local: list[tuple[int, int, Request]] = []
        self._seq = 0
        self._queued = 0  # last known length of the shared queue
        self._warned: set[str] = set()

    @property
    def local_count(self) -> int:
        return len(self._local)

    def __len__(self) -> int:
        """Local plus shared requests; the last known count while Redis is unreachable."""
        try:
            self._queued = self.coord.queued()
        except redis.RedisError as exc:
            self.health.failed(exc)
        else:
            self.health.ok()
        return len(self._local) + self._queued

    def push(self, request: Request, *, fingerprint: str = "", handoff: str | None = None) -> bool:
        """Queue ``request``; False if ``fingerprint`` was seen. Raises ``RedisError``.

        ``handoff``: the lease this request replaces (a retry or redirect), acknowledged in
        the same atomic step as the push.
        """
        data = None if request.meta.get(LOCAL_KEY) else self._encode(request)
        page = page_tag(request.meta)
        if data is not None:
            priority = request.priority
            pushed = self.coord.push(
                data, priority, fingerprint=fingerprint, handoff=handoff, page=page
            )
            if not pushed:
                return False
            self.stats.inc_value("scheduler/enqueued/redis")
            return True
        if handoff is not None:
            self.coord.ack([handoff])
        if fingerprint and not self.server.sadd(self.coord.dupefilter_key, fingerprint):
            return False
        if page is not None:
            self.coord.register_page(page)
        self._seq += 1
        heapq.heappush(self._local, (-request.priority, self._seq, request))
        self.stats.inc_value("cwo_cluster/enqueued_local")
        return True

    def pop(self, timeout: int = 0) -> Request | None:
        """The best local request, else the best shared one, leased to this worker."""
        if self._local:
            request = heapq.heappop(self._local)[2]
            request.meta[LEASE_KEY] = self.tracker.new_local(page_tag(request.meta))
            return request
        while True:
            try:
                popped = self.coord.pop()
            except redis.RedisError as exc:
                self.health.failed(exc)
                return None
            self.health.ok()
            if popped is None:
                return None
            lease, data = popped
            try:
                request = self._decode_request(data)
            except Exception as exc:  # a pickle, garbage, a callback the spider lacks
                logger.error(
                    "Cluster: rejected a queued entry that is not a request of this spider "
                    "(%s); it was not run",
                    one_line(exc),
                )
                self.stats.inc_value("cwo_cluster/undecodable")
                self.tracker.completed.append(lease)  # acknowledged with the others
                continue
            request.meta[LEASE_KEY] = lease
            self.tracker.leased(lease, page_tag(request.meta))
            self.stats.inc_value("cwo_cluster/requests_popped")
            return request

    def ack_finished(self, *, force: bool = False) -> None:
        """Acknowledge finished leases, unless worker-local work may hold their results.

        The spiders keep a vehicle in memory until its type's option lists arrive through
        local requests, so a finished vehicle request may still have an item pending. The
        pages these leases ran are marked done in the same step; a vehicle whose last page
        that was counts done here (``cwo/vehicles_done``), in this worker only.
        """
        if not force and (self._local or self.tracker.open_local):
            return
        leases, pages = self.tracker.take_completed(), self.tracker.take_pages()
        try:
            finished = self.coord.ack(leases, pages)
        except redis.RedisError:
            self.tracker.completed[:0] = leases
            self.tracker.pages[:0] = pages
            raise
        if finished:
            self.stats.inc_value(VEHICLES_DONE, finished)
            self.stats.inc_value(PAGE_VEHICLES_DONE, finished)

    def _encode(self, request: Request) -> bytes | None:
        try:
            return self._encode_request(request)
        except Exception as exc:  # meta not JSON, callback not a spider method, ...
            if type(exc).__name__ not in self._warned:
                self._warned.add(type(exc).__name__)
                logger.warning(
                    "Cluster: a request cannot be shared (%s: %s); it stays in this worker",
                    type(exc).__name__,
                    one_line(exc),
                )
            self.stats.inc_value("cwo_cluster/unserializable")
            return None
