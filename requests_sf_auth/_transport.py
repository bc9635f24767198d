"""One form POST to the org's OAuth endpoints (token, introspection, revocation), bounded in time
and in size whatever the server does.

requests' ``timeout`` limits each socket operation, not the exchange: an answer that trickles
one byte at a time never times out. Here the connect and read timeouts add up to an overall
deadline; when it passes, a watchdog shuts the connection's socket down, which ends any read in
progress, and the caller gets ``requests.Timeout``. The body is read up to :data:`MAX_BODY`.

The watchdog reaches the socket of the body phase on any session. It reaches the socket of the
headers phase through :class:`DeadlineAdapter`, which the plugin mounts on its own token
session, and puts in place of requests' stock ``HTTPAdapter`` for the exchange on a
``token_session`` of the user's. An adapter of another class is the user's own transport: it
is used as it is, and its headers phase is bounded per read only.

The same connections keep urllib3 from quoting header lines it cannot parse in its own log
(see :class:`_QuietHeadersResponse`): a broken gateway may echo the form there. On a transport
of the user's own, urllib3 logs them as usual.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager, ProxyManager

from ._errors import SalesforceAuthError
from ._redaction import redact
from ._secrets import SecretForm, SecretText

__all__ = [
    "MAX_BODY",
    "Answer",
    "DeadlineAdapter",
    "Timeout",
    "environment_proxy",
    "exiting",
    "fresh_copy",
    "in_background",
    "overall",
    "post_form",
    "proxy_variables_set",
]

Timeout = float | tuple[float, float]
"""What requests accepts as ``timeout=``: one number, or (connect, read) in seconds."""

MAX_BODY = 64 * 1024
"""Bytes of an OAuth answer that are read. A token answer is about 1 KiB; an error page is
quoted only as a short snippet; anything larger is cut off rather than held in memory."""

_active = threading.local()
_running: set[_Watchdog] = set()
_running_lock = threading.Lock()
_exiting = threading.Event()


def fresh_copy(error: BaseException, message: str) -> requests.RequestException:
    """A new exception of ``error``'s class with ``message`` and nothing else: no request
    (whose body holds the secret), no response, no traceback, no context. A class that cannot
    be built from a message alone gives way to :class:`requests.RequestException`."""
    kind = type(error) if isinstance(error, requests.RequestException) else None
    if kind is not None:
        try:
            return kind(message)
        except Exception:  # noqa: S110 - a subclass with required arguments
            pass
    return requests.RequestException(message)


def overall(timeout: Timeout) -> float:
    """The overall deadline of an exchange with ``timeout``: connect plus read time (a single
    number is both, as in requests)."""
    return 2.0 * timeout if isinstance(timeout, (int, float)) else timeout[0] + timeout[1]


@dataclass(frozen=True, repr=False)
class Answer:
    """What an OAuth endpoint answered: its status and up to :data:`MAX_BODY` bytes of body,
    decoded as UTF-8 (bad bytes replaced). ``truncated`` says the body was longer."""

    status: int
    text: SecretText
    truncated: bool

    def __repr__(self) -> str:
        return f"<Answer HTTP {self.status}, {len(self.text)} characters>"


class _Watchdog:
    """Shuts down the socket of the connection in use when the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.background = bool(getattr(_active, "background", False))
        self.expired = False
        self._connection: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        # Not a daemon either: it ends as soon as the exchange does, and at exit before it.
        self._timer.daemon = False

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
        with _running_lock:
            _running.add(self)
        # Started inside the try: a KeyboardInterrupt can surface in Thread.start() once the
        # timer runs, and a timer left running would hold the exiting process until it fires.
        try:
            if self.background and _exiting.is_set():  # begun as the interpreter exits: ends now
                self._expire()
            else:
                # Python 3.12+ starts no thread once the main thread has ended; a thread that
                # works on after it keeps requests' per-read timeouts for this exchange.
                with contextlib.suppress(RuntimeError):
                    self._timer.start()
            yield self
        finally:
            self._timer.cancel()
            with _running_lock:
                _running.discard(self)
            _active.watchdog = None


def in_background() -> None:
    """Mark this thread as one that renews in the background: at interpreter exit, its
    exchanges with the org are cut short rather than waited out."""
    _active.background = True


def exiting() -> bool:
    """Whether the interpreter has begun to exit (its main thread has ended)."""
    return _exiting.is_set()


def _end_background_exchanges() -> None:
    # The main thread has ended: a background renewal is of no use any more, and it must not
    # keep the process alive until its deadline. Other threads may go on working, so their
    # own token requests are left alone.
    with _running_lock:
        _exiting.set()
        running = [w for w in _running if w.background]
    for watchdog in running:
        watchdog._expire()
        watchdog._timer.cancel()


with contextlib.suppress(AttributeError, RuntimeError):
    # Runs before the interpreter joins its threads (Python 3.9+, as concurrent.futures uses).
    threading._register_atexit(_end_background_exchanges)  # type: ignore[attr-defined]


class _QuietHeadersResponse(http.client.HTTPResponse):
    """http.client's response, except that header lines it could not parse are dropped without
    a word. urllib3 logs them at WARNING, on a logger of its own and quoting their text, and a
    broken gateway's unparsed lines may echo the token request's form, secret and all. Nothing
    else changes: http.client has set those lines aside already (they are no header), and an
    answer that suffers from it is refused by its status and body like any other."""

    def begin(self) -> None:
        super().begin()
        headers = self.msg
        del headers.defects[:]
        if not headers.is_multipart():
            headers.set_payload("")


def _watch_in_this_thread(connection: object) -> None:
    watchdog = getattr(_active, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(connection)


class _WatchedHTTPConnection(HTTPConnection):
    response_class = _QuietHeadersResponse

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_in_this_thread(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    response_class = _QuietHeadersResponse

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


def _watchable(session: requests.Session) -> tuple[requests.Session, list[DeadlineAdapter]]:
    """``session``, or, when it has stock ``HTTPAdapter``s the watchdog cannot reach, a twin
    that shares all of its state but has :class:`DeadlineAdapter` clones of those (with the
    same pool and retry settings) in their place, and the clones, to be closed after use.
    Adapters of other classes are the user's own transport, and are kept as they are."""
    stock = [prefix for prefix, adapter in session.adapters.items() if type(adapter) is HTTPAdapter]
    if not stock:
        return session, []
    twin = object.__new__(type(session))
    twin.__dict__.update(session.__dict__)
    twin.adapters = OrderedDict(session.adapters)  # the same order: the longest prefix first
    clones = []
    for prefix in stock:
        adapter: Any = session.adapters[prefix]
        clone = DeadlineAdapter(
            pool_connections=adapter._pool_connections,
            pool_maxsize=adapter._pool_maxsize,
            max_retries=adapter.max_retries,
            pool_block=adapter._pool_block,
        )
        # What init_poolmanager was given: ssl_context, source_address, socket_options, ...
        clone.poolmanager.connection_pool_kw.update(adapter.poolmanager.connection_pool_kw)
        twin.adapters[prefix] = clone
        clones.append(clone)
    return twin, clones


# urllib reads a proxy from every variable named ``<key>_proxy``, in any mix of case, and
# requests picks one for a plain-http URL by the keys ``http://<host>``, ``http``,
# ``all://<host>`` and ``all``: these are the names that can send one through a proxy.
_PLAIN_HTTP_PROXY_NAMES = frozenset({"http_proxy", "all_proxy"})
_PER_HOST_PREFIXES = ("http://", "all://")


def _names_a_plain_http_proxy(name: str | bytes) -> bool:
    lower = (name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name).lower()
    return lower in _PLAIN_HTTP_PROXY_NAMES or (
        lower.endswith("_proxy") and lower.startswith(_PER_HOST_PREFIXES)
    )


_BYTES_NAMES = os.supports_bytes_environ  # POSIX: os.environ keeps its names as bytes

# What the last scan of every name saw: the store it read, its size and its newest name, and
# whether any name could carry a proxy for plain http.
_last_scan: tuple[object, int, object, bool] = (None, -1, None, False)


def proxy_variables_set() -> bool:
    """Whether the environment may name a proxy for a plain-http URL (see
    :data:`_PLAIN_HTTP_PROXY_NAMES`): a fast test that never misses one, for the full check
    in :func:`environment_proxy` to confirm.

    The usual spellings are looked up every time, the cheapest test. The others (``Http_Proxy``,
    ``all://host_proxy``) need a scan of every name, which costs microseconds; its answer is
    kept while the store, its number of names and its newest name, the very object, stay the
    same. os.environ encodes a name afresh whenever one is set, and a dict keeps its names in
    the order they were set, so every change to the names made through os.environ moves one
    of the three: while a name set since the scan remains, the newest is such a fresh object;
    otherwise names were only removed, and the number fell. The one exception: Python shares
    the object of a one-character name, so adding an odd spelling, removing another name,
    then removing and setting again a one-character newest name, all between two requests,
    goes unseen until the next change; the usual spellings are looked up every time anyway.
    """
    global _last_scan  # noqa: PLW0603 - a process-wide cache, as os.environ is
    environ = os.environ
    # os.environ's own lookups encode the name and raise KeyError on a miss, and its len()
    # is a Python call: together most of the plugin's cost on a plain-http request. Its
    # store on POSIX is read here directly; anything else is scanned every time.
    names = getattr(environ, "_data", None) if _BYTES_NAMES else None
    if type(names) is not dict:
        return any(_names_a_plain_http_proxy(name) for name in environ)
    if b"http_proxy" in names or b"HTTP_PROXY" in names:
        return True
    if b"all_proxy" in names or b"ALL_PROXY" in names:
        return True
    store, count, newest, named = _last_scan
    try:
        same = store is names and count == len(names) and newest is next(reversed(names), None)
    except RuntimeError:  # another thread set or removed a name meanwhile
        same = False
    if not same:
        # list() copies the names in one step, safe while other threads change them; the
        # scan and what is kept both come from that copy, so a change after it is seen next.
        snapshot = list(names)
        named = any(_names_a_plain_http_proxy(name) for name in snapshot)
        _last_scan = (names, len(snapshot), snapshot[-1] if snapshot else None, named)
    return named


def environment_proxy(url: str) -> str | None:
    """The proxy that requests would take from the environment for the plain-http ``url``
    (``HTTP_PROXY``, ``ALL_PROXY`` or a per-host variable, unless ``NO_PROXY`` exempts the
    host), without its user info; ``None`` when there is none.

    requests does not exempt loopback hosts, so a proxy set for the whole machine would read
    a plain-http token exchange, and the token on every API request, in cleartext.
    """
    if not proxy_variables_set():
        return None
    proxy = select_proxy(url, get_environ_proxies(url))
    if not proxy:
        return None
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:  # not a port number: requests fails on it too, once it sends
        port = None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _explicit_proxies(session: requests.Session, url: str) -> dict[str, Any] | None:
    """``proxies=`` for a request to ``url`` that keeps the proxies set on ``session`` itself
    and drops those from the environment, for plain http only: an https exchange goes through
    a proxy in a TLS tunnel, as the environment says. ``None`` leaves requests' choice alone.
    """
    if not url.startswith("http:"):
        return None
    # A key present with the value None keeps requests from filling it in from the
    # environment, and is then dropped from the merged settings. These are every key
    # requests looks up for a plain-http URL (see _PLAIN_HTTP_PROXY_NAMES).
    host = urlsplit(url).hostname or ""
    proxies: dict[str, Any] = dict.fromkeys(  # the stubs allow no None
        ("http", "all", f"http://{host}", f"all://{host}")
    )
    proxies.update(session.proxies)
    return proxies


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    # Passed as auth= so that a session-wide auth on a user's token_session, possibly this
    # very plugin, is never applied to the request itself.
    return r


def post_form(
    session: requests.Session,
    url: str,
    form: SecretForm,
    timeout: Timeout,
    *,
    secrets: Iterable[str],
) -> Answer:
    """POST ``form`` to ``url`` through ``session`` and read the answer within ``timeout``'s
    overall deadline. Never follows redirects: a 307 would carry the secret elsewhere.

    Raises ``requests`` exceptions for failures of the exchange, as fresh copies without the
    request (whose body holds the client secret), and ``requests.Timeout`` when the deadline
    passes. Their message is the original's with ``secrets``, the credentials ``form``
    carries, redacted (see :func:`~requests_sf_auth._redaction.redact`): a server may echo the
    form where http.client or urllib3 quote it, in a status line they refuse, say. Anything
    else a transport of the user's raises becomes a
    :class:`~requests_sf_auth.SalesforceAuthError` naming its class, as redacted. The original
    is neither the cause nor the context of what is raised: a traceback would print its
    message unredacted, and error trackers record its frames' locals, the request among
    them; its class and its redacted message are all that is kept.

    TLS is verified as ``session.verify`` says; left at its default (``True``),
    ``REQUESTS_CA_BUNDLE`` applies as usual, while a CA bundle set on the session explicitly
    wins over it, unlike in plain requests. A plain-http exchange (a loopback org) never goes
    through a proxy from the environment, which would read the secret; proxies set on
    ``session`` are used as they are.
    """
    deadline = overall(timeout)
    failure: requests.RequestException | None = None
    session, clones = _watchable(session)
    with contextlib.ExitStack() as cleanup, _Watchdog(deadline).running() as watchdog:
        for clone in clones:
            cleanup.callback(clone.close)
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
                proxies=_explicit_proxies(session, url),
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
            if watchdog.expired:  # some urllib3 versions end a cut-off body quietly
                raise requests.Timeout("cut off by the watchdog")
        except requests.RequestException as exc:
            failure = fresh_copy(exc, redact(str(exc), *secrets))
        except Exception as exc:
            # A token_session's own adapter may raise anything, with any text.
            failure = SalesforceAuthError(
                f"the exchange with {url} failed: {type(exc).__name__}: "
                f"{redact(str(exc), *secrets)}"
            )
        if watchdog.expired:
            failure = requests.Timeout(
                f"{url} sent no complete answer within {deadline:g} s (the token request's "
                "timeout, connect and read together)"
            )
    if failure is not None:
        raise failure  # outside the except block: the original, with the request, stays behind
    return Answer(
        status=response.status_code,
        text=SecretText(bytes(body[:MAX_BODY]).decode("utf-8", "replace")),
        truncated=len(body) > MAX_BODY,
    )
