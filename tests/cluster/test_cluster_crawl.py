"""Several ``scrapy crawl`` worker processes share one crawl through Redis (cluster mode).

Each test starts a private redis-server and replica, then real worker subprocesses with
``-s CWO_CLUSTER=True``; the union of the workers' output files is compared with the replica's
ground truth. Year 1979 is a slice of 306 vehicles.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cwo_scrapy.cluster.__main__ import main
from cwo_scrapy.cluster.output import merge
from cwo_scrapy.replica.harness import ReplicaProcess
from cwo_scrapy.replica.truth import fitment_items, wheel_size_items
from cwo_scrapy.session.redis_store import RedisSessionStore

from .conftest import RedisServer

ROOT = Path(__file__).resolve().parents[2]
YEAR = 1979
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)

pytestmark = pytest.mark.redis


def _canonical(item: Any) -> str:
    data = dataclasses.asdict(item) if dataclasses.is_dataclass(item) else item
    return json.dumps(data, sort_keys=True)


class Cluster:
    """Worker subprocesses of one crawl; logs and outputs in ``folder``."""

    def __init__(
        self, redis: RedisServer, replica: ReplicaProcess, folder: Path, spider: str, crawl_id: str
    ) -> None:
        self.redis, self.replica, self.folder = redis, replica, folder
        self.spider, self.crawl_id = spider, crawl_id
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, worker: str, *extra: str) -> subprocess.Popen[bytes]:
        settings = {
            **self.replica.settings(),
            "CWO_CLUSTER": "True",
            "CWO_REDIS_URL": self.redis.url,
            "CWO_CLUSTER_CRAWL_ID": self.crawl_id,
            "CWO_CLUSTER_WORKER_ID": worker,
            "CWO_CLUSTER_HEARTBEAT": "0.5",
            "CWO_CLUSTER_WORKER_TTL": "2",
            "CWO_CLUSTER_IDLE_CLOSE": "1",
            "CWO_PROFILE": "fast",
            "CONCURRENT_REQUESTS": "4",
            "CWO_PROGRESS_INTERVAL": "0",
            "CWO_SESSION_FILE": str(self.folder / "unused-session.json"),
            "CWO_CAPTCHA_RESOLVER": "capsolver",
            "CWO_CAPSOLVER_API_KEY": "test-client-key",
            "CWO_CAPSOLVER_POLL_INTERVAL": "0.1",
            "TELNETCONSOLE_ENABLED": "False",
        }
        args = [sys.executable, "-m", "scrapy.cmdline", "crawl", self.spider, "-a", f"year={YEAR}"]
        for key, value in settings.items():
            args += ["-s", f"{key}={value}"]
        args += ["-O", str(self.folder / "out-%(worker)s.jsonl"), *extra]
        log = open(self.folder / f"{worker}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[worker] = proc
        return proc

    def log(self, worker: str) -> str:
        return (self.folder / f"{worker}.log").read_text(errors="replace")

    def wait(self, timeout: float = 240) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        codes = {}
        for name, proc in self.procs.items():
            codes[name] = proc.wait(timeout=max(1, deadline - time.monotonic()))
        return codes

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def published(self) -> dict[str, dict[str, Any]]:
        """Each worker's counters as published to Redis (the last one at close)."""
        client = self.redis.client()
        out = {}
        for key in client.scan_iter(match=f"cwo:cluster:{self.crawl_id}:stats:*"):
            out[key.rsplit(":", 1)[1]] = json.loads(client.get(key))
        return out

    def total(self, stat: str) -> int:
        return sum(int(s.get(stat, 0)) for s in self.published().values())

    def wait_for(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for the crawl to progress")
            if all(p.poll() is not None for p in self.procs.values()):
                pytest.fail("every worker exited before the crawl progressed")
            time.sleep(0.1)

    def outputs(self) -> list[Path]:
        return sorted(self.folder.glob("out-*.jsonl"))

    def raw_items(self) -> list[str]:
        return [
            _canonical(json.loads(line))
            for path in self.outputs()
            for line in path.read_text().splitlines()
            if line.strip()
        ]


@pytest.fixture
def cluster_factory(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(replica: ReplicaProcess, spider: str = "fitment") -> Cluster:
        cluster = Cluster(redis_server, replica, tmp_path, spider, f"test-{len(made)}")
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop_all()


def _assert_clean_exit(cluster: Cluster, codes: dict[str, int]) -> None:
    for worker, code in codes.items():
        assert code == 0, f"{worker} exited {code}:\n{cluster.log(worker)[-3000:]}"


def test_three_workers_crawl_one_slice_exactly_once_each(
    cluster_factory: Callable[..., Cluster], replica: ReplicaProcess
) -> None:
    """The union of three workers' files is the ground truth; no vehicle is crawled twice."""
    cluster = cluster_factory(replica)
    for name in ("w1", "w2", "w3"):
        cluster.start(name)
    codes = cluster.wait()
    _assert_clean_exit(cluster, codes)

    got = cluster.raw_items()
    truth = [_canonical(item) for item in fitment_items(year=YEAR)]
    assert len(got) == len(set(got)), "a vehicle was written by two workers"
    assert sorted(got) == sorted(truth)
    # every worker did part of the work and only one seeded the crawl
    per_worker = {p.name: len(p.read_text().splitlines()) for p in cluster.outputs()}
    assert len(per_worker) == 3
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert sum("seeded the crawl" in cluster.log(w) for w in ("w1", "w2", "w3")) == 1
    popped = {w: s["cwo_cluster/requests_popped"] for w, s in cluster.published().items()}
    assert all(n > 0 for n in popped.values()), popped
    # the crawl is recorded as finished and its queue and dupefilter are gone
    client = cluster.redis.client()
    assert client.hget(f"cwo:cluster:{cluster.crawl_id}:meta", "status") == "finished"
    assert not client.exists(f"cwo:cluster:{cluster.crawl_id}:requests")


def test_token_revoked_mid_crawl_is_resolved_once_for_the_whole_cluster(
    cluster_factory: Callable[..., Cluster], replica_factory: Callable[..., ReplicaProcess]
) -> None:
    """Single flight across machines: one worker resolves, the others adopt its token."""
    waf = replica_factory(waf="challenge", token_ttl=300)
    cluster = cluster_factory(waf, spider="wheel_size")
    now = time.time()
    RedisSessionStore(cluster.redis.url).update(
        aws_waf_token=waf.mint_token(UA), user_agent=UA, token_obtained_at=now, created_at=now
    )
    for name in ("w1", "w2", "w3"):
        cluster.start(name)
    cluster.wait_for(lambda: cluster.total("item_scraped_count") >= 40)
    waf.control(revoke_tokens=True)
    codes = cluster.wait()
    _assert_clean_exit(cluster, codes)

    assert cluster.total("cwo_session/resolutions") == 1, cluster.published()
    assert cluster.total("cwo_session/challenges_detected") >= 1
    got = cluster.raw_items()
    truth = [_canonical(item) for item in wheel_size_items(year=YEAR, site_url=waf.site_url)]
    assert len(got) == len(set(got))
    assert sorted(got) == sorted(truth)


def test_a_killed_worker_loses_no_vehicle(
    cluster_factory: Callable[..., Cluster], replica: ReplicaProcess
) -> None:
    """SIGKILL mid-crawl: its leased requests go back to the queue; a restarted worker helps.

    A vehicle the killed worker wrote but had not acknowledged runs again elsewhere; the merge
    keeps one copy, and a conflicting copy would fail it.
    """
    cluster = cluster_factory(replica)
    for name in ("w1", "w2", "w3"):
        cluster.start(name)
    cluster.wait_for(lambda: cluster.published().get("w2", {}).get("item_scraped_count", 0) >= 20)
    os.kill(cluster.procs["w2"].pid, signal.SIGKILL)
    cluster.procs["w2"].wait()
    cluster.start("w4")  # the restarted worker
    codes = cluster.wait()
    assert codes.pop("w2") == -signal.SIGKILL
    if codes["w4"] == 1 and "reason 'cluster_crawl_finished'" in cluster.log("w4"):
        del codes["w4"]  # on a loaded machine the others may finish before it has started
    _assert_clean_exit(cluster, codes)

    items, report = merge(cluster.outputs())
    assert report.ok, report.conflicts
    truth = [_canonical(item) for item in fitment_items(year=YEAR)]
    assert sorted(_canonical(item) for item in items) == sorted(truth)
    assert cluster.total("cwo_cluster/requeued") >= 1
    assert "put its" in cluster.log("w1") + cluster.log("w3") + cluster.log("w4")


@pytest.mark.parametrize("password_in", ["userinfo", "query"])
def test_unreachable_redis_is_a_one_line_error_and_a_non_zero_exit(
    replica: ReplicaProcess, dead_redis_url: str, tmp_path: Path, password_in: str
) -> None:
    """The password is masked wherever the URL holds it (``:pw@`` or ``?password=pw``)."""
    masked = "redis://:****@127.0.0.1"
    if password_in == "query":
        dead_redis_url = dead_redis_url.replace(":s3cretpass@", "") + "?password=s3cretpass"
        masked = "/0?password=****"
    args = [sys.executable, "-m", "scrapy.cmdline", "crawl", "fitment", "-a", f"year={YEAR}"]
    for key, value in {
        **replica.settings(),
        "CWO_CLUSTER": "True",
        "CWO_REDIS_URL": dead_redis_url,
        "TELNETCONSOLE_ENABLED": "False",
    }.items():
        args += ["-s", f"{key}={value}"]
    args += ["-O", str(tmp_path / "out-%(worker)s.jsonl")]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("scrapy crawl: error: crawl closed with reason 'redis_unreachable'")
    assert masked in last
    assert "Traceback" not in result.stderr
    assert "s3cretpass" not in result.stderr + result.stdout


def _assert_no_stray_errors(cluster: Cluster, worker: str) -> None:
    log = cluster.log(worker)
    assert "Task exception was never retrieved" not in log
    assert "Traceback" not in log, log[-3000:]


def _through_a_redis_restart(
    cluster: Cluster, redis_server: RedisServer, args: tuple[str, ...], after_items: int
) -> tuple[list[dict[str, Any]], Any]:
    """Two workers; kill -9 Redis once ``after_items`` items are out, restart it 3 s later.

    Both workers must exit cleanly, having seen the outage; returns the merged output.
    """
    try:
        for name in ("w1", "w2"):
            cluster.start(name, *args)
        cluster.wait_for(lambda: cluster.total("item_scraped_count") >= after_items)
        redis_server.kill()
        time.sleep(3)
        redis_server.restart()
        codes = cluster.wait()
    finally:
        cluster.stop_all()
    _assert_clean_exit(cluster, codes)
    for worker in codes:
        _assert_no_stray_errors(cluster, worker)
    assert "unreachable" in cluster.log("w1") + cluster.log("w2")  # the outage was seen
    items, report = merge(cluster.outputs())
    assert report.ok, report.conflicts
    return items, report


@pytest.mark.parametrize("after_items", [30, 250], ids=["early", "near-the-end"])
def test_redis_killed_and_restarted_mid_crawl_loses_no_vehicle(
    durable_redis: RedisServer, replica: ReplicaProcess, tmp_path: Path, after_items: int
) -> None:
    """kill -9 of Redis (AOF, fsync always) and a restart: every vehicle, clean exits.

    Requests a worker cannot push while Redis is down wait in its memory, and their parent
    request is not acknowledged before they are queued. A request popped as Redis died (the
    pop persisted, its reply lost) is run or put back, never dropped. Near the end of the
    crawl, a worker holding such requests keeps the others from finishing the crawl.
    """
    cluster = Cluster(durable_redis, replica, tmp_path, "fitment", "restart")
    items, report = _through_a_redis_restart(cluster, durable_redis, (), after_items)
    assert not report.bad_lines
    truth = [_canonical(item) for item in fitment_items(year=YEAR)]
    assert sorted(_canonical(item) for item in items) == sorted(truth)


def test_redis_gone_for_good_ends_the_worker_with_redis_unreachable(
    durable_redis: RedisServer, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """Past CWO_CLUSTER_REDIS_TIMEOUT: one line naming the cause, exit 1, whole output lines."""
    cluster = Cluster(durable_redis, replica, tmp_path, "fitment", "gone")
    try:
        cluster.start("w1", "-s", "CWO_CLUSTER_REDIS_TIMEOUT=3")
        cluster.wait_for(lambda: cluster.total("item_scraped_count") >= 20)
        durable_redis.kill()
        code = cluster.procs["w1"].wait(timeout=120)
    finally:
        cluster.stop_all()
    log = cluster.log("w1")
    assert code == 1, log[-3000:]
    last = log.strip().splitlines()[-1]
    assert last.startswith("scrapy crawl: error: crawl closed with reason 'redis_unreachable'")
    assert "CWO_CLUSTER_REDIS_TIMEOUT" in last
    _assert_no_stray_errors(cluster, "w1")
    lines = [line for path in cluster.outputs() for line in path.read_text().splitlines()]
    assert lines
    for line in lines:
        json.loads(line)  # whole lines only


# wheel_size with every modification of one suspension and rubbing choice: 5 store pages per
# car and 7 per truck, so each vehicle's pages spread over the workers.
NARROW = ("-a", "combos=all", "-a", "suspension=Stock", "-a", "rubbing=No rubbing or scrubbing")


def _narrow_truth(make: str, site_url: str) -> list[str]:
    return [
        _canonical(item)
        for item in wheel_size_items(year=YEAR, make=make, combos="all", site_url=site_url)
        if item.suspension == "Stock" and item.rubbing == "No rubbing or scrubbing"
    ]


def _pages(cluster: Cluster) -> dict[str, str]:
    return cluster.redis.client().hgetall(f"cwo:cluster:{cluster.crawl_id}:pages")


def test_wheel_size_vehicles_are_done_wherever_their_last_store_page_finishes(
    cluster_factory: Callable[..., Cluster], replica: ReplicaProcess
) -> None:
    """Two workers share each vehicle's store pages; the crawl ends ``finished``, exit 0, with
    every vehicle counted done once and the cluster's totals equal."""
    cluster = cluster_factory(replica, spider="wheel_size")
    for name in ("w1", "w2"):
        cluster.start(name, "-a", "make=Ford", *NARROW)
    codes = cluster.wait()
    _assert_clean_exit(cluster, codes)

    items, report = merge(cluster.outputs())
    assert report.ok, report.conflicts
    truth = _narrow_truth("Ford", replica.site_url)
    assert sorted(_canonical(item) for item in items) == sorted(truth)
    published = cluster.published()
    assert all(s["cwo_cluster/requests_popped"] > 0 for s in published.values()), published
    vehicles = 30  # Ford's 1979 vehicles, each with store pages
    assert cluster.total("cwo_cluster/vehicles_queued") == vehicles
    assert cluster.total("cwo/vehicles_done") == vehicles
    assert cluster.total("cwo_cluster/vehicles_done_by_pages") == vehicles
    assert _pages(cluster) == {"=pending": "0", "=done": str(vehicles)}
    for worker in codes:
        assert f"'cwo_cluster/vehicles_done_total': {vehicles}," in cluster.log(worker)
        assert f"'cwo_cluster/vehicles_queued_total': {vehicles}," in cluster.log(worker)


def test_a_wheel_size_store_page_lost_from_the_queue_ends_the_crawl_incomplete(
    cluster_factory: Callable[..., Cluster],
    replica: ReplicaProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A queued store page deleted from Redis (lost work, with no failure anywhere): the
    drained crawl ends ``incomplete``, exit 1, naming the vehicle never finished."""
    cluster = cluster_factory(replica, spider="wheel_size")
    slow = ("-s", "DOWNLOAD_DELAY=0.1")  # store pages wait in the queue long enough to catch
    for name in ("w1", "w2"):
        cluster.start(name, "-a", "make=Jeep", *NARROW, *slow)
    client = cluster.redis.client()
    queue = f"cwo:cluster:{cluster.crawl_id}:requests"
    lost: list[str] = []

    def remove_a_store_page() -> bool:
        for member in client.zrange(queue, 0, -1):
            if "cwo_cluster_page" in member and client.zrem(queue, member):
                lost.append(member)
                return True
        return False

    cluster.wait_for(remove_a_store_page, timeout=120)
    codes = cluster.wait()

    assert len(lost) == 1
    for worker, code in codes.items():
        log = cluster.log(worker)
        assert code == 1, f"{worker} exited {code}:\n{log[-3000:]}"
        last = log.strip().splitlines()[-1]
        assert last.startswith(
            "scrapy crawl: error: crawl closed with reason 'incomplete': 1 of the 15 vehicles "
            "queued by the workers were never finished (1 with store pages never finished)"
        ), last
    items, report = merge(cluster.outputs())
    assert report.ok, report.conflicts
    assert len(items) == len(_narrow_truth("Jeep", replica.site_url)) - 1
    assert _pages(cluster)["=pending"] == "1"
    assert main(["--redis", cluster.redis.url, "status", cluster.crawl_id]) == 0
    assert "; 1 vehicle(s) with store pages pending" in capsys.readouterr().out


def test_a_killed_worker_s_store_pages_run_elsewhere_and_each_vehicle_counts_once(
    cluster_factory: Callable[..., Cluster], replica: ReplicaProcess
) -> None:
    """SIGKILL of a worker holding store pages: they are requeued and finished by the others;
    a page run twice (written, not yet acknowledged) is counted once, so the crawl ends
    ``finished``, exit 0, with every vehicle done once."""
    cluster = cluster_factory(replica, spider="wheel_size")
    for name in ("w1", "w2", "w3"):
        cluster.start(name, "-a", "make=Ford", *NARROW, "-s", "DOWNLOAD_DELAY=0.02")
    cluster.wait_for(lambda: cluster.published().get("w2", {}).get("item_scraped_count", 0) >= 15)
    os.kill(cluster.procs["w2"].pid, signal.SIGKILL)
    cluster.procs["w2"].wait()
    codes = cluster.wait()
    assert codes.pop("w2") == -signal.SIGKILL
    _assert_clean_exit(cluster, codes)

    items, report = merge(cluster.outputs())
    assert report.ok, report.conflicts
    assert sorted(_canonical(item) for item in items) == sorted(
        _narrow_truth("Ford", replica.site_url)
    )
    assert cluster.total("cwo_cluster/requeued") >= 1
    assert _pages(cluster) == {"=pending": "0", "=done": "30"}


def test_wheel_size_across_a_redis_restart_counts_every_vehicle_once(
    durable_redis: RedisServer, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """kill -9 of Redis mid-crawl and a restart: pushes and acknowledgements whose replies
    were lost are asked again without counting a page twice or losing one."""
    cluster = Cluster(durable_redis, replica, tmp_path, "wheel_size", "ws-restart")
    items, _ = _through_a_redis_restart(cluster, durable_redis, ("-a", "make=Ford", *NARROW), 40)
    assert sorted(_canonical(item) for item in items) == sorted(
        _narrow_truth("Ford", replica.site_url)
    )
    assert _pages(cluster) == {"=pending": "0", "=done": "30"}


def test_a_wheel_size_crawl_resumed_by_a_new_worker_finishes_every_vehicle(
    cluster_factory: Callable[..., Cluster], replica: ReplicaProcess
) -> None:
    """Its only worker killed mid-crawl, a new worker resumes the crawl: the vehicles whose
    pages were pending are finished from the counts kept in Redis, and it ends ``finished``."""
    cluster = cluster_factory(replica, spider="wheel_size")
    scope = ("-a", "make=Ford", *NARROW)
    cluster.start("w1", *scope)
    cluster.wait_for(lambda: cluster.total("item_scraped_count") >= 40)
    os.kill(cluster.procs["w1"].pid, signal.SIGKILL)
    cluster.procs["w1"].wait()
    assert int(_pages(cluster).get("=done", 0)) < 30
    del cluster.procs["w1"]
    cluster.start("w2", *scope)
    codes = cluster.wait()
    _assert_clean_exit(cluster, codes)
    items, report = merge(cluster.outputs())
    assert report.ok, report.conflicts
    assert sorted(_canonical(item) for item in items) == sorted(
        _narrow_truth("Ford", replica.site_url)
    )
    assert _pages(cluster) == {"=pending": "0", "=done": "30"}
