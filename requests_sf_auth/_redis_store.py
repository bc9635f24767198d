"""``RedisTokenStore``: tokens shared by machines through Redis."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import pickle
from collections.abc import Hashable, Iterator
from datetime import timedelta
from typing import Any

from ._backoff import LONGEST_WAIT, seconds
from ._stores import DEFAULT_TTL, Record, _fresh, _Health, _lifetime, _stamped

__all__ = ["RedisTokenStore"]

log = logging.getLogger(__name__)


# What decides where a rebuilt client connects, as whom, and how it verifies TLS (with every
# ssl_* setting); the rest (pool sizes, encodings, keepalive) is left at its defaults.
_CARRIED_REDIS_SETTINGS = frozenset(
    {
        "host",
        "port",
        "path",
        "db",
        "username",
        "password",
        "credential_provider",
        "socket_timeout",
        "socket_connect_timeout",
        "retry",
        "client_name",
    }
)


def _portable_connection(client: Any) -> tuple[type[Any], dict[str, Any]]:
    """The connection class (plain, TLS or Unix socket) and the settings that rebuild
    ``client``'s connections in another process. Raises ``TypeError``, naming what is wrong and
    the fix, for a client that could only be rebuilt differently: a Sentinel or cluster client,
    a custom connection class, or a setting that cannot be pickled."""
    import redis
    from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection

    pool: Any = getattr(client, "connection_pool", None)
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        raise TypeError(_unpicklable(f"its client's connection pool is a {type(pool).__name__}"))
    connection_class = pool.connection_class
    if connection_class not in (Connection, SSLConnection, UnixDomainSocketConnection):
        raise TypeError(_unpicklable(f"its client connects through {connection_class.__name__}"))
    portable = {}
    for name, value in pool.connection_kwargs.items():
        if name not in _CARRIED_REDIS_SETTINGS and not name.startswith("ssl_"):
            continue
        try:
            pickle.dumps(value)
        except Exception:
            raise TypeError(
                _unpicklable(f"its client's {name} ({type(value).__name__}) cannot be pickled")
            ) from None
        portable[name] = value
    return connection_class, portable


def _unpicklable(reason: str) -> str:
    return (
        f"RedisTokenStore cannot be pickled: {reason}, and a copy without it would connect "
        "differently; give the store a redis:// or rediss:// URL, or create it in each process"
    )


def _connection_settings(client: Any) -> dict[str, Any] | None:
    pool = getattr(client, "connection_pool", None)
    settings = getattr(pool, "connection_kwargs", None)
    return settings if isinstance(settings, dict) else None


class RedisTokenStore:
    """Shares tokens between machines through Redis (``pip install 'requests-sf-auth[redis]'``).

    Give it a ``redis.Redis`` client or a URL such as ``redis://cache.internal:6379/0`` (or
    ``rediss://`` for TLS). The lock is a Redis lock that expires after ``lock_timeout``
    seconds (at most a day), so a crashed holder cannot block the fleet for longer; waiters
    wait a second more than that before going on without it. Records expire after the auth's
    ``ttl`` when it knows the token's lifetime, else after ``ttl`` (default
    :data:`DEFAULT_TTL`), and after a year at the latest.

    A client made from a URL waits at most ``lock_timeout`` for Redis to connect or answer,
    and does not retry, so a stalled server costs a token request one wait (settings in the
    URL's query string, such as ``?socket_timeout=``, win). A client you give keeps its own
    timeouts; one without a ``socket_timeout`` gets a warning, since a stalled server would
    then hold token requests without limit.

    If Redis cannot be reached, every operation degrades to "no shared token": the process
    fetches and uses its own token, the outage costs one warning, and Redis is left alone for
    ``lock_timeout`` seconds; the user's request never fails because the cache is down.

    Pickling (for other processes) keeps the URL, or the client's connection class and the
    settings that decide where and how it connects, TLS included; a client that cannot be
    rebuilt that way (Sentinel, a cluster, a custom connection class, a setting that cannot be
    pickled) raises ``TypeError`` when pickled. The password is pickled too: guard pickles as
    you would the password.
    """

    def __init__(
        self,
        redis_client_or_url: Any,
        *,
        lock_timeout: float | timedelta = 30.0,
        ttl: float | timedelta = DEFAULT_TTL,
    ) -> None:
        self._setup(
            redis_client_or_url,
            seconds("lock_timeout", lock_timeout, longest=LONGEST_WAIT),
            seconds("ttl", ttl),
        )

    def _setup(self, redis_client_or_url: Any, lock_timeout: float, ttl: float) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if isinstance(redis_client_or_url, str):
            self._url: str | None = redis_client_or_url
            self._client = redis.Redis.from_url(
                redis_client_or_url,
                socket_timeout=lock_timeout,
                socket_connect_timeout=lock_timeout,
                retry=Retry(NoBackoff(), 0),
            )
        else:
            needed = ("get", "set", "lock")
            client = redis_client_or_url
            if isinstance(client, type) or not all(
                callable(getattr(client, name, None)) for name in needed
            ):
                raise ValueError(
                    "RedisTokenStore needs a redis.Redis client or a redis:// or rediss:// URL "
                    f"as a str, not {type(client).__name__}"
                )
            if inspect.iscoroutinefunction(getattr(client, "execute_command", None)):
                raise ValueError(
                    "RedisTokenStore needs a synchronous redis.Redis client, not a "
                    "redis.asyncio one; requests is synchronous"
                )
            self._url = None
            self._client = redis_client_or_url
            settings = _connection_settings(redis_client_or_url)
            if settings is not None and settings.get("socket_timeout") is None:
                log.warning(
                    "the Redis client given to RedisTokenStore has no socket_timeout: a stalled "
                    "server would hold token requests without limit; create it with "
                    "socket_timeout=5 (seconds), or give the store a URL"
                )
        self.lock_timeout = lock_timeout
        self.ttl = ttl
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._health = _Health(f"in Redis ({self._where()})", lock_timeout)

    def _record_identity(self, key: str) -> Hashable:
        """The record on its server: stores whose clients connect alike share it."""
        settings = _connection_settings(self._client)
        if settings is None:
            return ("redis", id(self._client), key)
        place = tuple(settings.get(name) for name in ("host", "port", "path", "db"))
        return ("redis", *place, key)

    def _where(self) -> str:
        settings = _connection_settings(self._client) or {}
        if "path" in settings:
            return str(settings["path"])
        return f"{settings.get('host')}:{settings.get('port')}"

    def load(self, key: str) -> Record | None:
        if self._health.skipping():
            return None
        try:
            raw = self._client.get(key)
        except self._errors as exc:
            self._health.failed("reading", exc)
            return None
        if raw is None:
            return None
        try:
            return _fresh(json.loads(raw))
        except (ValueError, RecursionError):
            log.warning("token store entry %s in Redis is corrupt; ignoring it", key)
            return None

    def save(self, key: str, record: Record, ttl: float | None) -> None:
        if self._health.skipping():
            return
        lifetime = _lifetime(ttl, self.ttl)
        milliseconds = max(int(lifetime * 1000), 1)
        try:
            # Stamped as well as expired by Redis: a record without the stamp is not ours.
            self._client.set(key, json.dumps(_stamped(record, lifetime)), px=milliseconds)
        except self._errors as exc:
            self._health.failed("publishing", exc)
        else:
            self._health.worked()

    def delete(self, key: str) -> None:
        if self._health.skipping():
            return
        try:
            self._client.delete(key)
        except self._errors as exc:
            self._health.failed("deleting", exc)
        else:
            self._health.worked()

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        if self._health.skipping():
            yield None
            return
        # A waiter outlasts the lock's expiry by a second, so that a dead holder's lock has
        # surely expired before the waiter gives up and goes on without it.
        lock = self._client.lock(
            key + ":lock", timeout=self.lock_timeout, blocking_timeout=self.lock_timeout + 1.0
        )
        try:
            acquired = bool(lock.acquire())
        except self._errors as exc:
            self._health.failed("locking", exc)
            acquired = False
        else:
            if not acquired:
                log.warning(
                    "token store lock %s not acquired within %g s; going on without it",
                    key,
                    self.lock_timeout + 1.0,
                )
        try:
            yield None
        finally:
            if acquired:
                with contextlib.suppress(*self._errors):
                    lock.release()  # it may have expired meanwhile; that is fine

    # A client holds sockets and locks; a pickled store (for another process) carries only
    # what is needed to connect again, the same way.
    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "url": self._url,
            "lock_timeout": self.lock_timeout,
            "ttl": self.ttl,
        }
        if self._url is None:
            state["connection"] = _portable_connection(self._client)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import redis

        target = state["url"]
        if target is None:
            connection_class, settings = state["connection"]
            pool = redis.ConnectionPool(connection_class=connection_class, **settings)
            target = redis.Redis(connection_pool=pool)
        self._setup(target, state["lock_timeout"], state.get("ttl", DEFAULT_TTL))

    def __repr__(self) -> str:
        settings = _connection_settings(self._client) or {}
        if "path" in settings:
            return f"RedisTokenStore(path={settings['path']!r})"
        return f"RedisTokenStore(host={settings.get('host')!r}, port={settings.get('port')!r})"
