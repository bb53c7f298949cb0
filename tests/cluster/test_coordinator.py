"""The Redis side of cluster mode: leases, requeue of dead workers, drained detection, seeding."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from cwo_scrapy.cluster.addon import per_worker_uri
from cwo_scrapy.cluster.coordinator import Coordinator
from cwo_scrapy.cluster.output import merge, write_jsonl

from .conftest import RedisServer


def _client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def _worker(server: RedisServer, name: str, ttl: float = 30.0) -> Coordinator:
    coord = Coordinator(_client(server), "crawl", name, worker_ttl=ttl)
    coord.register({"host": "test"})
    return coord


def test_a_popped_request_is_leased_until_acknowledged(redis_server: RedisServer) -> None:
    a = _worker(redis_server, "a")
    assert a.push(b"low", 0, fingerprint="f1")
    assert a.push(b"high", 5, fingerprint="f2")
    assert not a.push(b"high-again", 5, fingerprint="f2")  # seen: filtered
    lease, data = a.pop()  # type: ignore[misc]
    assert data == b"high"  # priority order, like scrapy-redis's PriorityQueue
    assert a.queued() == 1
    assert redis_server.client().hlen(a.inflight_key) == 1
    a.ack([lease])
    assert redis_server.client().hlen(a.inflight_key) == 0


def test_a_retry_replaces_its_lease_atomically(redis_server: RedisServer) -> None:
    a = _worker(redis_server, "a")
    a.push(b"req", 0, fingerprint="f1")
    lease, _ = a.pop()  # type: ignore[misc]
    assert a.push(b"req-retry", 0, handoff=lease)  # dont_filter: no fingerprint
    assert redis_server.client().hlen(a.inflight_key) == 0
    assert a.queued() == 1


def test_a_dead_workers_leases_return_to_the_queue_once(redis_server: RedisServer) -> None:
    dead, live, other = (
        _worker(redis_server, "dead", ttl=0.3),
        _worker(redis_server, "live"),
        _worker(redis_server, "other"),
    )
    for n in range(3):
        dead.push(f"r{n}".encode(), n, fingerprint=f"f{n}")
    assert dead.pop()
    assert dead.pop()
    status = live.status()
    assert status.busy_others == 1
    assert status.requeued == 0
    assert not status.drained
    time.sleep(0.5)  # no heartbeat: its liveness key lapses
    first, second = live.status(), other.status()
    assert (first.requeued, second.requeued) == (2, 0)
    assert first.queued == 3
    assert first.busy_others == 0
    assert "dead" not in json.dumps(live.snapshot()["workers"])


def test_the_crawl_is_drained_only_when_seeded_empty_and_nobody_busy(
    redis_server: RedisServer,
) -> None:
    a, b = _worker(redis_server, "a"), _worker(redis_server, "b")
    assert a.status().seed == ""
    assert not a.status().drained
    assert a.claim_seed() == "mine"
    assert b.claim_seed() == "theirs"
    assert b.status().seed == "running"
    assert not b.status().drained
    a.push(b"seed", 0, fingerprint="s")
    a.seed_done()
    assert not b.status().drained  # a request is queued
    lease, _ = b.pop()  # type: ignore[misc]
    assert not a.status().drained  # b is busy and may add requests
    b.ack([lease])
    b.set_busy(False)
    assert a.status().drained
    assert b.status().drained
    a.mark_finished({})
    assert _worker(redis_server, "late").claim_seed() == "finished"


def test_a_seeding_worker_that_died_is_replaced(redis_server: RedisServer) -> None:
    seeder = _worker(redis_server, "seeder", ttl=0.3)
    assert seeder.claim_seed() == "mine"
    time.sleep(0.5)
    assert _worker(redis_server, "other").status().seed == "orphaned"
    assert _worker(redis_server, "new").claim_seed() == "resumed"


def test_per_worker_feed_uris_and_merge_of_worker_files(tmp_path: Path) -> None:
    assert per_worker_uri("data/fitment.jsonl") == "data/fitment-%(worker)s.jsonl"
    assert per_worker_uri("out-%(worker)s.jsonl") == "out-%(worker)s.jsonl"
    assert per_worker_uri("s3://bucket/f.jsonl") == "s3://bucket/f.jsonl"
    v1 = {"year": 1979, "make": "A", "model": "B", "trim": "C", "drive": "RWD", "hub": 1.0}
    v2 = {**v1, "drive": "4WD"}
    (tmp_path / "w1.jsonl").write_text(json.dumps(v1) + "\n" + json.dumps(v2) + "\n")
    # a repeat (re-run after a crash) and a truncated last line (killed mid-write)
    (tmp_path / "w2.jsonl").write_text(json.dumps(v2) + "\n" + '{"year": 19')
    items, report = merge(sorted(tmp_path.glob("w*.jsonl")))
    assert items == [v1, v2]
    assert report.ok
    assert (report.repeats, len(report.bad_lines)) == (1, 1)
    write_jsonl(items, tmp_path / "merged.jsonl")
    assert len((tmp_path / "merged.jsonl").read_text().splitlines()) == 2
    (tmp_path / "w3.jsonl").write_text(json.dumps({**v1, "hub": 2.0}) + "\n")
    _, conflicting = merge(sorted(tmp_path.glob("w*.jsonl")))
    assert not conflicting.ok
    assert len(conflicting.conflicts) == 1


@pytest.mark.parametrize("command", [["status"], ["reset", "crawl"]])
def test_cluster_cli_reports_an_unreachable_redis_in_one_line(
    command: list[str], dead_redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cwo_scrapy.cluster.__main__ import main

    assert main(["--redis", dead_redis_url, *command]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "s3cretpass" not in err
    assert "redis://:****@127.0.0.1" in err


def test_cluster_cli_status_and_reset(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from cwo_scrapy.cluster.__main__ import main

    w = _worker(redis_server, "w1")
    w.push(b"x", 0, fingerprint="f")
    assert main(["--redis", redis_server.url, "status"]) == 0
    out = capsys.readouterr().out
    assert "crawl 'crawl'" in out
    assert "1 requests queued" in out
    assert "worker w1: alive" in out
    assert main(["--redis", redis_server.url, "reset", "crawl"]) == 1  # a live worker
    assert main(["--redis", redis_server.url, "reset", "crawl", "--force"]) == 0
    assert not list(redis_server.client().scan_iter(match="cwo:cluster:crawl:*"))


def test_cluster_reset_deletes_exactly_one_crawl(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reset a`` leaves crawl ``a:b`` alone; ``reset '*'`` is not a wildcard."""
    from cwo_scrapy.cluster.__main__ import main

    for crawl in ("a", "a:b", "a?", "other"):
        coord = Coordinator(_client(redis_server), crawl, "w1", worker_ttl=30)
        coord.register({"host": "test"})
        coord.heartbeat({"item_scraped_count": 1})
        coord.push(b"x", 0, fingerprint="f")
        coord.deregister(requeue=False)
    client = redis_server.client()
    before = set(client.keys("*"))

    def remaining(crawl: str) -> set[str]:
        return {k for k in client.keys("*") if k.startswith(f"cwo:cluster:{crawl}:")}

    assert main(["--redis", redis_server.url, "reset", "*"]) == 0
    assert main(["--redis", redis_server.url, "reset", "a*"]) == 0
    assert set(client.keys("*")) == before
    a_keys = remaining("a") - remaining("a:b") - remaining("a?")
    assert a_keys
    assert main(["--redis", redis_server.url, "reset", "a"]) == 0
    assert f"deleted {len(a_keys)} keys of crawl 'a' " in capsys.readouterr().out
    assert set(client.keys("*")) == before - a_keys
    assert remaining("a:b")
    assert remaining("a?")
    assert main(["--redis", redis_server.url, "status", "a:b"]) == 0
    assert "1 requests queued" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:{port}/0?password=s3cretpass", "?password=****"),
        ("redis://127.0.0.1:99999/0?password=s3cretpass", "Port out of range"),
    ],
)
def test_cluster_cli_masks_a_password_in_the_query_and_reports_a_bad_port(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cwo_scrapy.cluster.__main__ import main

    from .conftest import free_port

    assert main(["--redis", url.format(port=free_port()), "status"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert "s3cretpass" not in err


def _lose_replies(coord: Coordinator, script: str, times: int = 1) -> None:
    """The script runs in Redis, then the worker gets a connection error instead of the reply
    (Redis killed after running it, before answering)."""
    real = getattr(coord, script)
    left = [times]

    def run(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        if left[0] > 0:
            left[0] -= 1
            raise redis.ConnectionError("Connection closed by server.")
        return result

    setattr(coord, script, run)


def test_a_pop_whose_reply_was_lost_returns_the_same_request_when_asked_again(
    redis_server: RedisServer,
) -> None:
    """No request is stranded leased to a worker that never received it."""
    a = _worker(redis_server, "a")
    a.push(b"first", 5, fingerprint="f1")
    a.push(b"second", 0, fingerprint="f2")
    _lose_replies(a, "_pop")
    with pytest.raises(redis.ConnectionError):
        a.pop()
    lease, data = a.pop()  # type: ignore[misc]
    assert data == b"first"  # the request the lost reply held, not the next one
    assert a.queued() == 1
    assert redis_server.client().hkeys(a.inflight_key) == [lease]
    lease2, data2 = a.pop()  # type: ignore[misc]
    assert (data2, a.queued()) == (b"second", 0)
    assert lease2 != lease


def test_leases_a_worker_does_not_know_of_go_back_to_the_queue(redis_server: RedisServer) -> None:
    """A worker about to leave puts back what Redis leased to it but it never got."""
    a = _worker(redis_server, "a")
    a.push(b"kept", 5, fingerprint="f1")
    a.push(b"lost", 0, fingerprint="f2")
    kept, _ = a.pop()  # type: ignore[misc]
    _lose_replies(a, "_pop")
    with pytest.raises(redis.ConnectionError):
        a.pop()
    assert a.queued() == 0
    assert a.requeue_unknown({kept}) == 1
    assert a.queued() == 1
    assert redis_server.client().hkeys(a.inflight_key) == [kept]
    assert a.pop()[1] == b"lost"  # type: ignore[index]


def test_a_crawl_with_queued_requests_is_not_marked_finished(redis_server: RedisServer) -> None:
    """A request queued after a worker last saw the crawl drained is not deleted."""
    a = _worker(redis_server, "a")
    a.push(b"late", 0, fingerprint="f1")
    assert not a.mark_finished({})
    assert a.queued() == 1
    assert a.finished_status() == {}
    lease, _ = a.pop()  # type: ignore[misc]
    a.ack([lease])
    assert a.mark_finished({})
    assert a.finished_status()[b"status"] == b"finished"  # type: ignore[index]


def test_vehicles_are_summed_over_the_workers_that_queued_and_finished_them(
    redis_server: RedisServer,
) -> None:
    """One worker queues a vehicle, another finishes it: only the cluster's sums can tell a
    vehicle is missing."""
    from cwo_scrapy.cluster.extension import vehicle_totals

    a, b = _worker(redis_server, "a"), _worker(redis_server, "b")
    a.heartbeat({"cwo_cluster/vehicles_queued": 3, "cwo/vehicles_done": 1})
    b.heartbeat({"cwo_cluster/vehicles_queued": 0, "cwo/vehicles_done": 1})
    assert vehicle_totals(a.published_stats()) == (3, 2)  # one vehicle never finished
    b.heartbeat({"cwo_cluster/vehicles_queued": 0, "cwo/vehicles_done": 2})
    assert vehicle_totals(b.published_stats()) == (3, 3)


def test_a_vehicle_of_several_pages_is_done_once_wherever_its_last_page_finishes(
    redis_server: RedisServer,
) -> None:
    """wheel_size's store pages of one vehicle run on any worker: the vehicle is counted done
    once, by the acknowledgement of its last page, however often a retried, requeued or
    re-yielded page runs; ``reset`` deletes the bookkeeping."""
    a, b = _worker(redis_server, "a"), _worker(redis_server, "b")
    for n in range(3):
        assert a.push(f"page{n}".encode(), 6, page=("u", n, 3, 3))
    assert a.page_totals() == (1, 0)  # one vehicle with pages pending, none done
    lease_b, data = b.pop()  # type: ignore[misc]
    page_b = ("u", int(data.decode()[-1]), 3, 3)
    lease_a, data = a.pop()  # type: ignore[misc]
    page_a = ("u", int(data.decode()[-1]), 3, 3)
    assert a.push(data + b"-retry", 6, handoff=lease_a, page=page_a)  # a retry: same page
    assert b.ack([lease_b], [page_b]) == 0
    assert b.ack([], [page_b]) == 0  # the same page again (its lease was requeued): once
    assert a.page_totals() == (1, 0)
    done = 0
    while (popped := a.pop()) is not None:
        lease, data = popped
        number = int(data.decode().split("-")[0][-1])
        done += a.ack([lease], [("u", number, 3, 3)])
    assert done == 1
    assert a.page_totals() == (0, 1)
    # a re-run of the vehicle's record yields its pages again: the vehicle stays done
    assert a.push(b"page0", 6, page=("u", 0, 3, 3))
    lease, _ = a.pop()  # type: ignore[misc]
    assert a.ack([lease], [("u", 0, 3, 3)]) == 0
    assert a.page_totals() == (0, 1)
    client = redis_server.client()
    assert sorted(client.hkeys(a.pages_key)) == ["=done", "=pending", "u"]  # no page fields
    a.reset()
    assert not client.exists(a.pages_key)
