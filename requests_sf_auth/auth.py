"""``SalesforceAuth``: the requests auth plugin that adds a Salesforce Bearer token to requests
for the org's hosts, and renews it once when Salesforce rejects it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase

from .arguments import (
    check_allowed_hosts,
    check_api_version,
    check_credential,
    check_scope,
    check_seconds,
    check_timeout,
)
from .lifecycle import RenewalPolicy, TokenLifecycle
from .replay import replay
from .stores import TokenStore
from .token import Timeout, Token, TokenEndpoint
from .urls import Origin, parse_domain

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_TIMEOUT", "SalesforceAuth"]

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "67.0"
DEFAULT_TIMEOUT: Timeout = (10.0, 30.0)
"""Token requests give up after 10 s connecting or 30 s waiting for the answer."""

_BULK_PATH = "/services/async/"
_BULK_HEADER = "X-SFDC-Session"


class SalesforceAuth(AuthBase):
    """Authenticates requests to one Salesforce org with the OAuth 2.0 client-credentials flow.

    Attach it as ``auth=`` to a request or a session. It fetches a token on the first request
    that needs one, reuses it until Salesforce rejects it with HTTP 401, then fetches one new
    token and sends the rejected request once more. Constructing it makes no network call.

    The ``Authorization: Bearer`` header goes only to the org's instance URL, to ``domain``
    and to ``allowed_hosts`` (each compared by scheme, host and port); requests to any other
    origin pass through untouched. One instance may be shared by any number of threads and
    sessions: concurrent requests that need a token cause a single token request.

    Requests to the Bulk API 1.0 (``/services/async/``) also get the ``X-SFDC-Session``
    header it requires, and its expired-session answer (400 ``InvalidSessionId``) is treated
    like a 401.

    Optional renewal before expiry (see :class:`~requests_sf_auth.lifecycle.RenewalPolicy`):
    ``token_lifetime`` (seconds or a ``timedelta``, the org's session timeout) and
    ``introspect=True`` renew a token ``leeway`` before it would die, so the 401 path is
    rarely needed. ``verify_signature=True`` rejects a token response whose ``signature`` is
    not ``base64(HMAC-SHA256(client_secret, id + issued_at))``. ``on_token`` is called with each
    new token's metadata, never the token. Used as a context manager, it closes its token
    session on exit and, with ``revoke_on_exit=True``, revokes the token first.

    ``token_store`` shares the token with other processes or machines (see
    :mod:`requests_sf_auth.stores`): only one of them fetches at a time, and a rejected token
    is replaced once for all of them.

    Raises ``ValueError`` at construction for an invalid argument. Requests raise
    :class:`~requests_sf_auth.TokenRequestError` when no token can be had, and the usual
    ``requests`` exceptions when the token endpoint cannot be reached.
    """

    def __init__(
        self,
        domain: str,
        client_id: str,
        client_secret: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        scope: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        allowed_hosts: Iterable[str] = (),
        token_session: requests.Session | None = None,
        token_lifetime: float | timedelta | None = None,
        leeway: float | timedelta = 60.0,
        introspect: bool = False,
        verify_signature: bool = False,
        revoke_on_exit: bool = False,
        on_token: Callable[[dict[str, Any]], object] | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        origin, token_url = parse_domain(domain)
        self.domain = origin.prefix
        """The org's My Domain URL, e.g. ``https://acme.my.salesforce.com``."""
        self.api_version = check_api_version(api_version)
        """The REST API version relative paths resolve under, e.g. ``"67.0"``."""
        self.allowed_origins = frozenset({origin, *check_allowed_hosts(allowed_hosts)})
        """Origins that always receive the token, besides the instance URL's."""
        if token_session is not None and not isinstance(token_session, requests.Session):
            raise ValueError(
                f"token_session must be a requests.Session, not {type(token_session).__name__}"
            )
        endpoint = TokenEndpoint(
            url=token_url,
            client_id=check_credential("client_id", client_id),
            client_secret=check_credential("client_secret", client_secret),
            scope=check_scope(scope),
            timeout=check_timeout(timeout),
            verify_signature=bool(verify_signature),
        )
        if on_token is not None and not callable(on_token):
            raise ValueError(f"on_token must be callable, not {type(on_token).__name__}")
        policy = RenewalPolicy(
            lifetime=check_seconds("token_lifetime", token_lifetime, allow_none=True),
            leeway=check_seconds("leeway", leeway, allow_zero=True) or 0.0,
            introspect=bool(introspect),
            on_token=on_token,
        )
        if policy.lifetime is not None and policy.leeway >= policy.lifetime:
            raise ValueError(
                f"leeway ({policy.leeway:g} s) must be shorter than token_lifetime "
                f"({policy.lifetime:g} s), or every request would renew the token"
            )
        self.revoke_on_exit = bool(revoke_on_exit)
        """Whether leaving a ``with`` block revokes the token."""
        if token_store is not None and not isinstance(token_store, TokenStore):
            raise ValueError(
                "token_store must provide load, save, delete and lock (see "
                "requests_sf_auth.stores.TokenStore), e.g. FileTokenStore(path)"
            )
        self._lifecycle = TokenLifecycle(endpoint, token_session, policy, token_store)

    @property
    def client_id(self) -> str:
        """The external client app's Consumer Key."""
        return self._lifecycle.endpoint.client_id

    @property
    def token_url(self) -> str:
        """Where tokens are requested: ``{domain}/services/oauth2/token``."""
        return self._lifecycle.endpoint.url

    @property
    def token(self) -> dict[str, Any] | None:
        """A copy of the current token response as Salesforce sent it, or ``None``.

        Reading it never fetches.
        """
        token = self._lifecycle.token
        return dict(token.response) if token is not None else None

    @property
    def instance_url(self) -> str:
        """The org's instance URL, fetching a token first if none is held."""
        return self._lifecycle.current().instance_url

    def fetch_token(self) -> dict[str, Any]:
        """Fetch a new token now, make it the current one, and return a copy of its response.

        If another thread is already fetching, this waits for that fetch instead of starting a
        second one.
        """
        return dict(self._lifecycle.fetch().response)

    def revoke(self) -> bool:
        """Revoke the current token at the org and forget it; the next request fetches a new
        one. Returns False when no token was held or it was already invalid, so revoking twice
        is harmless. Raises :class:`~requests_sf_auth.TokenRevocationError` (or a ``requests``
        exception) when the org cannot revoke it; the token is then kept."""
        return self._lifecycle.revoke()

    def close(self) -> None:
        """Release the connections of the private token session. The auth stays usable."""
        self._lifecycle.close()

    def __enter__(self) -> SalesforceAuth:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self.revoke_on_exit:
                try:
                    self.revoke()
                except requests.RequestException as error:
                    if exc is None:
                        raise
                    # Never mask the exception that is already leaving the block.
                    log.warning("could not revoke the token on exit: %s", error)
        finally:
            self.close()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = r.url or ""
        token = self._lifecycle.token
        # Fast path: a held token and a URL on its instance, the common case, costs one
        # string comparison and no parsing.
        if token is None or not url.startswith(token.instance_prefix):
            origin = Origin.of(url)
            if origin is None or not self._is_ours(origin, token):
                return r
            token = self._lifecycle.current()
            if not self._is_ours(origin, token):
                return r
        elif token.renew_at is not None and token.is_due():  # inline test: no call when unset
            token = self._lifecycle.current()
        r.headers["Authorization"] = token.authorization
        if _BULK_PATH in url and urlsplit(url).path.startswith(_BULK_PATH):
            r.headers[_BULK_HEADER] = token.access_token
        r.hooks["response"].append(self._renew_on_401)
        return r

    def _is_ours(self, origin: Origin, token: Token | None) -> bool:
        return origin in self.allowed_origins or (
            token is not None and origin == token.instance_origin
        )

    def _renew_on_401(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        status = r.status_code
        if status == 401:
            return self._renew_and_replay(r, kwargs)
        # Every response passes through here, so the common case returns at once.
        if status < 300 or _BULK_HEADER not in r.request.headers:
            return r
        if r.is_redirect:
            _drop_bulk_header_leaving_origin(r)
            return r
        if _is_bulk_session_failure(r):
            return self._renew_and_replay(r, kwargs)
        return r

    def _renew_and_replay(self, r: requests.Response, kwargs: dict[str, Any]) -> requests.Response:
        sent = r.request.headers.get("Authorization")
        origin = Origin.of(r.request.url or "")
        # requests strips Authorization on cross-origin redirects; a 401 from such a hop (or
        # from a request we never authorised) is not ours to answer.
        if not isinstance(sent, str) or not sent.startswith("Bearer ") or origin is None:
            return r
        if not self._is_ours(origin, self._lifecycle.token):
            return r
        log.info(
            "token rejected with HTTP %s for %s %s; renewing it",
            r.status_code,
            r.request.method,
            urlsplit(r.request.url).path,
        )
        try:
            token = self._lifecycle.replace(sent, reason=f"rejected with HTTP {r.status_code}")
        except BaseException:
            r.close()
            raise
        if not self._is_ours(origin, token):
            return r
        headers = {"Authorization": token.authorization}
        if _BULK_HEADER in r.request.headers:
            headers[_BULK_HEADER] = token.access_token
        retried = replay(r, headers, kwargs)
        if retried is None:
            log.info(
                "not resending %s %s: its body cannot be rewound; the next request uses the "
                "new token",
                r.request.method,
                urlsplit(r.request.url).path,
            )
            return r
        return retried

    def __repr__(self) -> str:
        held = "held" if self._lifecycle.token is not None else "none"
        return (
            f"SalesforceAuth(domain={self.domain!r}, client_id={self.client_id!r}, "
            f"api_version={self.api_version!r}, token={held})"
        )


def _is_bulk_session_failure(r: requests.Response) -> bool:
    """Bulk API 1.0 reports a dead session as 400 with ``InvalidSessionId`` in the body."""
    return r.status_code == 400 and b"InvalidSessionId" in r.content


def _drop_bulk_header_leaving_origin(r: requests.Response) -> None:
    # requests strips Authorization on a redirect to another origin, but knows nothing of
    # X-SFDC-Session. The next hop is copied from this request, so removing the header here
    # keeps the token from following the redirect.
    target = Origin.of(urljoin(r.url, r.headers.get("location", "")))
    if target != Origin.of(r.request.url or ""):
        del r.request.headers[_BULK_HEADER]
