"""``ApiUsage``: the org's API calls in the rolling 24 hours, as its answers report them.

Every REST answer carries ``Sforce-Limit-Info: api-usage=USED/LIMIT`` (see
``../shared/SALESFORCE.md``). :class:`UsageMeter` keeps the last value seen. Every answer
hands its headers in, which costs one attribute assignment: even looking the header up, a
Python call into requests' case-insensitive mapping, measurably slowed a loopback request.
Reading the header and parsing it wait for a reader, or for a second to pass.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LIMIT_INFO_HEADER", "WARN_AT", "ApiUsage", "UsageMeter"]

log = logging.getLogger("requests_sf_auth")

LIMIT_INFO_HEADER = "Sforce-Limit-Info"
WARN_AT = 0.9
"""The share of the daily limit past which one warning is logged, and again after a dip below."""

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
    ``Sforce-Limit-Info`` header is read and parsed when :attr:`usage` is read, and at most
    once a second as answers come in, which is when a crossing of :data:`WARN_AT` is noticed
    and warned about. So :attr:`usage` is exact when the newest answer carried the header, as
    every REST answer does; after one that did not, it is the value the last parse found, at
    most a second older than the answers before it. Thread-safe without a lock: each
    attribute is replaced whole, and a parse is idempotent.
    """

    def __init__(self) -> None:
        self._headers: Mapping[str, str] | None = None
        self._parsed: tuple[str | None, ApiUsage | None] = (None, None)
        self._next_parse = 0.0

    @property
    def usage(self) -> ApiUsage | None:
        return self._parse()

    def note(self, headers: Mapping[str, str]) -> None:
        """Take in the headers of an answer from the org."""
        self._headers = headers
        if time.monotonic() >= self._next_parse:
            self._next_parse = time.monotonic() + 1.0
            self._parse()

    def __getstate__(self) -> dict[str, object]:
        # A pickle or deepcopy carries the reading, not the last answer's headers.
        self._parse()
        return {**self.__dict__, "_headers": None}

    def _parse(self) -> ApiUsage | None:
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
        if usage.fraction >= WARN_AT and (before is None or before.fraction < WARN_AT):
            log.warning(
                "the org has used %d of its %d daily API calls (%.0f%%); requests fail once "
                "the limit is reached",
                usage.used,
                usage.limit,
                usage.fraction * 100,
            )
        return usage
