"""Rate limits per caller, counted in the shared cache (Redis in production)."""

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import SimpleRateThrottle

from clinician.permissions import is_integration


class PrincipalRateThrottle(SimpleRateThrottle):
    """One bucket per integration client or per user: a fixed-window counter.

    DRF's SimpleRateThrottle keeps every request's time in one cached list (a read and a write of
    the whole list per request, growing with the rate); here a request costs one atomic increment
    of the current window's counter — one round trip to Redis. The trade-off of fixed windows: a
    caller may send up to twice the rate across a window boundary (the end of one window and the
    start of the next), never more. A refused request gets 429 with ``Retry-After`` = the seconds
    until the window ends."""

    scope = "principal"

    def get_cache_key(self, request, view):
        user = request.user
        if is_integration(user):
            ident = f"integration:{user.client_id}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        count = self._count(f"{self.key}:{window}")
        self.window_ends = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_ends - self.now, 1.0)

    def _count(self, key: str) -> int:
        """Add this request to the window's counter; the counter expires with its window."""
        timeout = int(self.duration) + 1
        backend = caches[DEFAULT_CACHE_ALIAS] if isinstance(self.cache, ConnectionProxy) else self.cache
        if isinstance(backend, RedisCache):
            # SET NX EX + INCR, pipelined: one round trip. (Django's RedisCache.incr() checks that
            # the key exists first, and add() for a new window would be a third.)
            full_key = backend.make_and_validate_key(key)
            pipeline = _redis_client(backend).pipeline(transaction=False)
            pipeline.set(full_key, 0, ex=timeout, nx=True)
            pipeline.incr(full_key)
            return int(pipeline.execute()[1])
        backend.add(key, 0, timeout)
        try:
            return backend.incr(key)
        except ValueError:  # the window's key expired between add() and incr()
            backend.add(key, 1, timeout)
            return 1


_redis_clients: dict[int, object] = {}


def _redis_client(backend: RedisCache):
    """The backend's Redis client for writes, built once per process: Django builds a new client
    object for every cache call, which costs more than the round trip. (The connection pool
    behind it is the backend's own, and redis-py's pool is safe across forks.)"""
    client = _redis_clients.get(id(backend))
    if client is None:
        client = _redis_clients[id(backend)] = backend._cache.get_client(None, write=True)
    return client
