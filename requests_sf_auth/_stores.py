"""Token stores: where a token lives so that several processes, or machines, share one.

Salesforce blocks a user after 3,600 token requests an hour, so a fleet of workers that each
fetch their own token, and refetch after every expiry, burns through that budget. A store lets
them share one: a process takes the store's lock, looks whether someone already replaced the
token that failed, and fetches only if not, then publishes what it got.

The hot path never touches a store: each process keeps the token it last saw and reads the
store only when it has none, when its token is rejected, or when renewal is due. A token from a
store is still validated by use, like any other: a 401 leads to one fleet-wide refresh.

Records are JSON-safe dicts made by :meth:`requests_sf_auth._token.Token.to_record`; keys come
from :func:`store_key` and never contain the secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["FileTokenStore", "MemoryTokenStore", "RedisTokenStore", "TokenStore", "store_key"]

log = logging.getLogger(__name__)

Record = dict[str, Any]


def store_key(token_url: str, client_id: str) -> str:
    """The key one client's token is shared under: a hash of the token URL and the client id,
    so the store learns neither, and never anything of the secret."""
    digest = hashlib.sha256(f"{token_url}\n{client_id}".encode()).hexdigest()
    return f"requests-sf-auth:{digest[:40]}"


@runtime_checkable
class TokenStore(Protocol):
    """What :class:`~requests_sf_auth.SalesforceAuth` needs from a shared token store.

    * ``load(key)``: the record published under ``key``, or ``None``. Must not raise for a
      missing, expired, corrupt or unreachable entry: ``None`` (with a warning) is the answer.
    * ``save(key, record, ttl)``: publish ``record``; ``ttl`` (seconds) is how long it can be
      useful, when known. Called while holding ``lock(key)``.
    * ``delete(key)``: forget the record (after a revocation). Called while holding the lock.
    * ``lock(key)``: a context manager held while a process decides whether to fetch. It must
      not block forever when a holder died; past its timeout it may let the caller proceed
      unlocked, which costs at worst one extra token request.

    Implementations must be safe to use from several threads.
    """

    def load(self, key: str) -> Record | None: ...

    def save(self, key: str, record: Record, ttl: float | None) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> contextlib.AbstractContextManager[object]: ...


def _stamped(record: Record, ttl: float | None) -> Record:
    """A copy of ``record`` that :func:`_fresh` treats as gone once ``ttl`` seconds pass."""
    stored = dict(record)
    if ttl is not None:
        stored["store_expires_at"] = time.time() + ttl
    return stored


def _fresh(record: Any) -> Record | None:
    if not isinstance(record, dict):
        return None
    expires = record.get("store_expires_at")
    if isinstance(expires, (int, float)) and expires <= time.time():
        return None
    return record


class MemoryTokenStore:
    """Shares a token between the auth objects of one process that are given the same store.

    Pass one to several :class:`~requests_sf_auth.SalesforceAuth` objects to give them one
    token; an auth without a ``token_store`` keeps its token to itself and touches no store
    code at all. It cannot be shared with other processes: a pickled copy starts empty.
    """

    def __init__(self) -> None:
        self._setup()

    def _setup(self) -> None:
        self._records: dict[str, Record] = {}
        self._reset_locks()
        _MEMORY_STORES.add(self)

    def _reset_locks(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def load(self, key: str) -> Record | None:
        return _fresh(self._records.get(key))

    def save(self, key: str, record: Record, ttl: float | None) -> None:
        self._records[key] = _stamped(record, ttl)

    def delete(self, key: str) -> None:
        self._records.pop(key, None)

    def lock(self, key: str) -> contextlib.AbstractContextManager[object]:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup()

    def __repr__(self) -> str:
        return "MemoryTokenStore()"


_MEMORY_STORES: weakref.WeakSet[MemoryTokenStore] = weakref.WeakSet()


def _reset_memory_locks_after_fork() -> None:
    # A parent thread may hold a store lock (mid-fetch) at fork time; the child has no such
    # thread, so it starts with fresh locks and keeps the records.
    for store in list(_MEMORY_STORES):
        store._reset_locks()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_memory_locks_after_fork)


class FileTokenStore:
    """Shares tokens between the processes of one machine through one JSON file.

    ``path`` holds every client's record (keyed by :func:`store_key`); ``path + ".lock"`` is a
    cross-process lock from ``filelock``, which the operating system releases when a holder
    dies, so a killed process never blocks the others. Writes go to a temporary file that
    replaces ``path`` atomically, with mode 0600: the file holds live tokens. A corrupt,
    truncated or foreign file is treated as empty, with a warning. If the lock cannot be had
    within ``lock_timeout`` seconds, the caller proceeds without it (with a warning).
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> None:
        self._setup(path, lock_timeout)

    def _setup(self, path: str | os.PathLike[str], lock_timeout: float) -> None:
        from filelock import FileLock

        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._filelock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def _read_all(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("token store %s cannot be read (%s); treating it as empty", self.path, exc)
            return {}
        try:
            data = json.loads(raw)  # undecodable bytes raise ValueError too
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("token store %s is corrupt or foreign; treating it as empty", self.path)
            return {}
        return data

    def load(self, key: str) -> Record | None:
        return _fresh(self._read_all().get(key))

    def save(self, key: str, record: Record, ttl: float | None) -> None:
        data = self._read_all()
        data[key] = _stamped(record, ttl)
        self._write_all(data)

    def delete(self, key: str) -> None:
        data = self._read_all()
        if data.pop(key, None) is not None:
            self._write_all(data)

    def _write_all(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600, which the rename carries over.
        fd, temporary = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        from filelock import Timeout

        try:
            self._filelock.acquire()
        except Timeout:
            log.warning(
                "token store lock %s not acquired within %g s; going on without it",
                self._filelock.lock_file,
                self.lock_timeout,
            )
            yield None
            return
        try:
            yield None
        finally:
            self._filelock.release()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "lock_timeout": self.lock_timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["path"], state["lock_timeout"])

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"


_PORTABLE_REDIS_KWARGS = ("host", "port", "db", "username", "password", "unix_socket_path")


class RedisTokenStore:
    """Shares tokens between machines through Redis (``pip install 'requests-sf-auth[redis]'``).

    Give it a ``redis.Redis`` client or a URL such as ``redis://cache.internal:6379/0``. The
    lock is a Redis lock that expires after ``lock_timeout`` seconds, so a crashed holder
    cannot block the fleet for longer; waiters wait a second more than that before going on
    without it. Records get a TTL when the token's lifetime is known.
    If Redis cannot be reached, every operation degrades to "no shared token" with a warning:
    the process fetches and uses its own token, and the user's request never fails because
    the cache is down.
    """

    def __init__(self, redis_client_or_url: Any, *, lock_timeout: float = 30.0) -> None:
        self._setup(redis_client_or_url, lock_timeout)

    def _setup(self, redis_client_or_url: Any, lock_timeout: float) -> None:
        import redis

        if isinstance(redis_client_or_url, str):
            self._url: str | None = redis_client_or_url
            self._client = redis.Redis.from_url(redis_client_or_url)
        else:
            self._url = None
            self._client = redis_client_or_url
        self.lock_timeout = lock_timeout
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def _unreachable(self, what: str, exc: BaseException) -> None:
        log.warning("token store in Redis unavailable for %s (%s); using a local token", what, exc)

    def load(self, key: str) -> Record | None:
        try:
            raw = self._client.get(key)
        except self._errors as exc:
            self._unreachable("reading", exc)
            return None
        if raw is None:
            return None
        try:
            return _fresh(json.loads(raw))
        except ValueError:
            log.warning("token store entry %s in Redis is corrupt; ignoring it", key)
            return None

    def save(self, key: str, record: Record, ttl: float | None) -> None:
        try:
            if ttl is not None and ttl > 0:
                self._client.set(key, json.dumps(record), px=max(int(ttl * 1000), 1))
            else:
                self._client.set(key, json.dumps(record))
        except self._errors as exc:
            self._unreachable("publishing", exc)

    def delete(self, key: str) -> None:
        try:
            self._client.delete(key)
        except self._errors as exc:
            self._unreachable("deleting", exc)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        # A waiter outlasts the lock's expiry by a second, so that a dead holder's lock has
        # surely expired before the waiter gives up and goes on without it.
        lock = self._client.lock(
            key + ":lock", timeout=self.lock_timeout, blocking_timeout=self.lock_timeout + 1.0
        )
        try:
            acquired = bool(lock.acquire())
        except self._errors as exc:
            self._unreachable("locking", exc)
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
    # what is needed to connect again.
    def __getstate__(self) -> dict[str, Any]:
        kwargs = self._client.connection_pool.connection_kwargs
        portable = {k: kwargs[k] for k in _PORTABLE_REDIS_KWARGS if k in kwargs}
        return {"url": self._url, "connection": portable, "lock_timeout": self.lock_timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import redis

        target = state["url"] or redis.Redis(**state["connection"])
        self._setup(target, state["lock_timeout"])

    def __repr__(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        return f"RedisTokenStore(host={kwargs.get('host')!r}, port={kwargs.get('port')!r})"
