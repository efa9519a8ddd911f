"""The deploy engine's fixtures (a project deploying to the simulator) and real cache servers."""

from tests.cache_servers import app_redis, memcached  # noqa: F401
from tests.deploys.conftest import credential, environment, queue, redis_up, sim  # noqa: F401
