"""Redis side of a distributed crawl: the shared queue, in-flight leases, workers, seeding.

No Scrapy imports: this module moves opaque serialised requests around, so its guarantees are
unit-tested without a crawl.

Keys, all under ``<prefix>:<crawl id>`` (``prefix`` defaults to ``cwo:cluster``):

- ``requests``: sorted set, the shared queue, in scrapy-redis's ``PriorityQueue`` format
  (member = serialised request, score = ``-priority``), so scrapy-redis tools still read it;
- ``dupefilter``: set of request fingerprints (scrapy-redis ``RFPDupeFilter``);
- ``inflight:<worker>``: hash ``id -> "<score>:<request>"``: every request a worker popped and
  has not acknowledged yet. Pop and lease are one Lua script, so a request is always either in
  the queue or leased to exactly one worker; a killed worker's leases go back to the queue.
  The worker chooses the lease id and asks again with the same id until a pop answers, so a
  pop whose reply was lost (Redis killed after running it) returns the same request;
- ``workers`` (hash worker -> JSON info), ``busy`` (hash worker -> 0/1), ``alive:<worker>``
  (string with a TTL refreshed by the worker's heartbeat: when it lapses, the worker is dead);
- ``seed``: hash ``owner``/``state`` (``running``/``done``): only one worker runs ``start()``;
- ``meta``: hash ``status`` (``running``/``finished``), timestamps; ``stats:<worker>``: the
  worker's published counters (progress and the end-of-crawl sums);
- ``pages``: hash, the vehicles whose items come from several requests (``wheel_size``'s
  store pages, spread over the workers): field ``<unit>`` = pages not yet done (kept at 0 once
  the vehicle is done, so a re-run of its record does not open it again), ``<unit>#<page>`` =
  ``1`` while that page is pending, ``0`` once done (deleted with the vehicle), ``=pending``
  = vehicles with pages not done, ``=done`` = vehicles finished. A page is registered by the
  push that queues it and marked done by the acknowledgement of the lease that ran it, each
  in the same Lua step, so the whole cluster counts each vehicle done once, in whichever
  worker finishes its last page, however often a requeued or retried page runs;
- ``seq``: lease-id counter of earlier versions (``reset`` still deletes it); ``members``:
  set of every worker that ever joined, so that ``reset`` deletes exactly this crawl's keys
  (no ``SCAN`` pattern: crawl ``a`` must not match crawl ``a:b``, nor ``*`` every crawl).

Only standalone Redis (or a Sentinel-managed primary) is supported: the scripts touch keys
they compute from the worker list, which Redis Cluster forbids.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

DEFAULT_PREFIX = "cwo:cluster"

#: One page of a vehicle whose items come from several requests: (vehicle unit id, page
#: number among the vehicle's pages, pages this crawl runs for it, pages the vehicle has).
#: Pages are numbered in the vehicle's full list, so a re-run that skips some still agrees.
PageTag = tuple[str, int, int, int]

# Pop the best request and lease it under the id the worker chose. If that id is already
# leased, return its request instead of popping another: a worker whose pop reply was lost
# (Redis killed after the script ran, or a connection reset) asks again with the same id and
# gets the same request back, so no request is stranded in its in-flight hash.
# KEYS: queue, inflight, busy   ARGV: worker, lease id
_POP = """
local held = redis.call('HGET', KEYS[2], ARGV[2])
if held then
  local sep = string.find(held, ':', 1, true)
  return {ARGV[2], string.sub(held, sep + 1)}
end
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREM', KEYS[1], r[1])
redis.call('HSET', KEYS[2], ARGV[2], r[2] .. ':' .. r[1])
redis.call('HSET', KEYS[3], ARGV[1], '1')
return {ARGV[2], r[1]}
"""

# Requeue this worker's leases that it does not know of (``ARGV``: the leases it holds): a
# pop whose reply never arrived, or any lease its process lost track of. Left in place they
# would be deleted, never run, when the worker leaves a finished crawl.
# KEYS: inflight, queue   ARGV: known lease ids
_REQUEUE_UNKNOWN = """
local known = {}
for i = 1, #ARGV do known[ARGV[i]] = true end
local entries = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #entries, 2 do
  if not known[entries[i]] then
    local v = entries[i + 1]
    local sep = string.find(v, ':', 1, true)
    redis.call('ZADD', KEYS[2], tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1))
    redis.call('HDEL', KEYS[1], entries[i])
    n = n + 1
  end
end
return n
"""

# Mark the crawl finished only if its queue is empty, in one step: a request queued after
# the worker last saw the crawl drained must not be deleted with the queue. Of ``pages`` only
# the two counts are kept (the workers closing after this one still check them).
# KEYS: queue, meta, dupefilter, pages   ARGV: finished_at, worker, summary
_FINISH = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('HSET', KEYS[2], 'status', 'finished', 'finished_at', ARGV[1],
           'finished_by', ARGV[2], 'summary', ARGV[3])
local counts = redis.call('HMGET', KEYS[4], '=pending', '=done')
redis.call('DEL', KEYS[3], KEYS[1], KEYS[4])
if counts[1] then redis.call('HSET', KEYS[4], '=pending', counts[1]) end
if counts[2] then redis.call('HSET', KEYS[4], '=done', counts[2]) end
return 1
"""

# Register one page of a vehicle (``pages``, see above): the first page pushed opens the
# vehicle with the number of its pages; a vehicle already done (0) is never opened again.
# Format fields: the pages key and the ARGV positions of unit, page and page count.
_REGISTER_PAGE = """
if ARGV[{unit}] ~= '' then
  local left = redis.call('HGET', KEYS[{pages}], ARGV[{unit}])
  if not left then
    left = ARGV[{count}]
    redis.call('HSET', KEYS[{pages}], ARGV[{unit}], left)
    redis.call('HINCRBY', KEYS[{pages}], '=pending', 1)
  end
  if tonumber(left) > 0 then
    redis.call('HSETNX', KEYS[{pages}], ARGV[{unit}] .. '#' .. ARGV[{page}], '1')
  end
end
"""

# KEYS: pages   ARGV: unit, page, page count (a page kept in its worker, never pushed)
_REGISTER = _REGISTER_PAGE.format(pages=1, unit=1, page=2, count=3)

# Acknowledge leases, and mark the pages they ran done: a page counts once (1 -> 0), and the
# vehicle whose last page this was is done once (its page fields are dropped).
# KEYS: inflight, pages   ARGV: n, n lease ids, then (unit, page, total pages) triples
# Returns the number of vehicles this acknowledgement finished.
_ACK = """
local n = tonumber(ARGV[1])
for i = 2, n + 1 do redis.call('HDEL', KEYS[1], ARGV[i]) end
local done = 0
for i = n + 2, #ARGV, 3 do
  local unit = ARGV[i]
  local field = unit .. '#' .. ARGV[i + 1]
  if redis.call('HGET', KEYS[2], field) == '1' then
    redis.call('HSET', KEYS[2], field, '0')
    if redis.call('HINCRBY', KEYS[2], unit, -1) <= 0 then
      for j = 0, tonumber(ARGV[i + 2]) - 1 do redis.call('HDEL', KEYS[2], unit .. '#' .. j) end
      redis.call('HINCRBY', KEYS[2], '=pending', -1)
      redis.call('HINCRBY', KEYS[2], '=done', 1)
      done = done + 1
    end
  end
end
return done
"""

# Queue a request unless its fingerprint was seen; optionally drop the lease it replaces.
# One script, so a worker killed in between cannot leave a fingerprint marked seen for a
# request that never reached the queue (its re-run parent would then find it "duplicate").
# The page of a vehicle is registered in the same step (``_REGISTER_PAGE``).
# KEYS: dupefilter, queue, inflight, pages
# ARGV: fingerprint ("" = do not filter), score, data, lease, unit ("" = none), page, pages
_PUSH = (
    """
if ARGV[1] ~= '' and redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  if ARGV[4] ~= '' then redis.call('HDEL', KEYS[3], ARGV[4]) end
  return 0
end
"""
    + _REGISTER_PAGE.format(pages=4, unit=5, page=6, count=7)
    + """
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[3], ARGV[4]) end
return 1
"""
)

# Move every lease of `inflight` back to `queue`.  KEYS: inflight, queue
_REQUEUE = """
local entries = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #entries, 2 do
  local v = entries[i + 1]
  local sep = string.find(v, ':', 1, true)
  redis.call('ZADD', KEYS[2], tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1))
  n = n + 1
end
redis.call('DEL', KEYS[1])
return n
"""

# Requeue the leases of dead workers, then report whether the crawl is drained.
# KEYS: workers, busy, queue, seed   ARGV: base ("<prefix>:<crawl>:"), me
# Returns {queue length, busy live workers other than me, requeued, seed state, live workers}
_REAP_AND_STATUS = """
local base = ARGV[1]
local requeued = 0
local busy_others = 0
local live = 0
local workers = redis.call('HKEYS', KEYS[1])
for _, w in ipairs(workers) do
  if w ~= ARGV[2] and redis.call('EXISTS', base .. 'alive:' .. w) == 0 then
    local inflight = base .. 'inflight:' .. w
    local entries = redis.call('HGETALL', inflight)
    for i = 1, #entries, 2 do
      local v = entries[i + 1]
      local sep = string.find(v, ':', 1, true)
      redis.call('ZADD', KEYS[3], tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1))
      requeued = requeued + 1
    end
    redis.call('DEL', inflight)
    redis.call('HDEL', KEYS[1], w)
    redis.call('HDEL', KEYS[2], w)
  else
    live = live + 1
    if w ~= ARGV[2] and redis.call('HGET', KEYS[2], w) == '1' then
      busy_others = busy_others + 1
    end
  end
end
local seed = redis.call('HGET', KEYS[4], 'state') or ''
local owner = redis.call('HGET', KEYS[4], 'owner') or ''
if seed == 'running' and owner ~= ARGV[2]
   and redis.call('EXISTS', base .. 'alive:' .. owner) == 0 then
  seed = 'orphaned'
end
return {redis.call('ZCARD', KEYS[3]), busy_others, requeued, seed, live}
"""

# KEYS: seed, meta   ARGV: base, me, now
_CLAIM_SEED = """
if redis.call('HGET', KEYS[2], 'status') == 'finished' then return 'finished' end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'state', 'running', 'at', ARGV[3])
  redis.call('HSETNX', KEYS[2], 'status', 'running')
  redis.call('HSETNX', KEYS[2], 'started_at', ARGV[3])
  return 'mine'
end
if state == 'running' then
  local owner = redis.call('HGET', KEYS[1], 'owner')
  if owner ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. 'alive:' .. owner) == 0 then
    redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'at', ARGV[3])
    return 'resumed'
  end
end
return 'theirs'
"""


def default_worker_id() -> str:
    """``<host>-<pid>``: unique per process, readable in ``cluster status`` and file names."""
    import os

    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Status:
    """One consistent snapshot of the crawl, as seen by one worker."""

    queued: int
    busy_others: int
    requeued: int
    seed: str  # "", "running", "orphaned", "done"
    live_workers: int

    @property
    def drained(self) -> bool:
        """Nothing queued, nobody else working, seeding finished: no request can appear."""
        return self.queued == 0 and self.busy_others == 0 and self.seed == "done"


class Coordinator:
    """One worker's handle on one crawl (``crawl_id``) in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        crawl_id: str,
        worker_id: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        worker_ttl: float = 30.0,
    ) -> None:
        self.client = client
        self.crawl_id = crawl_id
        self.worker_id = worker_id
        self.base = f"{prefix}:{crawl_id}:"
        self.queue_key = self.base + "requests"
        self.dupefilter_key = self.base + "dupefilter"
        self.workers_key = self.base + "workers"
        self.busy_key = self.base + "busy"
        self.seed_key = self.base + "seed"
        self.meta_key = self.base + "meta"
        self.seq_key = self.base + "seq"
        self.members_key = self.base + "members"
        self.pages_key = self.base + "pages"
        self.inflight_key = self.inflight_key_of(worker_id)
        self.alive_key = self.base + f"alive:{worker_id}"
        self.stats_key = self.base + f"stats:{worker_id}"
        self.worker_ttl_ms = max(100, int(worker_ttl * 1000))
        self._pop = client.register_script(_POP)
        self._push = client.register_script(_PUSH)
        self._requeue = client.register_script(_REQUEUE)
        self._status = client.register_script(_REAP_AND_STATUS)
        self._claim = client.register_script(_CLAIM_SEED)
        self._requeue_unknown = client.register_script(_REQUEUE_UNKNOWN)
        self._finish = client.register_script(_FINISH)
        self._register = client.register_script(_REGISTER)
        self._ack = client.register_script(_ACK)
        self._info = "{}"
        # Lease ids are chosen here, so that a pop can be asked again with the same id.
        self._run = uuid.uuid4().hex[:12]
        self._leases = 0
        self._pop_id: str | None = None

    def inflight_key_of(self, worker: str) -> str:
        return self.base + f"inflight:{worker}"

    # -- membership -------------------------------------------------------------------------
    def register(self, info: dict[str, Any]) -> None:
        self._info = json.dumps(info)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.workers_key, self.worker_id, self._info)
        pipe.hset(self.busy_key, self.worker_id, "0")
        pipe.sadd(self.members_key, self.worker_id)
        pipe.set(self.alive_key, str(time.time()), px=self.worker_ttl_ms)
        pipe.execute()

    def heartbeat(self, stats: dict[str, Any] | None = None, *, busy: bool | None = None) -> None:
        """Stay alive; with ``busy``, also re-register (another worker may have reaped this
        one while Redis was unreachable and its liveness key lapsed)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.alive_key, str(time.time()), px=self.worker_ttl_ms)
        if busy is not None:
            pipe.hset(self.workers_key, self.worker_id, self._info)
            pipe.hset(self.busy_key, self.worker_id, "1" if busy else "0")
            pipe.sadd(self.members_key, self.worker_id)
        if stats is not None:
            pipe.set(self.stats_key, json.dumps(stats, default=str))
        pipe.execute()

    def set_busy(self, busy: bool) -> None:
        self.client.hset(self.busy_key, self.worker_id, "1" if busy else "0")

    def finished_status(self) -> dict[str, str]:
        """``meta`` of the crawl: ``status`` is ``finished`` once a worker saw it drained."""
        return self.client.hgetall(self.meta_key)  # type: ignore[return-value]

    def deregister(self, *, requeue: bool) -> int:
        """Leave the crawl; ``requeue`` puts this worker's unacknowledged leases back."""
        moved = 0
        if requeue:
            moved = int(self._requeue(keys=[self.inflight_key, self.queue_key]))
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.inflight_key, self.alive_key)
        pipe.hdel(self.workers_key, self.worker_id)
        pipe.hdel(self.busy_key, self.worker_id)
        pipe.execute()
        return moved

    # -- queue ------------------------------------------------------------------------------
    def push(
        self,
        data: bytes,
        priority: int,
        *,
        fingerprint: str = "",
        handoff: str | None = None,
        page: PageTag | None = None,
    ) -> bool:
        """Queue a serialised request unless ``fingerprint`` was seen; False if it was.

        ``handoff`` acknowledges the lease the request replaces (a retry or redirect of a
        leased request is the same unit of work), in the same atomic step: a crash in between
        neither loses it nor runs it twice. ``page`` registers the request as a page of a
        vehicle (``pages``), also in that step, so a page is pending before anyone can run it.
        """
        unit, number, count = (page[0], page[1], page[2]) if page is not None else ("", 0, 0)
        added = self._push(
            keys=[self.dupefilter_key, self.queue_key, self.inflight_key, self.pages_key],
            args=[fingerprint, -priority, data, handoff or "", unit, number, count],
        )
        return bool(added)

    def register_page(self, page: PageTag) -> None:
        """Register a page that stays in its worker (never pushed) as pending."""
        self._register(keys=[self.pages_key], args=[page[0], page[1], page[2]])

    def pop(self) -> tuple[str, bytes] | None:
        """Take the best request and lease it to this worker (marks the worker busy).

        Until a pop returns, the next one reuses its lease id: if Redis ran the script but
        the reply was lost, the request comes back instead of staying leased and unknown.
        """
        if self._pop_id is None:
            self._leases += 1
            self._pop_id = f"{self._run}-{self._leases}"
        result = self._pop(
            keys=[self.queue_key, self.inflight_key, self.busy_key],
            args=[self.worker_id, self._pop_id],
        )
        if not result:
            return None
        self._pop_id = None
        lease, data = result
        return (lease.decode() if isinstance(lease, bytes) else str(lease)), data

    def requeue_unknown(self, known: set[str]) -> int:
        """Put back every lease of this worker not in ``known``; returns how many."""
        moved = int(
            self._requeue_unknown(keys=[self.inflight_key, self.queue_key], args=sorted(known))
        )
        self._pop_id = None  # a pop that may have run is requeued now
        return moved

    def ack(self, leases: list[str], pages: list[PageTag] | None = None) -> int:
        """Acknowledge leases and mark the pages they ran done; returns the vehicles this
        finished (their last pending page was among ``pages``)."""
        if not pages:
            if leases:
                self.client.hdel(self.inflight_key, *leases)
            return 0
        args: list[str | int] = [len(leases), *leases]
        for unit, number, _, total in pages:
            args += [unit, number, total]
        return int(self._ack(keys=[self.inflight_key, self.pages_key], args=args))

    def page_totals(self) -> tuple[int, int]:
        """(vehicles with a page not done yet, vehicles finished by their last page), for
        the whole cluster: exact even when an acknowledgement's reply was lost."""
        pending, done = self.client.hmget(self.pages_key, "=pending", "=done")
        return int(pending or 0), int(done or 0)

    def queued(self) -> int:
        return int(self.client.zcard(self.queue_key))

    # -- coordination -----------------------------------------------------------------------
    def status(self) -> Status:
        queued, busy, requeued, seed, live = self._status(
            keys=[self.workers_key, self.busy_key, self.queue_key, self.seed_key],
            args=[self.base, self.worker_id],
        )
        seed = seed.decode() if isinstance(seed, bytes) else str(seed)
        return Status(int(queued), int(busy), int(requeued), seed, int(live))

    def claim_seed(self) -> str:
        """``mine``, ``resumed`` (the seeding worker died), ``theirs`` or ``finished``."""
        result = self._claim(
            keys=[self.seed_key, self.meta_key], args=[self.base, self.worker_id, str(time.time())]
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    def seed_done(self) -> None:
        self.client.hset(self.seed_key, "state", "done")

    def mark_finished(self, summary: dict[str, Any]) -> bool:
        """Record the end of the crawl and drop what only a running crawl needs.

        False (nothing changed) if requests are queued: the crawl is not over.
        """
        done = self._finish(
            keys=[self.queue_key, self.meta_key, self.dupefilter_key, self.pages_key],
            args=[str(time.time()), self.worker_id, json.dumps(summary, default=str)],
        )
        return bool(done)

    def published_stats(self) -> dict[str, dict[str, Any]]:
        """Each worker's last published counters (``stats:<worker>``), by worker."""
        out: dict[str, dict[str, Any]] = {}
        for worker in self.members():
            raw = self.client.get(self.base + f"stats:{worker}")
            if raw:
                out[worker] = json.loads(raw)
        return out

    def members(self) -> list[str]:
        """Every worker that joined this crawl (registered now or ever)."""
        names = self.client.smembers(self.members_key) | set(self.client.hkeys(self.workers_key))
        return sorted({_text(name) for name in names})

    def keys(self) -> list[str]:
        """Every key this crawl may have, computed, not matched: exact whatever the id holds."""
        fixed = [
            self.queue_key, self.dupefilter_key, self.workers_key, self.busy_key,
            self.seed_key, self.meta_key, self.seq_key, self.members_key, self.pages_key,
        ]  # fmt: skip
        per_worker = [
            self.base + f"{kind}:{worker}"
            for worker in self.members()
            for kind in ("inflight", "alive", "stats")
        ]
        return fixed + per_worker

    def reset(self) -> int:
        """Delete every key of this crawl (``cluster reset``); returns how many existed."""
        keys = self.keys()
        return int(self.client.delete(*keys))

    def snapshot(self) -> dict[str, Any]:
        """Everything ``cluster status`` prints: queue, workers, leases, published stats."""
        workers: dict[str, Any] = {}
        raw_workers = self.client.hgetall(self.workers_key)
        busy = self.client.hgetall(self.busy_key)
        for name, info in raw_workers.items():
            w = name.decode() if isinstance(name, bytes) else name
            workers[w] = {
                **json.loads(info),
                "alive": bool(self.client.exists(self.base + f"alive:{w}")),
                "busy": (busy.get(name) in (b"1", "1")),
                "inflight": int(self.client.hlen(self.inflight_key_of(w))),
            }
        stats = self.published_stats()
        meta = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in self.client.hgetall(self.meta_key).items()
        }
        seed = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in self.client.hgetall(self.seed_key).items()
        }
        return {
            "crawl_id": self.crawl_id,
            "queued": self.queued(),
            "seen": int(self.client.scard(self.dupefilter_key)),
            "vehicles_pending": self.page_totals()[0],
            "meta": meta,
            "seed": seed,
            "workers": workers,
            "stats": stats,
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
