"""``ApiUsage``: the org's API calls in the rolling 24 hours, as its answers report them.

Every REST answer carries ``Sforce-Limit-Info: api-usage=USED/LIMIT`` (see
``../shared/SALESFORCE.md``). :class:`UsageMeter` keeps the last value seen. Every answer
hands its header in, so that costs one attribute assignment; parsing waits for a reader, or
for a second to pass.
"""

from __future__ import annotations

import logging
import re
import time
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

    Every answer hands in its header text, which is only stored: one attribute assignment.
    The text is parsed when :attr:`usage` is read, and at most once a second as answers come
    in, which is when a crossing of :data:`WARN_AT` is noticed and warned about. Thread-safe
    without a lock: each attribute is replaced whole, and a parse is idempotent.
    """

    def __init__(self) -> None:
        self._header: str | None = None
        self._parsed: tuple[str | None, ApiUsage | None] = (None, None)
        self._next_parse = 0.0

    @property
    def usage(self) -> ApiUsage | None:
        return self._parse()

    def note(self, header: str) -> None:
        """Take in an answer's ``Sforce-Limit-Info`` value."""
        self._header = header
        if time.monotonic() >= self._next_parse:
            self._next_parse = time.monotonic() + 1.0
            self._parse()

    def _parse(self) -> ApiUsage | None:
        header = self._header
        parsed_header, before = self._parsed
        if header == parsed_header:
            return before
        found = _API_USAGE.search(header) if header is not None else None
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
