"""Checking ``SalesforceAuth``'s arguments. Each check returns the normalised value or raises
``ValueError`` naming the argument and how to fix it, so that a bad configuration fails at
construction, before any request is made."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from .token import Timeout
from .urls import Origin, require_safe_origin

__all__ = [
    "check_allowed_hosts",
    "check_api_version",
    "check_credential",
    "check_scope",
    "check_seconds",
    "check_timeout",
]

_API_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?")


def _seconds(value: object) -> float | None:
    """``value`` as a finite, non-negative number of seconds, or None if it is not one."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) if value >= 0 else None
    return None


def check_seconds(
    name: str, value: object, *, allow_none: bool = False, allow_zero: bool = False
) -> float | None:
    """A duration such as ``token_lifetime`` or ``leeway``: seconds or a ``timedelta``."""
    if value is None and allow_none:
        return None
    seconds = _seconds(value)
    if seconds is not None and (seconds > 0 or allow_zero):
        return seconds
    raise ValueError(f"{name} must be a positive number of seconds or a timedelta, not {value!r}")


def check_credential(name: str, value: object) -> str:
    """``client_id`` or ``client_secret``: a non-empty string, not padded by a bad paste."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{name} must be a non-empty string: the external client app's "
            f"{'Consumer Key' if name == 'client_id' else 'Consumer Secret'}"
        )
    if value != value.strip():
        raise ValueError(f"{name} has leading or trailing white space; copy it again")
    return value


def check_api_version(value: object) -> str:
    """``"67.0"``, ``"v67.0"`` or ``"67"``, normalised to ``"67.0"``."""
    match = _API_VERSION.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"api_version {value!r} is not a version like '67.0'")
    return f"{match.group(1)}.{match.group(2) or '0'}"


def check_scope(scope: object) -> str | None:
    """A space-separated scope string, from a string or a list of strings."""
    if scope is None:
        return None
    if isinstance(scope, str):
        return scope
    if isinstance(scope, Iterable) and all(isinstance(s, str) for s in scope):
        return " ".join(scope)
    raise ValueError(f"scope must be a string like 'api' or a list of strings, not {scope!r}")


def check_timeout(timeout: object) -> Timeout:
    """The token request's timeout: positive seconds, or a (connect, read) pair of them."""
    if not isinstance(timeout, timedelta):
        single = _seconds(timeout)
        if single:
            return single
    if isinstance(timeout, tuple) and len(timeout) == 2:
        connect, read = (_seconds(t) for t in timeout)
        if connect and read:
            return (connect, read)
    raise ValueError(
        f"timeout must be a positive, finite number of seconds or a (connect, read) pair, "
        f"not {timeout!r}: a token request without a timeout can hang forever"
    )


def check_allowed_hosts(hosts: Iterable[str]) -> list[Origin]:
    """Host names (https on 443 is assumed) or ``scheme://host[:port]`` origins; a single
    string is taken as one host."""
    if isinstance(hosts, str):
        hosts = [hosts]
    origins = []
    for host in hosts:
        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"allowed_hosts entries must be host names or URLs, not {host!r}")
        text = host.strip() if "://" in host else "https://" + host.strip()
        origin = require_safe_origin(text, "allowed_hosts entry")
        if urlsplit(text).path not in ("", "/"):
            raise ValueError(
                f"allowed_hosts entry {host!r} has a path; give a host or scheme://host:port"
            )
        origins.append(origin)
    return origins
