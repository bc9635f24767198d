"""How often the plugin may ask for a token after things went wrong: the cost of a failure grows
with time, never with traffic.

Salesforce blocks a run-as user after about 3,600 logins an hour, and every integration that
shares the user goes down with it. So a failed token request, and a fresh token that the API
refuses, each open a pause that doubles with every further failure, up to a maximum; a login
rate limit opens the longest pause at once. During a pause no token is requested for a request:
one that has no token fails fast with the last error, and a rejected one gets its 401 back.

A token the API accepted and then rejects has expired, which a real org does at most every
quarter of an hour or when someone revokes it. Every renewal after a rejection, an expiry's or a
refusal's, draws on an allowance of :data:`RENEWAL_BURST` that earns one back a minute: an API
that answers 401 to live tokens now and then, or an org that ends every session at once, would
otherwise cost one login per 401.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import requests

from ._errors import SalesforceAuthError, TokenRequestError
from ._transport import fresh_copy

__all__ = [
    "DEFAULT_TOKEN_BACKOFF",
    "LONGEST_WAIT",
    "RENEWAL_BURST",
    "Backoff",
    "BackoffPolicy",
    "seconds",
    "shown_value",
]

DEFAULT_TOKEN_BACKOFF = (1.0, 60.0)
"""One second after the first failure, doubling to a minute: under a permanent failure, 6 token
requests in the first minute (7 when the API refuses every token) and one a minute after that,
far below Salesforce's 3,600 an hour, while a passing fault costs a caller about a second."""

RENEWAL_BURST = 20
"""How many renewals after a rejection may follow each other without waiting. One more is
earned back every :data:`RENEWAL_REFILL` seconds, or every ``token_backoff`` maximum when that
is shorter: tokens the API keeps rejecting cost at most 20 logins, then 60 an hour, while the
expiries of a real org, a quarter of an hour apart at the least, never wait."""

RENEWAL_REFILL = 60.0

_RATE_LIMITED = frozenset({("invalid_grant", "login rate exceeded"), ("rate_limit_exceeded", None)})


LONGEST_WAIT = 86400.0
"""The longest that a token request's connect or read timeout, a store's ``lock_timeout`` and
the ``token_backoff`` maximum may be: a day, far beyond any answer worth waiting for. The
timeouts add up to a fetch's deadline, and Python's timers and sockets raise
``OverflowError`` past about 292 years (49 days on Windows), which an unbounded value would
make every request raise; a pause's ``retry_after`` is a wait for the caller's own
``time.sleep()``, which overflows alike."""


def seconds(
    name: str, value: object, *, allow_zero: bool = False, longest: float | None = None
) -> float:
    """``value`` (a number or a ``timedelta``) as a finite number of seconds, positive unless
    ``allow_zero``, and at most ``longest`` when given. Raises ``ValueError`` naming ``name``
    otherwise."""
    number = _as_float(value.total_seconds() if isinstance(value, timedelta) else value)
    if not (math.isfinite(number) and (number > 0 or (allow_zero and number == 0))):
        raise ValueError(
            f"{name} must be a positive number of seconds or a timedelta, not {shown_value(value)}"
        )
    if longest is not None and number > longest:
        raise ValueError(f"{name} must be at most {longest:g} seconds, not {shown_value(value)}")
    return number


def _as_float(value: object) -> float:
    """``value`` as a float: NaN for what is not a number (a bool included), infinity for an
    int too large for a float (``float()`` would raise ``OverflowError``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def shown_value(value: object) -> str:
    """``value`` for a message: its repr, but not the thousands of digits of a huge int (whose
    repr raises ``ValueError`` past 4,300 of them)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    return repr(value)


@dataclass(frozen=True)
class BackoffPolicy:
    """``initial`` seconds of pause after the first failure, doubling up to ``maximum``."""

    initial: float
    maximum: float

    def __post_init__(self) -> None:
        seconds("token_backoff initial", self.initial)
        seconds("token_backoff maximum", self.maximum, longest=LONGEST_WAIT)
        if self.initial > self.maximum:
            raise ValueError(
                f"token_backoff initial ({self.initial:g} s) must not exceed its maximum "
                f"({self.maximum:g} s)"
            )

    @classmethod
    def parse(cls, value: object) -> BackoffPolicy:
        """From the ``token_backoff=(initial, maximum)`` argument; raises ``ValueError``."""
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(
                f"token_backoff must be an (initial, maximum) pair of seconds, such as "
                f"{DEFAULT_TOKEN_BACKOFF}, not {value!r}"
            )
        return cls(
            seconds("token_backoff initial", value[0]), seconds("token_backoff maximum", value[1])
        )

    def pause(self, failures: int) -> float:
        """The pause after ``failures`` consecutive failures (at least 1)."""
        return min(self.initial * 2.0 ** min(failures - 1, 64), self.maximum)


class Backoff:
    """The failure record of one token lifecycle, and the decisions that follow from it.

    Not thread-safe by itself: :class:`~requests_sf_auth._lifecycle.TokenLifecycle` calls it
    under its own lock. ``clock`` is ``time.monotonic`` unless a benchmark replaces it.
    """

    def __init__(self, policy: BackoffPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.failures = 0
        """Consecutive failures: failed token requests and refused tokens alike."""
        self.refusals = 0
        """Consecutive tokens the API refused, ended only by a resend that the API accepts."""
        self.resume_at = 0.0
        """The ``clock`` moment before which no token is requested for a request."""
        self.last_error: BaseException | None = None
        self._counted: object = None
        self.allowance = float(RENEWAL_BURST)
        """Renewals after a rejection that may go ahead now (see :data:`RENEWAL_BURST`)."""
        self.allowance_spent = False
        """Whether the last :meth:`may_renew_after_rejection` said no for want of allowance."""
        self._allowance_at = clock()
        self._renewed: object = None

    def remaining(self) -> float:
        """Seconds left in the current pause; 0 when token requests may go ahead."""
        return max(self.resume_at - self.clock(), 0.0)

    def request_failed(self, error: BaseException) -> None:
        """A token request failed: pause, and longest at once for a login rate limit."""
        self.failures += 1
        self.last_error = error
        pause = self.policy.maximum if _is_rate_limit(error) else self.policy.pause(self.failures)
        self.resume_at = self.clock() + pause

    def request_succeeded(self) -> None:
        """A token arrived. That ends an outage's pause, but not a refusal streak: a token the
        API goes on refusing must not buy a fresh login every time the endpoint answers."""
        if self.refusals == 0:
            self.failures = 0
            self.resume_at = 0.0
        self.last_error = None

    def resend_accepted(self) -> None:
        """A request resent with a new token was accepted: whatever failed is over."""
        self.failures = self.refusals = 0
        self.resume_at = 0.0
        self.last_error = None
        self._counted = None

    def may_renew_after_rejection(self, token: object, *, was_accepted: bool) -> bool:
        """Whether the API's rejection of ``token`` may be answered with a new token now.

        A token that had been accepted and is then rejected has expired, and is renewed at
        once. A token rejected before it was ever accepted is refused; the first refusal gets
        one renewal, and every further refused token is a failure that opens a pause. Either
        renewal spends one of the allowance (see :data:`RENEWAL_BURST`); without it, the
        rejection is given back (:attr:`allowance_spent`). A token is decided on once, however
        many requests it is rejected on.
        """
        self.allowance_spent = False
        if self.remaining() > 0:
            return False
        if token is self._renewed:
            return True  # another request's rejection of it already bought the renewal
        if token is self._counted:
            renew = True  # its pause is over: one renewal
        elif was_accepted and self.refusals == 0:
            renew = True
        else:
            self._counted = token
            self.refusals += 1
            renew = self.refusals == 1
            if not renew:
                self.failures += 1
                self.resume_at = self.clock() + self.policy.pause(self.failures)
                # An accepted token rejected during a refusal streak may have simply expired:
                # renew it now, and let the pause guard the next one.
                renew = was_accepted
        return renew and self._spend_allowance(token)

    def _spend_allowance(self, token: object) -> bool:
        self._refill()
        if self.allowance < 1.0:
            self.allowance_spent = True
            return False
        self.allowance -= 1.0
        self._renewed = token
        return True

    def allowance_wait(self) -> float:
        """Seconds until the allowance holds the next renewal after a rejection; 0 if now."""
        self._refill()
        return max(1.0 - self.allowance, 0.0) * self._refill_every()

    def _refill(self) -> None:
        now = self.clock()
        earned = max(now - self._allowance_at, 0.0) / self._refill_every()  # a clock swapped in
        self.allowance = min(self.allowance + earned, float(RENEWAL_BURST))
        self._allowance_at = now

    def _refill_every(self) -> float:
        return min(self.policy.maximum, RENEWAL_REFILL)

    def paused_error(self) -> requests.RequestException:
        """The error for a request that needs a token during a pause: the last failure again,
        saying when the next attempt will be, with no request or traceback of the original
        (the token request's body holds the client secret)."""
        wait = self.remaining()
        note = (
            f"token requests paused after {self.failures} consecutive "
            f"failure{'s' if self.failures != 1 else ''}; the next attempt is in {wait:.1f} s "
            "(token_backoff)"
        )
        last = self.last_error
        if last is None:
            return TokenRequestError(
                f"Salesforce refused {self.refusals} fresh tokens in a row; {note}",
                retry_after=wait,
            )
        return retry_later(last, note, wait)


def retry_later(error: BaseException, note: str, wait: float | None) -> requests.RequestException:
    """A fresh exception of ``error``'s kind carrying ``note``: safe to raise in any thread,
    and free of the original's request, response and traceback."""
    if isinstance(error, TokenRequestError):
        return error.again(note, retry_after=wait)
    if isinstance(error, requests.RequestException):
        copy = fresh_copy(error, f"{error}; {note}")
    else:
        copy = SalesforceAuthError(f"the token request failed ({type(error).__name__}); {note}")
    copy.retry_after = wait  # type: ignore[attr-defined]
    return copy


def _is_rate_limit(error: BaseException) -> bool:
    if not isinstance(error, TokenRequestError):
        return False
    if error.status_code == 429:
        return True
    description = (error.error_description or "").strip().lower()
    return (error.error, description) in _RATE_LIMITED or (error.error, None) in _RATE_LIMITED
