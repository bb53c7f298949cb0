"""``CWO_CLUSTER=True``: the distributed profile, applied by an add-on.

One switch instead of a settings block to copy: it sets scrapy-redis's scheduler, queue,
serializer and dupefilter (through :class:`~cwo_scrapy.cluster.scheduler.ClusterScheduler` and
its JSON, leasing queue), ``REDIS_URL`` from ``CWO_REDIS_URL``, the Redis session store, the
cluster spider middleware and extension, and one output file per worker. Values are written
at ``project`` priority, like ``cwo_scrapy.profiles``: they replace ``settings.py`` defaults,
while ``-s NAME=VALUE`` still wins.
"""

from __future__ import annotations

import logging
import os
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.settings import SETTINGS_PRIORITIES

from cwo_scrapy.cluster.coordinator import default_worker_id

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

MIDDLEWARE = "cwo_scrapy.cluster.middleware.ClusterSpiderMiddleware"
EXTENSION = "cwo_scrapy.cluster.extension.ClusterExtension"
WORKER_PARAM = "%(worker)s"


def cluster_settings(redis_url: str) -> dict[str, Any]:
    """The settings block of cluster mode (also documented in docs/cluster.md)."""
    return {
        "SCHEDULER": "cwo_scrapy.cluster.scheduler.ClusterScheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_QUEUE_CLASS": "cwo_scrapy.cluster.queue.LeasingQueue",
        "SCHEDULER_SERIALIZER": "cwo_scrapy.cluster.serializer",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "CWO_SESSION_STORE": "redis",
        "FEED_URI_PARAMS": "cwo_scrapy.cluster.addon.worker_uri_params",
    }


def worker_uri_params(params: dict[str, Any], spider: Spider) -> dict[str, Any]:
    """``FEED_URI_PARAMS``: adds ``%(worker)s`` (the worker id) to feed URI templates."""
    settings = spider.crawler.settings
    return {**params, "worker": settings.get("CWO_CLUSTER_WORKER_ID") or default_worker_id()}


def per_worker_uri(uri: str) -> str:
    """``data/fitment.jsonl`` -> ``data/fitment-%(worker)s.jsonl``; other URIs unchanged."""
    if WORKER_PARAM in uri:
        return uri
    scheme = urlsplit(uri).scheme
    if scheme not in ("", "file") and not (len(scheme) == 1 and os.name == "nt"):
        return uri  # s3://, stdout:, ...: not a local file two workers would share
    path = PurePath(uri)
    return str(path.with_name(f"{path.stem}-{WORKER_PARAM}{path.suffix}"))


class ClusterAddon:
    """Registered in ``ADDONS``; does nothing unless ``CWO_CLUSTER`` is true."""

    def update_settings(self, settings: BaseSettings) -> None:
        if not settings.getbool("CWO_CLUSTER"):
            return
        project = SETTINGS_PRIORITIES["project"]
        url = settings.get("CWO_REDIS_URL") or "redis://127.0.0.1:6379/0"
        for key, value in cluster_settings(url).items():
            if (settings.getpriority(key) or 0) <= project:
                settings.set(key, value, priority="project")
        settings["SPIDER_MIDDLEWARES"][MIDDLEWARE] = 10
        settings["EXTENSIONS"][EXTENSION] = 0
        self._per_worker_feeds(settings)

    @staticmethod
    def _per_worker_feeds(settings: BaseSettings) -> None:
        """One output file per worker: workers on one machine must not share a file."""
        feeds = settings.getdict("FEEDS")
        if not feeds:
            return
        priority = settings.getpriority("FEEDS") or 0
        if priority >= SETTINGS_PRIORITIES["cmdline"]:
            for uri in feeds:
                if WORKER_PARAM not in str(uri):
                    logger.warning(
                        "Cluster: feed %s has no %s; workers on one machine would overwrite "
                        "each other's file",
                        uri,
                        WORKER_PARAM,
                    )
            return
        rewritten = {per_worker_uri(str(uri)): options for uri, options in feeds.items()}
        settings.set("FEEDS", rewritten, priority=priority)
