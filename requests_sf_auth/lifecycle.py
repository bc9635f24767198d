"""The token lifecycle: hold the current token, fetch the first one lazily, and replace a
rejected one, with exactly one fetch in flight per :class:`TokenLifecycle` however many threads
ask at once, and, through a shared :class:`~requests_sf_auth.stores.TokenStore`, one per store
however many processes share it.

Threading: reading :attr:`TokenLifecycle.token` takes no lock (the attribute holds an immutable
:class:`~requests_sf_auth.token.Token`, and rebinding it is atomic). A short lock guards only
the choice of which thread fetches; the fetch itself runs outside it, and the other callers wait
on an event for its result, error included. After ``os.fork()`` the child gets a fresh lock and
no in-flight fetch, so a lock held by a parent thread at fork time can never deadlock it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import requests

from .stores import MemoryTokenStore, TokenStore, store_key
from .token import (
    Token,
    TokenEndpoint,
    introspect_token,
    monotonic_from_wall,
    request_token,
    revoke_token,
    token_from_record,
)

__all__ = ["RenewalPolicy", "TokenLifecycle"]

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


@dataclasses.dataclass(frozen=True)
class RenewalPolicy:
    """When to renew a token before Salesforce rejects it, and whom to tell.

    ``lifetime`` (seconds, matching the org's session timeout) renews a token ``leeway``
    seconds before ``issued_at + lifetime``, by the local clock. ``introspect`` asks the org
    for ``exp`` after each fetch and renews ``leeway`` seconds before it. Salesforce's timeout
    is an idle timeout, so ``exp`` only moves later while the token is used: a stale ``exp``
    means an early renewal, never a failed request. With both, the earlier moment wins; with
    neither, only a 401 renews. ``on_token`` receives each new token's metadata (never the
    token itself).
    """

    lifetime: float | None = None
    leeway: float = 60.0
    introspect: bool = False
    on_token: Callable[[dict[str, Any]], object] | None = None


class TokenLifecycle:
    """Owns one client's token: when to fetch, and making sure only one fetch runs at a time.

    Every method is safe to call from any number of threads. Fetch errors
    (:class:`~requests_sf_auth.errors.TokenRequestError` or a ``requests`` exception) reach
    every caller that was waiting for that fetch, and leave the previous state untouched, so
    the next call simply tries again.
    """

    def __init__(
        self,
        endpoint: TokenEndpoint,
        token_session: requests.Session | None,
        policy: RenewalPolicy | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self._setup(endpoint, token_session, policy or RenewalPolicy(), store)

    def _setup(
        self,
        endpoint: TokenEndpoint,
        token_session: requests.Session | None,
        policy: RenewalPolicy,
        store: TokenStore | None,
    ) -> None:
        self._endpoint = endpoint
        self._policy = policy
        # A private in-memory store behaves exactly as having no store at all.
        self._store: TokenStore = store if store is not None else MemoryTokenStore()
        self._key = store_key(endpoint.url, endpoint.client_id)
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
        """The token held now, fetching the first one if there is none yet, or a new one if
        the held one is due for renewal under the :class:`RenewalPolicy`."""
        token = self._token
        if token is None:
            return self._renew(None, reason="first use")
        if token.is_due():
            return self._renew(token, reason=token.renew_reason or "renewal due")
        return token

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

    def revoke(self) -> bool:
        """Revoke the held token at the org and forget it. Returns False when no token was
        held or the org said it was already invalid; raises
        :class:`~requests_sf_auth.errors.TokenRevocationError` or a ``requests`` exception
        otherwise, keeping the token."""
        token = self._token
        if token is None:
            return False
        revoked = revoke_token(self._endpoint, self._session(), token)
        with self._lock:
            if self._token is token:
                self._token = None
        with self._store.lock(self._key):
            shared = self._shared()
            if shared is None or shared.authorization == token.authorization:
                self._store.delete(self._key)
        log.info(
            "%s the token for %s",
            "revoked" if revoked else "forgot the already invalid",
            token.instance_url,
        )
        return revoked

    def close(self) -> None:
        """Close the private session used for token requests (a ``token_session`` given by
        the user is theirs to close). The lifecycle stays usable."""
        session, self._private_session = self._private_session, None
        if session is not None:
            session.close()

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

        try:
            new, fetched = self._obtain(stale, reason=reason, force=force)
        except BaseException as exc:
            log.info("token request to %s failed: %s", self._endpoint.url, exc)
            self._land(flight, None, exc)
            raise
        self._land(flight, new, None)
        if fetched:
            self._notify(new)
        return new

    def _obtain(self, stale: Token | None, *, reason: str, force: bool) -> tuple[Token, bool]:
        """Under the store's lock: the token another process already published in place of
        ``stale``, or a newly fetched and published one. Returns it, and whether it was
        fetched here."""
        with self._store.lock(self._key):
            if not force:
                shared = self._shared()
                if (
                    shared is not None
                    and (stale is None or shared.authorization != stale.authorization)
                    and not shared.is_due()
                ):
                    log.info("using the token in %r (reason: %s)", self._store, reason)
                    return shared, False
            log.info("requesting a token from %s (reason: %s)", self._endpoint.url, reason)
            new = self._schedule(request_token(self._endpoint, self._session()))
            self._store.save(self._key, new.to_record(), self._ttl(new))
        log.info("received a token for %s (reason: %s)", new.instance_url, reason)
        return new, True

    def _shared(self) -> Token | None:
        record = self._store.load(self._key)
        return token_from_record(record, self._endpoint) if record is not None else None

    def _ttl(self, token: Token) -> float | None:
        """How long a published token can be useful: until its expected death, if known."""
        if token.renew_at is None:
            return None
        return max(token.renew_at - time.monotonic() + self._policy.leeway, 1.0)

    def _schedule(self, token: Token) -> Token:
        """``token`` with its renewal moment set as the policy says."""
        policy = self._policy
        deadlines: list[tuple[float, str]] = []
        if policy.lifetime is not None:
            issued = token.issued_at or token.received_at
            deadlines.append((issued + policy.lifetime - policy.leeway, "lifetime"))
        if policy.introspect:
            try:
                exp = introspect_token(self._endpoint, self._session(), token)
            except requests.RequestException as exc:
                # Advisory only: without an exp, the 401 path still renews the token.
                log.info("introspection failed, relying on 401s to renew: %s", exc)
            else:
                deadlines.append((exp - policy.leeway, "introspection"))
        if not deadlines:
            return token
        wall, reason = min(deadlines)
        return dataclasses.replace(token, renew_at=monotonic_from_wall(wall), renew_reason=reason)

    def _notify(self, token: Token) -> None:
        callback = self._policy.on_token
        if callback is None:
            return
        try:
            callback(token.metadata())
        except Exception:
            log.warning("on_token callback raised; ignored", exc_info=True)

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
        return {
            "endpoint": self._endpoint,
            "token_session": self._user_session,
            "policy": self._policy,
            "store": self._store,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["endpoint"], state["token_session"], state["policy"], state["store"])


def _reset_all_after_fork() -> None:
    for lifecycle in list(_LIVE):
        lifecycle._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
