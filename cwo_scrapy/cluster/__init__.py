"""Distributed crawling: N workers on one or many machines share one Redis.

- ``addon.ClusterAddon`` (``CWO_CLUSTER=True``): the settings of cluster mode.
- ``scheduler.ClusterScheduler``: scrapy-redis's scheduler, joining the crawl and keeping a
  request whose push failed until Redis is back.
- ``queue.LeasingQueue`` (``SCHEDULER_QUEUE_CLASS``): leases (no request lost when a worker
  dies) and worker-local requests (``meta["cwo_cluster_local"]``).
- ``serializer`` (``SCHEDULER_SERIALIZER``): requests as JSON, never pickle.
- ``extension.ClusterExtension``: heartbeat, cluster-wide idle close, Redis outage timeout.
- ``middleware.ClusterSpiderMiddleware``: one worker seeds, every worker tracks completion.
- ``coordinator``: the Redis keys and scripts; ``output``: merge and verify per-worker files.
- ``python -m cwo_scrapy.cluster status|reset|merge``: watch, clean up, merge.

See docs/cluster.md.
"""
