"""The keyword arguments :meth:`LocalOrg.auth` passes on to ``SalesforceAuth``, typed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

import requests

if TYPE_CHECKING:
    from .._stores import TokenStore

__all__ = ["AuthOptions"]


class AuthOptions(TypedDict, total=False):
    """Every keyword-only argument of :class:`~requests_sf_auth.SalesforceAuth`, with its
    type; ``tests/test_local_org.py`` keeps the two in step."""

    api_version: str
    scope: str | Iterable[str] | None
    timeout: float | tuple[float, float]
    allowed_hosts: Iterable[str]
    token_session: requests.Session | None
    token_lifetime: float | timedelta | None
    leeway: float | timedelta
    introspect: bool
    token_backoff: tuple[float, float]
    verify_signature: bool
    revoke_on_exit: bool
    on_token: Callable[[dict[str, Any]], object] | None
    token_store: TokenStore | None
