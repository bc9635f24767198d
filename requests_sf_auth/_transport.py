"""One form POST to the org's OAuth endpoints (token, introspection, revocation), bounded in time
and in size whatever the server does.

requests' ``timeout`` limits each socket operation, not the exchange: an answer that trickles
one byte at a time never times out. Here the connect and read timeouts add up to an overall
deadline; when it passes, a watchdog shuts the connection's socket down, which ends any read in
progress, and the caller gets ``requests.Timeout``. The body is read up to :data:`MAX_BODY`.

The watchdog reaches the socket of the body phase on any session. It reaches the socket of the
headers phase through :class:`DeadlineAdapter`, which the plugin mounts on its own token
session; a ``token_session`` of the user's keeps its adapters, so there the headers phase is
bounded per read only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager, ProxyManager

__all__ = ["MAX_BODY", "Answer", "DeadlineAdapter", "Timeout", "overall", "post_form"]

Timeout = float | tuple[float, float]
"""What requests accepts as ``timeout=``: one number, or (connect, read) in seconds."""

MAX_BODY = 64 * 1024
"""Bytes of an OAuth answer that are read. A token answer is about 1 KiB; an error page is
quoted only as a short snippet; anything larger is cut off rather than held in memory."""

_active = threading.local()


def overall(timeout: Timeout) -> float:
    """The overall deadline of an exchange with ``timeout``: connect plus read time (a single
    number is both, as in requests)."""
    return 2.0 * timeout if isinstance(timeout, (int, float)) else timeout[0] + timeout[1]


@dataclass(frozen=True)
class Answer:
    """What an OAuth endpoint answered: its status and up to :data:`MAX_BODY` bytes of body,
    decoded as UTF-8 (bad bytes replaced). ``truncated`` says the body was longer."""

    status: int
    text: str
    truncated: bool


class _Watchdog:
    """Shuts down the socket of the connection in use when the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._connection: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, connection: object) -> None:
        with self._lock:
            self._connection = connection
            expired = self.expired
        if expired:
            self._shut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connection = self._connection
        self._shut(connection)

    @staticmethod
    def _shut(connection: object) -> None:
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def running(self) -> Iterator[_Watchdog]:
        _active.watchdog = self
        self._timer.start()
        try:
            yield self
        finally:
            self._timer.cancel()
            _active.watchdog = None


def _watch_in_this_thread(connection: object) -> None:
    watchdog = getattr(_active, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(connection)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_in_this_thread(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_in_this_thread(self)
        super().request(*args, **kwargs)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watched(manager: PoolManager) -> PoolManager:
    # SOCKS managers bring pools of their own; those keep per-read timeouts only.
    if type(manager) in (PoolManager, ProxyManager):
        manager.pool_classes_by_scheme = {
            "http": _WatchedHTTPConnectionPool,
            "https": _WatchedHTTPSConnectionPool,
        }
    return manager


class DeadlineAdapter(HTTPAdapter):
    """requests' ``HTTPAdapter`` whose connections the overall deadline can end at any point
    of the exchange, headers included. Otherwise it is the default adapter."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watched(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        fresh = proxy not in self.proxy_manager
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return _watched(manager) if fresh else manager


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    # Passed as auth= so that a session-wide auth on a user's token_session, possibly this
    # very plugin, is never applied to the request itself.
    return r


def post_form(
    session: requests.Session, url: str, form: str | dict[str, str], timeout: Timeout
) -> Answer:
    """POST ``form`` to ``url`` through ``session`` and read the answer within ``timeout``'s
    overall deadline. Never follows redirects: a 307 would carry the secret elsewhere.

    Raises ``requests`` exceptions for failures of the exchange, as fresh copies without the
    request (whose body holds the client secret), and ``requests.Timeout`` when the deadline
    passes. TLS is verified as ``session.verify`` says; left at its default (``True``),
    ``REQUESTS_CA_BUNDLE`` applies as usual, while a CA bundle set on the session explicitly
    wins over it, unlike in plain requests.
    """
    deadline = overall(timeout)
    with _Watchdog(deadline).running() as watchdog:
        try:
            response = session.post(
                url,
                data=form,
                headers={
                    "Accept": "application/json",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                timeout=timeout,
                verify=None if session.verify is True else session.verify,
                allow_redirects=False,
                auth=_no_auth,
                stream=True,
            )
            try:
                connection = getattr(response.raw, "_connection", None)
                if connection is not None:  # the body phase, on any session's adapter
                    watchdog.watch(connection)
                body = bytearray()
                for chunk in response.iter_content(16 * 1024):
                    body += chunk
                    if len(body) > MAX_BODY:
                        break
            finally:
                response.close()
        except requests.RequestException as exc:
            if watchdog.expired:
                raise requests.Timeout(
                    f"{url} sent no complete answer within {deadline:g} s (the token "
                    "request's timeout, connect and read together)"
                ) from None
            raise type(exc)(str(exc)) from None
    return Answer(
        status=response.status_code,
        text=bytes(body[:MAX_BODY]).decode("utf-8", "replace"),
        truncated=len(body) > MAX_BODY,
    )
