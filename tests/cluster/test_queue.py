"""The shared queue of cluster mode: JSON requests, leases, worker-local requests."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
import redis
import scrapy
from scrapy.utils.test import get_crawler

from cwo_scrapy.cluster import serializer
from cwo_scrapy.cluster.queue import LOCAL_KEY, LeasingQueue
from cwo_scrapy.cluster.tracker import LEASE_KEY
from cwo_scrapy.parsing import VehicleRecord

from .conftest import RedisServer

VEHICLE = VehicleRecord(
    *(1979, "Ford", "F-150", "Base", "RWD", "c1", "m1", "truck", "pickup", "6x139.7", "6x5.5"),
    *(6, 139.7, 87.1, "lug nut", "M12x1.5", 16.0, 7.0, 0, "235/85R16"),
    *(16.0, 7.0, 0, "235/85R16", False, False),
)


class _Spider(scrapy.Spider):
    name = "queue-test"

    def parse_store(self, response: Any, **kwargs: Any) -> None:
        pass


class _MakesFile:
    """Unpickling this creates ``path``: the code a crafted queue entry would run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def _queue(server: RedisServer, crawl: str = "q") -> LeasingQueue:
    crawler = get_crawler(_Spider, {"CWO_CLUSTER_CRAWL_ID": crawl, "REDIS_URL": server.url})
    crawler.stats.open_spider()
    spider = _Spider.from_crawler(crawler)
    client = redis.Redis.from_url(server.url)
    return LeasingQueue(client, spider, f"cwo:cluster:{crawl}:requests", serializer)


def _store_request(spider: scrapy.Spider, **meta: Any) -> scrapy.Request:
    return scrapy.Request(
        "http://127.0.0.1/store/wheels?x=1",
        callback=spider.parse_store,  # type: ignore[attr-defined]
        cb_kwargs={"vehicle": VEHICLE, "combo": ("stock", "none", "no")},
        headers={"Accept": "*/*"},
        meta=meta,
        priority=3,
    )


def test_a_request_travels_as_json_and_comes_back_whole(redis_server: RedisServer) -> None:
    """What a worker pops is the request another queued: callback, vehicle, combo, headers."""
    queue = _queue(redis_server)
    request = _store_request(queue.spider, depth=2, redirect_urls=["http://a/"])
    assert queue.push(request, fingerprint="f1")
    raw = redis_server.client().zrange(queue.key, 0, 0)[0]
    assert raw.startswith("{")
    assert "VehicleRecord" in raw
    popped = queue.pop()
    assert popped is not None
    assert popped.callback == queue.spider.parse_store  # type: ignore[attr-defined]
    assert popped.cb_kwargs == {"vehicle": VEHICLE, "combo": ("stock", "none", "no")}
    assert popped.headers[b"Accept"] == b"*/*"
    assert popped.meta["redirect_urls"] == ["http://a/"]
    assert popped.priority == 3
    assert popped.meta[LEASE_KEY] in queue.tracker._open


def test_a_crafted_pickle_in_the_queue_is_rejected_and_never_run(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone able to write to Redis cannot run code on the workers through the queue."""
    queue = _queue(redis_server)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"url": "http://x/", "meta": _MakesFile(marker)}, protocol=4)
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_MakesFile(control)))  # what scrapy-redis's default would do
    assert control.exists()
    redis.Redis.from_url(redis_server.url).zadd(queue.key, {payload: -100})  # popped first
    good = _store_request(queue.spider)
    assert queue.push(good, fingerprint="f-good")
    with caplog.at_level(logging.ERROR):
        popped = queue.pop()
    assert popped is not None
    assert popped.url == good.url
    assert not marker.exists()
    assert "rejected a queued entry" in caplog.text
    assert queue.stats.get_value("cwo_cluster/undecodable") == 1
    queue.ack_finished()
    assert redis_server.client().hlen(queue.coord.inflight_key) == 1  # only the good lease


def test_a_request_marked_local_never_reaches_redis(redis_server: RedisServer) -> None:
    """``meta["cwo_cluster_local"]`` keeps a request (and its callback's state) in the worker."""
    queue = _queue(redis_server)
    local = _store_request(queue.spider, **{LOCAL_KEY: True})
    shared = _store_request(queue.spider)
    shared.priority = 100
    assert queue.push(shared, fingerprint="f1")
    assert queue.push(local, fingerprint="f2")
    assert not queue.push(_store_request(queue.spider, **{LOCAL_KEY: True}), fingerprint="f2")
    assert len(queue) == 2
    assert redis_server.client().zcard(queue.key) == 1
    assert queue.pop() is local  # local requests first, whatever the priority
    assert queue.tracker.open_local == 1


def test_a_request_that_is_not_json_stays_in_the_worker(redis_server: RedisServer) -> None:
    """An object in meta is not shared (and not lost): it runs in the worker that made it."""
    queue = _queue(redis_server)
    request = _store_request(queue.spider, thing=object())
    assert queue.push(request, fingerprint="f1")
    assert redis_server.client().zcard(queue.key) == 0
    assert queue.stats.get_value("cwo_cluster/unserializable") == 1
    assert queue.pop() is request


def test_the_serializer_builds_only_plain_values_and_allowed_dataclasses() -> None:
    @dataclasses.dataclass(frozen=True)
    class Other:
        x: int

    data = serializer.dumps({"url": "u", "meta": {"v": VEHICLE, b"k": (1, b"\x00")}})
    assert serializer.loads(data)["meta"] == {"v": VEHICLE, b"k": (1, b"\x00")}
    with pytest.raises(TypeError, match="Other"):
        serializer.dumps({"url": "u", "meta": {"o": Other(1)}})
    forged = b'{"url": "u", "meta": {"$type": "Other", "fields": {"x": 1}}}'
    with pytest.raises(ValueError, match="not a JSON request"):
        serializer.loads(forged)
    with pytest.raises(ValueError, match="not a JSON request"):
        serializer.loads(b"[" * 100_000 + b"]" * 100_000)


def test_a_child_pushed_while_redis_is_down_waits_and_its_parent_stays_leased(
    durable_redis: RedisServer,
) -> None:
    """No lost work: the child is kept, and the parent is acknowledged only once it is queued."""
    from cwo_scrapy.cluster.scheduler import ClusterScheduler
    from cwo_scrapy.cluster.tracker import PARENT_KEY

    crawler = get_crawler(_Spider, {"CWO_CLUSTER_CRAWL_ID": "p", "REDIS_URL": durable_redis.url})
    crawler.spider = spider = _Spider.from_crawler(crawler)
    scheduler = ClusterScheduler.from_crawler(crawler)
    scheduler.open(spider)
    assert scheduler.failed is None
    assert scheduler.enqueue_request(_store_request(spider))
    parent = scheduler.next_request()
    assert parent is not None
    lease = parent.meta[LEASE_KEY]
    child = scrapy.Request("http://127.0.0.1/child", meta={PARENT_KEY: lease})
    scheduler.tracker.item_started(lease)  # what the spider middleware does for a child
    scheduler.tracker.output_done(lease)

    durable_redis.kill()
    assert scheduler.enqueue_request(child)  # kept, not lost
    assert len(scheduler.pending) == 1
    assert scheduler.tracker.take_completed() == []  # the parent is not acknowledged
    with pytest.raises(redis.RedisError):
        scheduler.push_pending()
    durable_redis.restart()
    scheduler.push_pending()
    assert not scheduler.pending
    assert scheduler.tracker.take_completed() == [lease]
    client = durable_redis.client()
    assert client.zcard(scheduler.coord.queue_key) == 1  # the child
    assert client.hlen(scheduler.coord.inflight_key) == 1  # the parent, until acknowledged


def test_a_request_popped_as_redis_dies_is_run_or_put_back_never_lost(
    durable_redis: RedisServer,
) -> None:
    """Redis killed after the pop ran but before it answered (AOF: the pop survives).

    The worker asks again and gets that request; a worker that leaves instead puts it back.
    """
    from cwo_scrapy.cluster.scheduler import ClusterScheduler

    crawler = get_crawler(_Spider, {"CWO_CLUSTER_CRAWL_ID": "k", "REDIS_URL": durable_redis.url})
    crawler.spider = spider = _Spider.from_crawler(crawler)
    scheduler = ClusterScheduler.from_crawler(crawler)
    scheduler.open(spider)
    assert scheduler.enqueue_request(_store_request(spider))
    coord = scheduler.coord
    real_pop = coord._pop

    def pop_then_die(*args: Any, **kwargs: Any) -> Any:
        real_pop(*args, **kwargs)  # Redis ran it (and fsynced it) ...
        durable_redis.kill()  # ... and died before the reply reached the worker
        raise redis.ConnectionError("Connection closed by server.")

    coord._pop = pop_then_die  # type: ignore[method-assign]
    assert scheduler.next_request() is None  # Redis unreachable
    coord._pop = real_pop  # type: ignore[method-assign]
    durable_redis.restart()
    client = durable_redis.client()
    assert client.zcard(coord.queue_key) == 0  # the pop was persisted: leased, not queued
    assert client.hlen(coord.inflight_key) == 1
    # A worker that was about to leave puts it back ...
    assert scheduler.requeue_orphans() == 1
    assert client.zcard(coord.queue_key) == 1
    assert client.hlen(coord.inflight_key) == 0
    # ... and one that asks again gets it.
    request = scheduler.next_request()
    assert request is not None
    assert request.url == "http://127.0.0.1/store/wheels?x=1"
    assert scheduler.requeue_orphans() == 0  # known now: not put back twice
    assert client.hlen(coord.inflight_key) == 1


def test_a_vehicle_request_is_counted_once_for_the_cluster_however_often_it_is_yielded(
    redis_server: RedisServer,
) -> None:
    """A listing re-run after a requeue yields its vehicles again: they are not counted twice,
    so the cluster's completeness check compares finished vehicles with real ones."""
    from cwo_scrapy.cluster.scheduler import VEHICLES_QUEUED, ClusterScheduler

    def scheduler() -> ClusterScheduler:
        settings = {"CWO_CLUSTER_CRAWL_ID": "v", "REDIS_URL": redis_server.url}
        crawler = get_crawler(_Spider, settings)
        crawler.stats.open_spider()
        crawler.spider = spider = _Spider.from_crawler(crawler)
        instance = ClusterScheduler.from_crawler(crawler)
        instance.open(spider)
        return instance

    def vehicle() -> scrapy.Request:
        return scrapy.Request("http://127.0.0.1/vehicle/1", meta={"cwo_level": "vehicle"})

    first, second = scheduler(), scheduler()
    assert first.enqueue_request(vehicle())
    assert not second.enqueue_request(vehicle())  # the other worker's re-run: a duplicate
    assert first.enqueue_request(scrapy.Request("http://127.0.0.1/trims/1"))
    assert first.stats.get_value(VEHICLES_QUEUED) == 1
    assert second.stats.get_value(VEHICLES_QUEUED) is None


def test_a_drained_cluster_missing_a_vehicle_closes_incomplete_not_finished(
    redis_server: RedisServer,
) -> None:
    """Exit code 1, not 0: the workers together finished fewer vehicles than they queued."""
    from scrapy.exceptions import CloseSpider

    from cwo_scrapy.cluster.coordinator import Coordinator
    from cwo_scrapy.cluster.extension import ClusterExtension
    from cwo_scrapy.cluster.scheduler import VEHICLES_QUEUED, ClusterScheduler

    settings = {"CWO_CLUSTER_CRAWL_ID": "i", "REDIS_URL": redis_server.url}
    crawler = get_crawler(_Spider, {**settings, "CWO_CLUSTER_WORKER_ID": "me"})
    crawler.stats.open_spider()
    crawler.spider = spider = _Spider.from_crawler(crawler)
    scheduler = ClusterScheduler.from_crawler(crawler)
    scheduler.open(spider)
    extension = ClusterExtension(crawler)
    extension.scheduler = scheduler
    other = Coordinator(redis.Redis.from_url(redis_server.url), "i", "other")
    other.register({"host": "test"})
    other.heartbeat({VEHICLES_QUEUED: 2, "cwo/vehicles_done": 1})
    crawler.stats.set_value("cwo/vehicles_done", 1)
    extension._check_complete(scheduler)  # 2 queued, 2 done: finished
    assert crawler.stats.get_value("cwo_cluster/vehicles_done_total") == 2
    crawler.stats.set_value("cwo/vehicles_done", 0)
    extension._check_complete(scheduler)  # a spider whose counts are not exact: reported only
    assert crawler.stats.get_value("cwo_cluster/vehicles_done_total") == 1
    spider.cluster_vehicle_check = True  # type: ignore[attr-defined]
    with pytest.raises(CloseSpider) as closed:
        extension._check_complete(scheduler)
    assert closed.value.reason == "incomplete"
