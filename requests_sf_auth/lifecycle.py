"""The token lifecycle: hold the current token, fetch the first one lazily, and replace a
rejected one, with exactly one fetch in flight per :class:`TokenLifecycle` however many threads
ask at once.

Threading: reading :attr:`TokenLifecycle.token` takes no lock (the attribute holds an immutable
:class:`~requests_sf_auth.token.Token`, and rebinding it is atomic). A short lock guards only
the choice of which thread fetches; the fetch itself runs outside it, and the other callers wait
on an event for its result, error included. After ``os.fork()`` the child gets a fresh lock and
no in-flight fetch, so a lock held by a parent thread at fork time can never deadlock it.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any

import requests

from .token import Token, TokenEndpoint, request_token

__all__ = ["TokenLifecycle"]

log = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[TokenLifecycle] = weakref.WeakSet()


class _Flight:
    """One token fetch in progress, and how its waiters learn the outcome."""

    __slots__ = ("_done", "_error", "_token")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._token: Token | None = None
        self._error: BaseException | None = None

    def settle(self, token: Token | None, error: BaseException | None) -> None:
        self._token, self._error = token, error
        self._done.set()

    def wait(self) -> Token:
        # No timeout needed: the leader's request has one, and it always settles the flight.
        self._done.wait()
        if self._token is None:
            raise self._error or RuntimeError("token fetch settled without a result")
        return self._token


class TokenLifecycle:
    """Owns one client's token: when to fetch, and making sure only one fetch runs at a time.

    Every method is safe to call from any number of threads. Fetch errors
    (:class:`~requests_sf_auth.errors.TokenRequestError` or a ``requests`` exception) reach
    every caller that was waiting for that fetch, and leave the previous state untouched, so
    the next call simply tries again.
    """

    def __init__(self, endpoint: TokenEndpoint, token_session: requests.Session | None) -> None:
        self._setup(endpoint, token_session)

    def _setup(self, endpoint: TokenEndpoint, token_session: requests.Session | None) -> None:
        self._endpoint = endpoint
        self._user_session = token_session
        self._private_session: requests.Session | None = None
        self._token: Token | None = None
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        _LIVE.add(self)

    @property
    def endpoint(self) -> TokenEndpoint:
        """Where and with which credentials tokens are requested."""
        return self._endpoint

    @property
    def token(self) -> Token | None:
        """The token held now, or ``None``. Never fetches and never blocks."""
        return self._token

    def current(self) -> Token:
        """The token held now, fetching the first one if there is none yet."""
        token = self._token
        if token is not None:
            return token
        return self._renew(None, reason="first use")

    def replace(self, rejected_authorization: str, reason: str) -> Token:
        """A token other than the rejected one (given as its ``Authorization`` header value).

        Fetches only if the rejected token is still the current one: when many threads see the
        same token rejected, the first fetches and the rest get its result.
        """
        token = self._token
        if token is not None and token.authorization != rejected_authorization:
            return token
        return self._renew(token, reason=reason)

    def fetch(self, reason: str = "requested") -> Token:
        """Fetch a new token now, or join a fetch that is already in flight."""
        return self._renew(self._token, reason=reason, force=True)

    def forget(self) -> None:
        """Drop the held token; the next :meth:`current` fetches a new one."""
        self._token = None

    def _renew(self, stale: Token | None, *, reason: str, force: bool = False) -> Token:
        with self._lock:
            token = self._token
            if not force and token is not None and token is not stale:
                return token
            flight = self._flight
            if flight is not None:
                leader = False
            else:
                flight = self._flight = _Flight()
                leader = True
        if not leader:
            return flight.wait()

        log.info("requesting a token from %s (reason: %s)", self._endpoint.url, reason)
        try:
            new = request_token(self._endpoint, self._session())
        except BaseException as exc:
            log.info("token request to %s failed: %s", self._endpoint.url, exc)
            self._land(flight, None, exc)
            raise
        log.info("received a token for %s", new.instance_url)
        self._land(flight, new, None)
        return new

    def _land(self, flight: _Flight, token: Token | None, error: BaseException | None) -> None:
        with self._lock:
            if token is not None:
                self._token = token
            if self._flight is flight:
                self._flight = None
        flight.settle(token, error)

    def _session(self) -> requests.Session:
        if self._user_session is not None:
            return self._user_session
        session = self._private_session
        if session is None:
            session = self._private_session = requests.Session()
        return session

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._flight = None
        # Pooled connections are shared with the parent; talking over them from two
        # processes would interleave bytes, so the child starts with its own pool.
        self._private_session = None

    # Pickling and deepcopy carry the configuration, never the token or the lock: a copy in
    # another process fetches its own token.
    def __getstate__(self) -> dict[str, Any]:
        return {"endpoint": self._endpoint, "token_session": self._user_session}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["endpoint"], state["token_session"])


def _reset_all_after_fork() -> None:
    for lifecycle in list(_LIVE):
        lifecycle._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
