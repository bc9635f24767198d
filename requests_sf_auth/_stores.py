"""Token stores: where a token lives so that several processes, or machines, share one.

Salesforce blocks a user after 3,600 token requests an hour, so a fleet of workers that each
fetch their own token, and refetch after every expiry, burns through that budget. A store lets
them share one: a process takes the store's lock, looks whether someone already replaced the
token that failed, and fetches only if not, then publishes what it got.

The hot path never touches a store: each process keeps the token it last saw and reads the
store only when it has none, when its token is rejected, or when renewal is due. A token from a
store is still validated by use, like any other: a 401 leads to one fleet-wide refresh.

A store is an optimisation, never a dependency: when it fails (a file it cannot read or write,
a full disk, Redis down or stalled), each process goes on with a token of its own, the outage
costs one warning, and a store that fails is left alone for ``lock_timeout`` seconds, so that
a slow failure is not waited on again by every renewal.

This module holds the protocol, what every store shares, and the in-process store; the file and
Redis stores live in :mod:`requests_sf_auth._file_store` and :mod:`requests_sf_auth._redis_store`.

Records are JSON-safe dicts made by :meth:`requests_sf_auth._token.Token.to_record`; keys come
from :func:`store_key` and never contain the secret. Every record expires: after the ``ttl``
the auth gives when it knows the token's lifetime, else after the store's own ``ttl``
(:data:`DEFAULT_TTL` unless set).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Hashable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._backoff import seconds

if TYPE_CHECKING:
    pass

__all__ = ["DEFAULT_TTL", "MemoryTokenStore", "TokenStore", "record_identity", "store_key"]

log = logging.getLogger(__name__)

Record = dict[str, Any]

DEFAULT_TTL = 2 * 3600.0
"""Seconds a record is kept when the auth does not know how long its token lives: Salesforce's
usual session timeout. A record that expires too early costs one token request; one kept too
long, a rejected request and a renewal."""


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
    * ``save(key, record, ttl)``: publish ``record`` for ``ttl`` seconds, or for a default of
      the store's own when ``ttl`` is ``None`` (the token's lifetime is unknown); records must
      expire. Called while holding ``lock(key)``. Must not raise: a token that cannot be
      published is still used by the process that fetched it.
    * ``delete(key)``: forget the record (after a revocation). Called while holding the lock.
    * ``lock(key)``: a context manager held while a process decides whether to fetch. It must
      not block forever when a holder died; past its timeout, or when the store fails, it may
      let the caller proceed unlocked, which costs at worst one extra token request.

    Implementations must be safe to use from several threads. The auth never asks a thread
    for ``lock(key)`` while that thread holds it through the same store object (see
    :func:`record_identity`), so the lock need not be reentrant; a store whose one lock covers
    several keys must let its holder take it again for another key. Through another object
    that shares its records, a thread holding the lock waits for it up to the timeout.
    """

    def load(self, key: str) -> Record | None: ...

    def save(self, key: str, record: Record, ttl: float | None) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> contextlib.AbstractContextManager[object]: ...


LONGEST_RECORD = 365 * 86400.0
"""The longest a record is kept, whatever the ``ttl``: a year. A token lives hours; a longer
expiry, such as ``token_lifetime=1e308`` makes, would overflow Redis's milliseconds."""


def record_identity(store: TokenStore, key: str) -> Hashable:
    """Which shared record ``store`` keeps under ``key``, as a value equal for two stores and
    keys exactly when they name one record behind one lock: the store's own answer when other
    store objects can share its records (file stores on one path, Redis stores on one server),
    else this very store object and ``key``. The auth compares them to refuse, at once, a
    thread that needs the token it is fetching itself, rather than let it wait for itself."""
    own = getattr(store, "_record_identity", None)
    return own(key) if callable(own) else (id(store), key)


def _lifetime(ttl: float | None, default: float) -> float:
    """How long to keep a record the auth gave ``ttl`` for: its own, or the store's default,
    and never longer than :data:`LONGEST_RECORD`."""
    return min(ttl if ttl is not None and ttl > 0 else default, LONGEST_RECORD)


def _stamped(record: Record, ttl: float) -> Record:
    """A copy of ``record`` that :func:`_fresh` treats as gone once ``ttl`` seconds pass."""
    stored = dict(record)
    stored["store_expires_at"] = time.time() + ttl
    return stored


def _fresh(record: Any) -> Record | None:
    """``record`` while its stamp says it is alive; ``None`` once it has passed, and for a
    record without one, which no store of ours wrote (a NaN, which JSON can hold, included:
    no moment is after it, so it would never pass)."""
    if not isinstance(record, dict):
        return None
    expires = record.get("store_expires_at")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        return None
    if not expires > time.time():
        return None
    return record


class _Health:
    """How a store has been faring, so that an outage costs one warning rather than one per
    operation, and a store that fails (perhaps slowly: a stalled server) is left alone for
    ``pause`` seconds rather than waited on by every renewal.

    Threading: each change of state is one dict operation, atomic in CPython with or without
    the GIL, so it takes no lock, and a forked child cannot inherit one held.
    """

    def __init__(self, name: str, pause: float) -> None:
        self._name = name
        self._pause = pause
        self._state: dict[str, float] = {}

    def skipping(self) -> bool:
        """True while the store is left alone after a failure."""
        return time.monotonic() < self._state.get("skip_until", 0.0)

    def failed(self, doing: str, exc: BaseException) -> None:
        """Record a failure: a warning for the first of an outage, DEBUG for the others."""
        now = time.monotonic()
        self._state["skip_until"] = now + self._pause
        # setdefault hands back what it stored: only an outage's first failure sees its own.
        first = self._state.setdefault("failing_since", now) is now
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "token store %s unavailable for %s (%s); requests go on with a token of this "
            "process's own, and the store is tried again in %g s%s",
            self._name,
            doing,
            str(exc) or type(exc).__name__,
            self._pause,
            _permission_fix() if isinstance(exc, PermissionError) else "",
        )

    def worked(self) -> None:
        """Record a publication that went through, ending an outage."""
        if self._state.pop("failing_since", None) is not None:
            self._state.pop("skip_until", None)
            log.info("token store %s works again", self._name)


def _permission_fix() -> str:
    """How to give every user of a shared store the access it needs, for a warning."""
    uid = f" (this process runs as uid {os.geteuid()})" if hasattr(os, "geteuid") else ""
    return (
        f"{uid}. Every user of a store must be able to read and write its file and its lock: "
        "give each user a store of its own, or have them share a directory that belongs to a "
        "group they are all in and is setgid, not sticky (chgrp GROUP DIR && chmod 2770 DIR), "
        "where the store creates its files group-readable and writable; remove any store "
        "files an earlier setup left there with mode 0600"
    )


class MemoryTokenStore:
    """Shares a token between the auth objects of one process that are given the same store.

    Pass one to several :class:`~requests_sf_auth.SalesforceAuth` objects to give them one
    token; an auth without a ``token_store`` keeps its token to itself and touches no store
    code at all. It cannot be shared with other processes: a pickled copy starts empty.
    Records expire when the auth knows its token dies, else after ``ttl`` (seconds or a
    ``timedelta``, default :data:`DEFAULT_TTL`). An auth waits at most ``lock_timeout``
    (default 30 s) for another one's fetch of the same token, then goes on without the lock,
    with a warning, at the cost of at most one more token request, so that no thread waits
    for ever on another's fetch. A ``ttl`` or ``lock_timeout`` that is not a positive number
    raises ``ValueError``.
    """

    def __init__(
        self, *, ttl: float | timedelta = DEFAULT_TTL, lock_timeout: float | timedelta = 30.0
    ) -> None:
        self.ttl = seconds("ttl", ttl)
        self.lock_timeout = seconds("lock_timeout", lock_timeout)
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
        self._records[key] = _stamped(record, _lifetime(ttl, self.ttl))

    def delete(self, key: str) -> None:
        self._records.pop(key, None)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        # Bounded: holders that each wait for the other's lock (their log handlers calling the
        # org for each other's client mid-fetch) would otherwise never let go.
        if not lock.acquire(timeout=self.lock_timeout):
            log.warning(
                "token store lock %s in %r not acquired within %g s; going on without it",
                key,
                self,
                self.lock_timeout,
            )
            yield None
            return
        try:
            yield None
        finally:
            lock.release()

    def __getstate__(self) -> dict[str, Any]:
        return {"ttl": self.ttl, "lock_timeout": self.lock_timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.ttl = state.get("ttl", DEFAULT_TTL)
        self.lock_timeout = state.get("lock_timeout", 30.0)
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
