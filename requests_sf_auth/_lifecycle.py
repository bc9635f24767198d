"""The token lifecycle: hold the current token, fetch the first one lazily, renew a due one in
the background, replace a rejected one, and pause after failures, with exactly one fetch in
flight per :class:`TokenLifecycle` however many threads ask at once and, through a shared
:class:`~requests_sf_auth._stores.TokenStore`, one per store however many processes share it.

Threading: reading :attr:`TokenLifecycle.token` takes no lock (the attribute holds an immutable
:class:`~requests_sf_auth._token.Token`, and rebinding it is atomic). A short lock guards the
choice of which thread fetches and the failure record; the fetch itself runs outside it, and
the other callers wait for its result, error included, no longer than its deadline. A fetch
settles its waiters before anything is logged, so a log handler that raises, or that calls the
org itself, cannot wedge it; and a thread inside a fetch that needs the token being fetched
(through this lifecycle or another one on the same store record) is refused at once rather
than left waiting for itself. After ``os.fork()`` the child gets a fresh lock and no fetch in
flight, so a lock held by a parent thread at fork time can never deadlock it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeGuard

import requests

from ._backoff import LONGEST_WAIT, RENEWAL_BURST, Backoff, BackoffPolicy, retry_later
from ._errors import SalesforceAuthError, TokenRequestError
from ._stores import TokenStore, record_identity, store_key
from ._token import (
    Token,
    TokenEndpoint,
    introspect_token,
    monotonic_from_wall,
    request_token,
    revoke_token,
    sealed_record,
    token_from_record,
)
from ._transport import DeadlineAdapter, exiting, in_background

__all__ = ["MAX_CLOCK_SKEW", "RenewalPolicy", "TokenLifecycle"]

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = 60.0
"""Seconds by which the local clock may differ from Salesforce's ``issued_at`` before renewals
are scheduled from the local time a token arrived instead, with a warning."""

_LEEWAY_SHARE = 0.5
"""The largest share of an introspected lifetime that ``leeway`` may take, so that a token is
never due on arrival."""

_REFUSAL_FIX = (
    "the likely fix: give the external client app the 'api' OAuth scope, make sure the Run As "
    "user's profile has 'API Enabled', and check the app's and the profile's IP restrictions"
)

_LIVE: weakref.WeakSet[TokenLifecycle] = weakref.WeakSet()

_Note = tuple[int, str]  # a log level and a message, logged once the fetch has settled

_INTERRUPTED = KeyboardInterrupt("the token request was interrupted")
_BACKGROUND = -1  # the leader of a background renewal, until its thread runs

_SELF_WAIT = (
    "a token was needed by the thread that is fetching one (a log handler or a callback "
    "called the org during the token request, through this auth or another sharing its "
    "token store); not waiting for itself"
)

_HELD = threading.local()
"""``records``: the :func:`~requests_sf_auth._stores.record_identity` of each store record
whose lock this thread holds, so that it is never made to wait for it again."""


def _holds(record: Hashable) -> bool:
    held: set[Hashable] | None = getattr(_HELD, "records", None)
    return held is not None and record in held


@contextlib.contextmanager
def _holding(record: Hashable) -> Iterator[None]:
    """Marks ``record``'s lock as held by this thread while the block runs."""
    held: set[Hashable] | None = getattr(_HELD, "records", None)
    if held is None:
        held = _HELD.records = set()
    if record in held:  # taken by an outer block, which unmarks it
        yield
        return
    held.add(record)
    try:
        yield
    finally:
        held.discard(record)


def _is_wait(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a number of seconds to wait: not negative, not NaN, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


class _Flight:
    """One token fetch in progress, and how its waiters learn the outcome."""

    __slots__ = ("_done", "_error", "_token", "background", "deadline", "leader")

    def __init__(self, budget: float, leader: int | None = None) -> None:
        self.background = leader == _BACKGROUND
        self._done = threading.Event()
        self._token: Token | None = None
        self._error: BaseException | None = None
        self.deadline = time.monotonic() + budget
        self.leader = leader if leader is not None else threading.get_ident()
        """The thread making the fetch."""

    def settle(self, token: Token | None, error: BaseException | None) -> None:
        self._token, self._error = token, error
        self._done.set()

    @property
    def settled(self) -> bool:
        return self._done.is_set()

    def wait(self, retry_after: Callable[[], float]) -> Token:
        """The fetch's token, or an error of the same kind as its failure (a fresh copy, so
        that no two threads raise one exception object, with ``retry_after()`` as its
        ``retry_after`` when a pause followed). Waits no longer than the fetch's deadline."""
        if self.leader == threading.get_ident():
            raise SalesforceAuthError(_SELF_WAIT)
        if not self._done.wait(max(self.deadline - time.monotonic(), 0.0)):
            raise TokenRequestError(
                "gave up waiting for the token request another thread started: it passed "
                "its deadline without an answer"
            )
        if self._token is not None:
            return self._token
        error = self._error
        if not isinstance(error, Exception):
            # KeyboardInterrupt or SystemExit belong to the thread that received them.
            raise SalesforceAuthError(
                "the token request this thread waited for was interrupted in the thread that "
                "made it; the next request tries again"
            )
        wait = retry_after()
        note = "(the token request another thread made)"
        if wait:
            note += f"; the next attempt is in {wait:.1f} s (token_backoff)"
        raise retry_later(error, note, wait or None)


@dataclasses.dataclass(frozen=True)
class RenewalPolicy:
    """When to renew a token before Salesforce rejects it, and whom to tell.

    ``lifetime`` (seconds, matching the org's session timeout) renews a token ``leeway``
    seconds before ``issued_at + lifetime``. ``introspect`` asks the org for ``exp`` after each
    fetch and renews ``leeway`` seconds before it, with ``leeway`` cut to half of what the org
    reports when it is longer. Salesforce's timeout is an idle timeout, so ``exp`` only moves
    later while the token is used: a stale ``exp`` means an early renewal, never a failed
    request. With both, the earlier moment wins; with neither, only a rejection renews.
    ``on_token`` receives each new token's metadata (never the token itself).

    Raises ``ValueError`` for a ``leeway`` not shorter than ``lifetime``, or a non-callable
    ``on_token``.
    """

    lifetime: float | None = None
    leeway: float = 60.0
    introspect: bool = False
    on_token: Callable[[dict[str, Any]], object] | None = None

    def __post_init__(self) -> None:
        if self.lifetime is not None and self.leeway >= self.lifetime:
            raise ValueError(
                f"leeway ({self.leeway:g} s) must be shorter than token_lifetime "
                f"({self.lifetime:g} s), or every request would renew the token"
            )
        if self.on_token is not None and not callable(self.on_token):
            raise ValueError(f"on_token must be callable, not {type(self.on_token).__name__}")
        object.__setattr__(self, "introspect", bool(self.introspect))


class TokenLifecycle:
    """Owns one client's token: when to fetch, and making sure only one fetch runs at a time.

    Every method is safe to call from any number of threads. A failed fetch
    (:class:`~requests_sf_auth.TokenRequestError` or a ``requests`` exception) reaches
    every caller that waited for it and leaves the previous token in place; it also pauses
    token requests as :class:`~requests_sf_auth._backoff.Backoff` says, and during the pause a
    caller that has no token gets the last error again at once.
    """

    def __init__(
        self,
        endpoint: TokenEndpoint,
        token_session: requests.Session | None,
        policy: RenewalPolicy,
        backoff: BackoffPolicy,
        store: TokenStore | None = None,
    ) -> None:
        self._setup(endpoint, token_session, policy, backoff, store)

    def _setup(
        self,
        endpoint: TokenEndpoint,
        token_session: requests.Session | None,
        policy: RenewalPolicy,
        backoff: BackoffPolicy,
        store: TokenStore | None,
    ) -> None:
        self._endpoint = endpoint
        self._policy = policy
        self._store = store
        self._key = store_key(endpoint.url, endpoint.grant.principal) if store is not None else ""
        self._record: Hashable | None = None  # record_identity(store, key), once needed
        self._user_session = token_session
        self._private_session: requests.Session | None = None
        self.token: Token | None = None
        """The token held now, or ``None``: read it, never fetching or blocking; only this
        class rebinds it. A plain attribute, as the send path reads it on every request."""
        self.accepted_token: Token | None = None
        """The last token the API accepted: until then, a rejection is a refusal, not an
        expiry."""
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._backoff = Backoff(backoff)
        self._warned: set[str] = set()
        self._refusal_warned_for = 0.0
        self._allowance_warned = False
        _LIVE.add(self)

    @property
    def endpoint(self) -> TokenEndpoint:
        """Where and with which credentials tokens are requested."""
        return self._endpoint

    # -- what requests ask for ----------------------------------------------------------------

    def current(self) -> Token:
        """The token to send now. Fetches the first one, waiting for it; a token due for
        renewal under the :class:`RenewalPolicy` is still returned while one background fetch
        replaces it. Raises the last error again, without a request, while token requests are
        paused after failures."""
        token = self.token
        if token is None:
            return self._renew(None, reason="first use")
        if token.is_due():
            self._renew_in_background(token)
        return token

    def replacement_for(self, rejected_authorization: str, reason: str) -> Token | None:
        """The token to resend a rejected request with, or ``None`` to give the rejection back.

        A token another thread already put in place of the rejected one is returned at once.
        Otherwise the rejected token is renewed, once for all the threads that saw it
        rejected, unless the failure record says to wait (see
        :meth:`~requests_sf_auth._backoff.Backoff.may_renew_after_rejection`), or rejections
        have bought too many renewals of late (see
        :data:`~requests_sf_auth._backoff.RENEWAL_BURST`).
        """
        token = self.token
        if token is not None and token.authorization != rejected_authorization:
            return token
        if token is None:  # revoked meanwhile: the next token comes as on first use
            return self._renew(None, reason=reason)
        with self._lock:
            renew = self._backoff.may_renew_after_rejection(
                token, was_accepted=token is self.accepted_token
            )
            refusals, wait, resume_at = (
                self._backoff.refusals,
                self._backoff.remaining(),
                self._backoff.resume_at,
            )
            first_in_window = resume_at != self._refusal_warned_for
            self._refusal_warned_for = resume_at
            spent = self._backoff.allowance_spent
            next_renewal = self._backoff.allowance_wait() if spent else 0.0
            first_of_run = spent and not self._allowance_warned
            self._allowance_warned = spent or (self._allowance_warned and not renew)
            # A pause that failed token requests opened: the caller needs a token that cannot
            # be had now, and learns why and until when, as on first use.
            outage = None if renew or refusals or spent else self._backoff.paused_error()
        if first_of_run:
            log.warning(
                "Salesforce's 401s have bought %d renewals in quick succession (sessions revoked "
                "or ended early, or an API answering 401 to live sessions); its 401s are "
                "returned as they are, and the next renewal waits %.0f s",
                RENEWAL_BURST,
                next_renewal,
            )
        if renew:  # the failure record decided, whatever pause it has just opened
            return self._renew(token, reason=reason, despite_pause=True)
        if outage is not None:
            raise outage
        if refusals >= 2 and first_in_window:
            log.warning(
                "Salesforce refused %d fresh tokens before accepting any; its 401s are returned "
                "as they are, and the next token request waits %.0f s; %s",
                refusals,
                wait,
                _REFUSAL_FIX,
            )
        return None

    def accepted(self, authorization: str, *, after_renewal: bool = False) -> None:
        """The API accepted the token sent as ``authorization``. ``after_renewal`` says it
        was a request resent with a renewed token, which ends any failure streak."""
        token = self.token
        if token is None or token.authorization != authorization:
            return
        with self._lock:
            if self.token is token:
                self.accepted_token = token
            if after_renewal:
                self._backoff.resend_accepted()

    def fetch(self, reason: str = "requested") -> Token:
        """Fetch a new token now, whatever the failure record says, or join a fetch that is
        already in flight."""
        return self._renew(self.token, reason=reason, force=True)

    def revoke(self) -> bool:
        """Revoke the held token at the org and forget it. Returns False when no token was
        held or the org said it was already invalid; raises
        :class:`~requests_sf_auth.TokenRevocationError` or a ``requests`` exception
        otherwise, keeping the token."""
        token = self.token
        if token is None:
            return False
        revoked = revoke_token(self._endpoint, self._session(), token)
        with self._lock:
            if self.token is token:
                self.token = None
        if self._store is not None:
            self._unpublish(self._store, token)
        log.info(
            "%s the token for %s",
            "revoked" if revoked else "forgot the already invalid",
            token.instance_url,
        )
        return revoked

    def _unpublish(self, store: TokenStore, token: Token) -> None:
        """Delete ``token``'s record unless another token replaced it, under the store's lock,
        unless this thread holds it already (revoking from inside a fetch)."""
        record = self._record_identity()
        held = _holds(record)
        notes: list[_Note] = []
        with _holding(record), contextlib.nullcontext() if held else self._store_lock(notes):
            shared = self._shared(notes)
            if shared is None or shared.authorization == token.authorization:
                try:
                    store.delete(self._key)
                except Exception as exc:  # the token is revoked at the org all the same
                    notes.append(self._store_broke(exc, "forgetting a revoked token"))
        for level, message in notes:
            log.log(level, message)

    def close(self) -> None:
        """Close the private session used for token requests (a ``token_session`` given by
        the user is theirs to close). The lifecycle stays usable."""
        session, self._private_session = self._private_session, None
        if session is not None:
            session.close()

    # -- fetching -----------------------------------------------------------------------------

    def _renew(
        self, stale: Token | None, *, reason: str, force: bool = False, despite_pause: bool = False
    ) -> Token:
        """The token in place of ``stale``: the one already there, the result of the fetch in
        flight, or a new one. ``force`` fetches even when a newer token is held or published;
        it and ``despite_pause`` go ahead during a pause."""
        paused: requests.RequestException | None = None
        joined = led = None
        # Whoever leads the fetch takes the store's lock: a thread that holds it already, led
        # or joined, would wait for itself.
        waits_for_itself = self._store is not None and _holds(self._record_identity())
        try:
            with self._lock:
                token = self.token
                if not force and token is not None and token is not stale:
                    return token
                if waits_for_itself:
                    raise SalesforceAuthError(_SELF_WAIT)
                joined = self._flight
                if joined is None:
                    if not (force or despite_pause) and self._backoff.remaining() > 0:
                        paused = self._backoff.paused_error()
                    else:
                        led = self._flight = _Flight(self._budget())
            if paused is not None:
                raise paused
            if joined is not None:
                try:
                    return joined.wait(self._backoff.remaining)
                except requests.RequestException:
                    if not (joined.background and exiting()):
                        raise
                # A renewal cut short because the main thread ended: this thread works on,
                # so it fetches for itself.
                return self._renew(stale, reason=reason, force=force, despite_pause=True)
            if led is None:  # unreachable: a flight was joined or made, or a pause found
                raise RuntimeError("token fetch has no flight")
            return self._lead(led, stale, reason=reason, force=force)
        finally:
            # An interrupt (KeyboardInterrupt, SystemExit) may land anywhere, even before the
            # fetch began: a flight made here is always settled, so no one waits on it.
            if led is not None and not led.settled:
                self._land(led, None, _INTERRUPTED, fetched=False)

    def _renew_in_background(self, due: Token) -> None:
        if self._flight is not None:  # a fetch already runs: keep using the due token
            return
        flight = None
        started = False
        try:
            with self._lock:
                if self._flight is not None or self.token is not due:
                    return
                if self._backoff.remaining() or exiting():
                    return
                flight = self._flight = _Flight(self._budget(), leader=_BACKGROUND)
            # Not a daemon, so that no thread is left running at exit: the interpreter waits
            # for it, and ends its exchange with the org first (see _transport).
            worker = threading.Thread(
                target=self._lead_in_background,
                args=(flight, due, due.renew_reason or "renewal due"),
                name="requests-sf-auth renewal",
                daemon=False,
            )
            worker.start()
            started = True
        except RuntimeError:  # the interpreter is shutting down: the due token will do
            pass
        finally:
            if flight is not None and not started:
                self._land(flight, None, _INTERRUPTED, fetched=False)

    def _lead_in_background(self, flight: _Flight, due: Token, reason: str) -> None:
        flight.leader = threading.get_ident()
        in_background()
        try:
            self._lead(flight, due, reason=reason, force=False)
        except Exception:  # noqa: S110 - logged by _lead and paused for; the due token stays
            pass
        finally:
            if not flight.settled:
                self._land(flight, None, _INTERRUPTED, fetched=False)

    def _lead(self, flight: _Flight, stale: Token | None, *, reason: str, force: bool) -> Token:
        try:
            token, fetched, notes = self._fetch_and_settle(flight, stale, force=force)
        except Exception as exc:
            log.info("token request to %s failed: %s", self._endpoint.url, exc)
            raise
        for level, message in notes:
            log.log(level, message)
        if fetched:
            log.info("received a token for %s (reason: %s)", token.instance_url, reason)
            self._notify(token)
        else:
            log.info("using the token in %r (reason: %s)", self._store, reason)
        return token

    def _fetch_and_settle(
        self, flight: _Flight, stale: Token | None, *, force: bool
    ) -> tuple[Token, bool, list[_Note]]:
        token: Token | None = None
        error: BaseException | None = None
        fetched = False
        try:
            token, fetched, notes = self._obtain(stale, force=force)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._land(flight, token, error, fetched=fetched)
        return token, fetched, notes

    def _obtain(self, stale: Token | None, *, force: bool) -> tuple[Token, bool, list[_Note]]:
        """A newly fetched token, or, with a store, the one another process already published
        in place of ``stale``. Returns it, whether it was fetched here, and what to log."""
        store = self._store
        if store is None:
            token, fetch_notes = self._fetch()
            return token, True, fetch_notes
        notes: list[_Note] = []
        # Marked before the lock is taken and until it is released: the store's own logging
        # (filelock's DEBUG lines) may reach a handler that calls the org.
        with _holding(self._record_identity()), self._store_lock(notes):
            if not force:
                shared = self._shared(notes)
                if (
                    shared is not None
                    and (stale is None or shared.authorization != stale.authorization)
                    and not shared.is_due()
                ):
                    return shared, False, notes
            token, fetch_notes = self._fetch()
            notes += fetch_notes
            try:
                store.save(self._key, sealed_record(token, self._endpoint), self._ttl(token))
            except Exception as exc:
                # A store that breaks its promise not to raise costs the sharing, never the
                # token just fetched.
                notes.append(
                    self._store_broke(exc, "publishing a token; it is used by this process only")
                )
        return token, True, notes

    @contextlib.contextmanager
    def _store_lock(self, notes: list[_Note]) -> Iterator[None]:
        """The store's lock on this client's record while the block runs. A store whose lock
        raises, taking or releasing it, breaks its promise not to: that costs the sharing and a
        note, never the request, and an error of the block itself goes on as it was."""
        store = self._store
        lock: contextlib.AbstractContextManager[object] | None = None
        try:
            if store is not None:
                lock = store.lock(self._key)
                lock.__enter__()
        except Exception as exc:
            lock = None
            notes.append(self._store_broke(exc, "taking its lock; this process goes on alone"))
        if lock is None:  # outside the handler: the block's errors must not chain to it
            yield
            return
        failed = True
        try:
            yield
            failed = False
        finally:
            try:
                lock.__exit__(*(sys.exc_info() if failed else (None, None, None)))
            except Exception as exc:
                notes.append(self._store_broke(exc, "releasing its lock"))

    def _store_broke(self, exc: Exception, doing: str) -> _Note:
        # Its message is not quoted: it may hold the record.
        return self._once(
            "store", f"token store {self._store!r} raised {type(exc).__name__} {doing}"
        )

    def _land(
        self,
        flight: _Flight,
        token: Token | None,
        error: BaseException | None,
        *,
        fetched: bool,
    ) -> None:
        with self._lock:
            if token is not None:
                self.token = token
                if fetched:
                    self._backoff.request_succeeded()
            elif isinstance(error, Exception) and not (flight.background and exiting()):
                self._backoff.request_failed(error)  # (a renewal cut short at exit is no failure)
            if self._flight is flight:
                self._flight = None
        flight.settle(token, error)

    def _record_identity(self) -> Hashable:
        record = self._record
        if record is None and self._store is not None:
            record = self._record = record_identity(self._store, self._key)
        return record

    def _budget(self) -> float:
        """How long a fetch may take at most: the token request, the introspection after it,
        and the store's lock, each with its own deadline."""
        exchanges = 2 if self._policy.introspect else 1
        lock_wait = getattr(self._store, "lock_timeout", 0.0) if self._store is not None else 0.0
        # A store of someone else's may say anything: a wait past LONGEST_WAIT would overflow
        # the timers of the threads that wait for this fetch.
        lock_wait = min(lock_wait, LONGEST_WAIT) if _is_wait(lock_wait) else 0.0
        return self._endpoint.deadline * exchanges + lock_wait + 1.0

    def _shared(self, notes: list[_Note]) -> Token | None:
        """The token the store holds, if it is one this client may use. A store, or a record
        in it, that trips up the reading costs the sharing and adds a note, never the request:
        the caller fetches a token of its own."""
        store = self._store
        if store is None:
            return None
        try:
            record = store.load(self._key)
            return token_from_record(record, self._endpoint) if record is not None else None
        except Exception as exc:
            notes.append(self._store_broke(exc, "reading a token; this process fetches its own"))
            return None

    def _ttl(self, token: Token) -> float | None:
        """How long a published token can be useful: until its expected death, if known."""
        if token.renew_at is None:
            return None
        return max(token.renew_at - time.monotonic() + self._policy.leeway, 1.0)

    def _fetch(self) -> tuple[Token, list[_Note]]:
        return self._schedule(request_token(self._endpoint, self._session()))

    def _schedule(self, token: Token) -> tuple[Token, list[_Note]]:
        """``token`` with its renewal moment set as the policy says, never at or before its
        arrival, and what to log about how that moment was chosen."""
        policy = self._policy
        if policy.lifetime is None and not policy.introspect:
            return token, []
        notes: list[_Note] = []
        received = token.received_at
        issued = token.issued_at  # Salesforce's clock; absent for some flows
        if issued is not None and abs(received - issued) > MAX_CLOCK_SKEW:
            notes.append(
                self._once(
                    "skew",
                    f"the local clock differs from Salesforce's by {received - issued:+.0f} s "
                    "(the token's issued_at); token renewals are scheduled from the local time "
                    "each token arrived",
                )
            )
            issued = None
        deadlines: list[tuple[float, str]] = []
        if policy.lifetime is not None:
            renew = policy.lifetime - policy.leeway
            # Whatever the clocks say, a fresh token lives at least half its renewal interval.
            start = max(issued if issued is not None else received, received - renew / 2)
            deadlines.append((start + renew, "lifetime"))
        if policy.introspect:
            deadline, note = self._introspected_deadline(token, issued)
            if deadline is not None:
                deadlines.append((deadline, "introspection"))
            if note is not None:
                notes.append(note)
        if not deadlines:
            return token, notes
        wall, reason = min(deadlines)
        renew_at = monotonic_from_wall(wall)
        return dataclasses.replace(token, renew_at=renew_at, renew_reason=reason), notes

    def _introspected_deadline(
        self, token: Token, issued: float | None
    ) -> tuple[float | None, _Note | None]:
        try:
            seen = introspect_token(self._endpoint, self._session(), token)
        except requests.RequestException as exc:
            # Advisory only: without an exp, a rejection still renews the token.
            return None, (logging.INFO, f"introspection failed, relying on 401s to renew: {exc}")
        now = time.time()
        # exp is on the org's clock: measure what is left from the org's own issue time.
        org_issued = issued if issued is not None else seen.iat
        elapsed = now - token.received_at
        left = seen.exp - (org_issued + elapsed) if org_issued is not None else seen.exp - now
        if left <= 0:
            return None, (
                logging.INFO,
                "introspection reported an exp already past; relying on 401s",
            )
        leeway = self._policy.leeway
        note = None
        if leeway > left * _LEEWAY_SHARE:
            leeway = left * _LEEWAY_SHARE
            note = self._once(
                "leeway",
                f"leeway ({self._policy.leeway:g} s) is more than half of the {left:.0f} s the "
                f"org gives its tokens; renewing {leeway:.0f} s before they end instead",
            )
        return now + left - leeway, note

    def _once(self, topic: str, message: str) -> _Note:
        """A warning the first time ``topic`` comes up, DEBUG after that."""
        if topic in self._warned:
            return logging.DEBUG, message
        self._warned.add(topic)
        return logging.WARNING, message

    def _notify(self, token: Token) -> None:
        callback = self._policy.on_token
        if callback is None:
            return
        try:
            callback(token.metadata())
        except Exception:
            log.warning("on_token callback raised; ignored", exc_info=True)

    def _session(self) -> requests.Session:
        if self._user_session is not None:
            return self._user_session
        session = self._private_session
        if session is None:
            session = requests.Session()
            adapter = DeadlineAdapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._private_session = session
        return session

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._flight = None
        # Pooled connections are shared with the parent; talking over them from two
        # processes would interleave bytes, so the child starts with its own pool.
        self._private_session = None

    # Pickling and deepcopy carry the configuration, never the token, the failure record or
    # the lock: a copy in another process starts afresh.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "endpoint": self._endpoint,
            "token_session": self._user_session,
            "policy": self._policy,
            "backoff": self._backoff.policy,
            "store": self._store,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(
            state["endpoint"],
            state["token_session"],
            state["policy"],
            state["backoff"],
            state["store"],
        )


def _reset_all_after_fork() -> None:
    for lifecycle in list(_LIVE):
        lifecycle._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
