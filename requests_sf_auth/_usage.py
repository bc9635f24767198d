"""``ApiUsage``: the org's API calls in the rolling 24 hours, as its answers report them.

Every REST answer carries ``Sforce-Limit-Info: api-usage=USED/LIMIT`` (see
``../shared/SALESFORCE.md``). :class:`UsageMeter` keeps the last value seen. It is read on
every answer, so the common case, the same header text as last time, costs one string
comparison; a new text is parsed once.
"""

from __future__ import annotations

import logging
import re
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
    """The last :class:`ApiUsage` an org's answers reported. Thread-safe without a lock: each
    update replaces one attribute holding the header text and its value together."""

    def __init__(self) -> None:
        self._last: tuple[str, ApiUsage | None] = ("", None)

    @property
    def usage(self) -> ApiUsage | None:
        return self._last[1]

    def note(self, header: str | None) -> None:
        """Take in an answer's ``Sforce-Limit-Info`` value (``None`` when it had none)."""
        if header is None or header == self._last[0]:
            return
        found = _API_USAGE.search(header)
        if found is None:
            return
        before = self._last[1]
        usage = ApiUsage(int(found.group(1)), int(found.group(2)))
        self._last = (header, usage)
        if usage.fraction >= WARN_AT and (before is None or before.fraction < WARN_AT):
            log.warning(
                "the org has used %d of its %d daily API calls (%.0f%%); requests fail once "
                "the limit is reached",
                usage.used,
                usage.limit,
                usage.fraction * 100,
            )
