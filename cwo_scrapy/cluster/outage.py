"""How long has Redis been unreachable? One clock for the queue, the scheduler and the heartbeat.

A worker rides out a Redis restart (requests it cannot push wait in memory, see
``ClusterScheduler``) but not an outage longer than ``CWO_CLUSTER_REDIS_TIMEOUT``: then it
closes with ``redis_unreachable`` instead of retrying for ever. No Scrapy imports.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """An exception as one short line (redis-py messages hold no password)."""
    return (" ".join(str(exc).split()) or type(exc).__name__)[:200]


class RedisHealth:
    """``failed()`` on every Redis error, ``ok()`` on every success; logs each outage once."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.down_since: float | None = None
        self.last_error = ""

    def ok(self) -> None:
        if self.down_since is not None:
            logger.warning("Cluster: Redis at %s is back after %.1f s", self.where, self.down_for())
            self.down_since = None

    def failed(self, exc: BaseException) -> None:
        self.last_error = one_line(exc)
        if self.down_since is None:
            self.down_since = time.monotonic()
            logger.warning(
                "Cluster: Redis at %s unreachable (%s); retrying", self.where, self.last_error
            )

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since
