"""The Redis session store's tests use the cluster tests' private ``redis-server`` fixtures."""

from tests.cluster.conftest import dead_redis_url, redis_server  # noqa: F401  (fixtures, by name)
