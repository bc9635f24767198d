"""``ApiUsage``: the org's API calls in the rolling 24 hours, as its answers report them.

Every REST answer carries ``Sforce-Limit-Info: api-usage=USED/LIMIT`` (see
``../shared/SALESFORCE.md``). :class:`UsageMeter` keeps the last value seen. Every answer
hands its headers in, which costs one attribute assignment: even looking the header up, a
Python call into requests' case-insensitive mapping, measurably slowed a loopback request.
Reading the header and parsing it wait for a reader, or for a second to pass; near the limit,
every answer is parsed, so that the one that crosses it warns.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LIMIT_INFO_HEADER", "REARM_BELOW", "WARN_AT", "ApiUsage", "UsageMeter"]

log = logging.getLogger("requests_sf_auth")

LIMIT_INFO_HEADER = "Sforce-Limit-Info"
WARN_AT = 0.9
"""The share of the daily limit past which one warning is logged."""
REARM_BELOW = 0.8
"""The share the usage must fall below before a later crossing of :data:`WARN_AT` warns again.
A dip of ten points is a day's calls ageing out, not answers landing out of order across
threads, unless a tenth of the limit is in flight at once."""

# Bounded digits: a header is the server's text, and int() of thousands of digits raises.
_API_USAGE = re.compile(r"(?:^|[\s,;])api-usage=(\d{1,18})/(\d{1,18})(?!\d)")


@dataclass(frozen=True)
class ApiUsage:
    """The org's API calls in the rolling 24 hours (``used``) against its limit (``limit``),
    as of the last answer that reported them. Immutable, so threads can share it."""

    used: int
    limit: int

    @property
    def fraction(self) -> float:
        """``used / limit``; 1.0 or more once the limit is reached (0 limit: 1.0)."""
        return self.used / self.limit if self.limit else 1.0


class UsageMeter:
    """The last :class:`ApiUsage` an org's answers reported.

    Every answer hands in its headers, which are only kept: one attribute assignment. The
    ``Sforce-Limit-Info`` header is read and parsed when :attr:`usage` is read, and as answers
    come in: at most once a second while usage is below :data:`REARM_BELOW`, and on every
    answer from there on, so that the answer that crosses :data:`WARN_AT` is the one that
    warns, whether or not anyone reads :attr:`usage`. A crossing within the same second as a
    reading below :data:`REARM_BELOW`, a tenth of the org's daily calls in one second, is
    warned about at the next parse, and not at all if only answers without the header follow
    and nobody reads :attr:`usage`.

    So :attr:`usage` is exact when the newest answer carried the header, as every REST answer
    does; after one that did not, it is the value the last parse found. With answers coming
    in on several threads, the one handed in last wins, which need not be the newest.

    Thread-safe: answers hand in their headers without a lock; a parse and its warning
    decision hold one, so one crossing warns once while fewer than a tenth of the limit's
    calls are in flight at once.
    """

    def __init__(self) -> None:
        self._headers: Mapping[str, str] | None = None
        self._parsed: tuple[str | None, ApiUsage | None] = (None, None)
        self._warned = False
        self._next_parse = 0.0
        self._lock = threading.Lock()

    @property
    def usage(self) -> ApiUsage | None:
        return self._parse()

    def note(self, headers: Mapping[str, str]) -> None:
        """Take in the headers of an answer from the org."""
        self._headers = headers
        if time.monotonic() >= self._next_parse:
            usage = self._parse()
            near = usage is not None and usage.fraction >= REARM_BELOW
            self._next_parse = 0.0 if near else time.monotonic() + 1.0

    def __getstate__(self) -> dict[str, object]:
        # A pickle or deepcopy carries the reading, not the last answer's headers, the lock,
        # or a time on this machine's monotonic clock, which means nothing on another.
        self._parse()
        state = dict(self.__dict__, _headers=None, _next_parse=0.0)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _parse(self) -> ApiUsage | None:
        with self._lock:
            headers = self._headers
            header = headers.get(LIMIT_INFO_HEADER) if headers is not None else None
            parsed_header, before = self._parsed
            if header is None or header == parsed_header:  # none: the last value stands
                return before
            found = _API_USAGE.search(header)
            if found is None:  # garbage: the last good value stands
                return before
            usage = ApiUsage(int(found.group(1)), int(found.group(2)))
            self._parsed = (header, usage)
            warn = usage.fraction >= WARN_AT and not self._warned
            if warn or usage.fraction < REARM_BELOW:
                self._warned = warn
        if warn:  # after the lock: a log handler may call the org, and so come back here
            log.warning(
                "the org has used %d of its %d daily API calls (%.0f%%); requests fail once "
                "the limit is reached",
                usage.used,
                usage.limit,
                usage.fraction * 100,
            )
        return usage
