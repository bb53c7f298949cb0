"""Distributed crawling: N workers on one or many machines share one Redis.

- ``addon.ClusterAddon`` (``CWO_CLUSTER=True``): the settings of cluster mode.
- ``scheduler.ClusterScheduler``: scrapy-redis's scheduler with leases (no request lost when a
  worker dies), cluster-wide idle close and worker-local requests.
- ``middleware.ClusterSpiderMiddleware``: one worker seeds, every worker tracks completion.
- ``coordinator``: the Redis keys and scripts; ``output``: merge and verify per-worker files.
- ``python -m cwo_scrapy.cluster status|reset|merge``: watch, clean up, merge.

See docs/cluster.md.
"""
