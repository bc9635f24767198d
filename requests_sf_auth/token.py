"""One token request: build it with oauthlib, send it, and turn the answer into a :class:`Token`
or a :class:`~requests_sf_auth.errors.TokenRequestError`.

This module knows nothing about caching, threads or retries; :mod:`requests_sf_auth.lifecycle`
decides when to call :func:`request_token`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from oauthlib.oauth2 import BackendApplicationClient, MissingTokenError, OAuth2Error

from .errors import TokenRequestError, TokenRevocationError, hint_for
from .urls import Origin, require_safe_origin

__all__ = [
    "SECRET_FIELDS",
    "Timeout",
    "Token",
    "TokenEndpoint",
    "expected_signature",
    "introspect_token",
    "monotonic_from_wall",
    "redact",
    "request_token",
    "revoke_token",
    "token_from_record",
    "wall_from_monotonic",
]

log = logging.getLogger(__name__)

Timeout = float | tuple[float, float]
"""What requests accepts as ``timeout=``: one number, or (connect, read) in seconds."""

SECRET_FIELDS = frozenset({"access_token", "signature", "refresh_token", "id_token"})
"""Token-response fields that are credentials, or derived from one, and never shown."""

_SNIPPET_CHARS = 200
_SECRET_VALUE = re.compile(
    r"""(["']?(?:FIELDS)["']?\s*[:=]\s*)("[^"]*"?|[^\s,&}]*)""".replace(
        "FIELDS", "|".join(sorted({*SECRET_FIELDS, "client_secret"}))
    ),
    re.IGNORECASE,
)


def monotonic_from_wall(wall: float) -> float:
    """The ``time.monotonic()`` moment of epoch time ``wall``. Deadlines are kept on the
    monotonic clock so a wall-clock jump cannot stall or storm renewals."""
    return time.monotonic() + (wall - time.time())


def wall_from_monotonic(moment: float) -> float:
    """The epoch time of ``time.monotonic()`` moment ``moment``, for sharing across processes."""
    return time.time() + (moment - time.monotonic())


def redact(text: str, *secrets: str) -> str:
    """``text`` with each of ``secrets`` (as is, and as it looks form- or URL-encoded) and the
    value of any secret-named field masked as ``***``, for quoting server answers in messages."""
    for secret in secrets:
        if secret:
            for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                text = text.replace(form, "***")
    return _SECRET_VALUE.sub(r"\1***", text)


@dataclass(frozen=True, repr=False)
class Token:
    """An access token as Salesforce issued it. Immutable, so threads can share it freely.

    ``response`` is the token response exactly as Salesforce sent it. ``authorization`` is the
    ready ``Bearer`` header value and ``instance_prefix`` the ``scheme://host[:port]/`` that
    URLs on the instance start with; both are precomputed because every request needs them.
    ``received_at`` is this machine's ``time.time()`` when the answer arrived. ``renew_at``,
    when set, is the ``time.monotonic()`` moment after which the token is renewed before use,
    and ``renew_reason`` says why (``"lifetime"`` or ``"introspection"``).
    """

    access_token: str
    instance_url: str
    instance_origin: Origin
    response: Mapping[str, Any]
    received_at: float
    authorization: str = field(init=False)
    instance_prefix: str = field(init=False)
    renew_at: float | None = None
    renew_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "authorization", f"Bearer {self.access_token}")
        object.__setattr__(self, "instance_prefix", self.instance_origin.prefix + "/")

    @property
    def issued_at(self) -> float | None:
        """Salesforce's ``issued_at`` in epoch seconds, or ``None`` when absent or malformed."""
        raw = self.response.get("issued_at")
        try:
            return int(str(raw)) / 1000.0
        except ValueError:
            return None

    def is_due(self) -> bool:
        """True once the renewal moment has passed; never for a token without one."""
        return self.renew_at is not None and time.monotonic() >= self.renew_at

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe copy for a token store: the response, when it arrived, and when it is
        due for renewal (as epoch seconds, since the monotonic clock is per process)."""
        renew_after = None if self.renew_at is None else wall_from_monotonic(self.renew_at)
        return {
            "response": dict(self.response),
            "received_at": self.received_at,
            "renew_after": renew_after,
            "renew_reason": self.renew_reason,
        }

    def metadata(self) -> dict[str, Any]:
        """The response without its credential fields: safe to log, print or hand to callbacks."""
        return {k: v for k, v in self.response.items() if k not in SECRET_FIELDS}

    def __repr__(self) -> str:
        return f"<Token for {self.instance_url} issued_at={self.response.get('issued_at')!r}>"


@dataclass(frozen=True, repr=False)
class TokenEndpoint:
    """Where and how to ask for a token. Holds the client secret; its repr never shows it."""

    url: str
    client_id: str
    client_secret: str
    scope: str | None
    timeout: Timeout
    verify_signature: bool = False

    @property
    def introspect_url(self) -> str:
        return self.url.removesuffix("/token") + "/introspect"

    @property
    def revoke_url(self) -> str:
        return self.url.removesuffix("/token") + "/revoke"

    def __repr__(self) -> str:
        return f"<TokenEndpoint {self.url} client_id={self.client_id!r}>"


def expected_signature(client_secret: str, identity: str, issued_at: str) -> str:
    """``base64(HMAC-SHA256(client_secret, id + issued_at))``: the documented recipe for the
    token response's ``signature`` (not confirmed by Salesforce for this flow)."""
    digest = hmac.new(
        client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    # Passed as auth= so that a session-wide auth on a user's token_session, possibly this
    # very plugin, is never applied to the token request itself.
    return r


def request_token(endpoint: TokenEndpoint, session: requests.Session) -> Token:
    """POST the client-credentials grant to ``endpoint`` through ``session`` and parse the answer.

    Raises :class:`TokenRequestError` for any answer that is not a usable token, and lets
    ``requests`` exceptions (timeouts, refused connections, TLS failures) propagate unchanged.
    Redirects are not followed: a 307 would carry the secret to wherever it points.

    TLS is verified as ``session.verify`` says. When that is left at its default (``True``),
    ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` apply as usual; a CA bundle set on the session
    explicitly wins over them, unlike in plain requests, where the environment overrides it.
    """
    client = BackendApplicationClient(client_id=endpoint.client_id)
    body = client.prepare_request_body(
        include_client_id=True, client_secret=endpoint.client_secret, scope=endpoint.scope
    )
    response = _post_form(session, endpoint.url, body, endpoint.timeout)
    try:
        return _parse(response, client, endpoint)
    finally:
        response.close()


def _post_form(
    session: requests.Session, url: str, body: str | dict[str, str], timeout: Timeout
) -> requests.Response:
    return session.post(
        url,
        data=body,
        headers={
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=timeout,
        verify=None if session.verify is True else session.verify,
        allow_redirects=False,
        auth=_no_auth,
    )


def introspect_token(endpoint: TokenEndpoint, session: requests.Session, token: Token) -> float:
    """Ask the org when ``token`` expires; returns ``exp`` in epoch seconds.

    Raises :class:`TokenRequestError` when the answer is not an active token with an ``exp``
    (``{"active": false}`` included), and ``requests`` exceptions when the org is unreachable.
    """
    form = {
        "token": token.access_token,
        "token_type_hint": "access_token",
        "client_id": endpoint.client_id,
        "client_secret": endpoint.client_secret,
    }
    with _post_form(session, endpoint.introspect_url, form, endpoint.timeout) as response:
        payload = _json_object(response.text) if response.status_code == 200 else None
    if payload is None:
        raise TokenRequestError(
            f"introspection at {endpoint.introspect_url} answered HTTP {response.status_code}",
            status_code=response.status_code,
        )
    exp = payload.get("exp")
    if payload.get("active") is not True or not isinstance(exp, (int, float)):
        raise TokenRequestError(
            f"introspection at {endpoint.introspect_url} reported no expiry "
            f"(active={payload.get('active')!r})",
            status_code=response.status_code,
        )
    return float(exp)


def revoke_token(endpoint: TokenEndpoint, session: requests.Session, token: Token) -> bool:
    """Revoke ``token`` at the org. Returns True when revoked, False when the org says it was
    no longer valid (``invalid_token``); raises :class:`TokenRevocationError` otherwise, and
    ``requests`` exceptions when the org is unreachable."""
    form = {"token": token.access_token}
    with _post_form(session, endpoint.revoke_url, form, endpoint.timeout) as response:
        status, text = response.status_code, response.text
    if status == 200:
        return True
    payload = _json_object(text) or {}
    error = payload.get("error")
    if status == 400 and error == "invalid_token":
        return False
    raise TokenRevocationError(
        f"revocation at {endpoint.revoke_url} failed with HTTP {status}: "
        f"{error or 'no OAuth error'}: {payload.get('error_description') or '(no description)'}",
        error=error if isinstance(error, str) else None,
        status_code=status,
    )


def _parse(
    response: requests.Response, client: BackendApplicationClient, endpoint: TokenEndpoint
) -> Token:
    status = response.status_code
    if 300 <= status < 400:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} redirected (HTTP {status}) instead of answering; "
            "use the org's My Domain URL exactly",
            status_code=status,
        )
    text = response.text
    payload = _json_object(text)
    if payload is None:
        raise _unexpected(status, text, endpoint)
    try:
        client.parse_request_body_response(text, scope=endpoint.scope)
    except MissingTokenError:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered HTTP {status} without an access_token",
            status_code=status,
        ) from None
    except OAuth2Error as exc:
        raise _oauth_error(exc, status, endpoint) from None
    except Warning as exc:
        # oauthlib signals a changed scope by raising; Salesforce may legitimately grant a
        # different scope than asked, and setting OAUTHLIB_RELAX_TOKEN_SCOPE would change
        # behaviour for the whole process, so it is noted and accepted here.
        log.debug("token scope differs from the requested one: %s", exc)
    if status != 200:
        raise _unexpected(status, text, endpoint)
    return _token_from(payload, endpoint)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _unexpected(status: int, text: str, endpoint: TokenEndpoint) -> TokenRequestError:
    if not text.strip():
        what = "an empty body"
    else:
        snippet = " ".join(redact(text, endpoint.client_secret).split())
        if len(snippet) > _SNIPPET_CHARS:
            snippet = snippet[:_SNIPPET_CHARS] + "..."
        what = f"an unexpected body: {snippet!r}"
    return TokenRequestError(
        f"token endpoint {endpoint.url} answered HTTP {status} with {what}", status_code=status
    )


def _oauth_error(exc: OAuth2Error, status: int, endpoint: TokenEndpoint) -> TokenRequestError:
    error = str(exc.error) if exc.error else None
    description = redact(str(exc.description), endpoint.client_secret) if exc.description else None
    return TokenRequestError(
        f"token request to {endpoint.url} failed with HTTP {status}: "
        f"{error}: {description or '(no description)'}",
        error=error,
        error_description=description,
        status_code=status,
        hint=hint_for(error, description),
    )


def token_from_record(record: Any, endpoint: TokenEndpoint) -> Token | None:
    """Rebuild a token a store published, validated exactly as a fresh answer would be (safe
    ``instance_url``, signature when enabled). ``None``, with a warning, for anything unusable:
    a store is shared, so its content is not trusted further than a token response is."""
    response = record.get("response") if isinstance(record, dict) else None
    if not isinstance(response, dict):
        log.warning("ignoring a token store entry that is not a token record")
        return None
    try:
        token = _token_from(response, endpoint)
    except TokenRequestError as exc:
        log.warning("ignoring an unusable token from the store: %s", exc)
        return None
    received_at, renew_after = record.get("received_at"), record.get("renew_after")
    renew_at = monotonic_from_wall(renew_after) if isinstance(renew_after, (int, float)) else None
    reason = record.get("renew_reason")
    return dataclasses.replace(
        token,
        received_at=received_at if isinstance(received_at, (int, float)) else token.received_at,
        renew_at=renew_at,
        renew_reason=reason if isinstance(reason, str) else None,
    )


def _token_from(payload: dict[str, Any], endpoint: TokenEndpoint) -> Token:
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered without a usable access_token",
            status_code=200,
        )
    instance_url = payload.get("instance_url")
    if not isinstance(instance_url, str) or not instance_url:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered without an instance_url",
            status_code=200,
        )
    try:
        origin = require_safe_origin(instance_url, "instance_url")
    except ValueError as exc:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} returned an unsafe {exc}; the token was not used",
            status_code=200,
        ) from None
    if endpoint.verify_signature:
        _check_signature(payload, endpoint)
    return Token(
        access_token=access_token,
        instance_url=instance_url.rstrip("/"),
        instance_origin=origin,
        response=dict(payload),
        received_at=time.time(),
    )


def _check_signature(payload: dict[str, Any], endpoint: TokenEndpoint) -> None:
    signature, identity, issued_at = (payload.get(k) for k in ("signature", "id", "issued_at"))
    if not all(isinstance(v, str) and v for v in (signature, identity, issued_at)):
        raise TokenRequestError(
            f"token response from {endpoint.url} has no signature to verify (it needs "
            "'signature', 'id' and 'issued_at'); the token was not used",
            status_code=200,
        )
    expected = expected_signature(endpoint.client_secret, str(identity), str(issued_at))
    if not hmac.compare_digest(expected, str(signature)):
        raise TokenRequestError(
            f"token response from {endpoint.url} has a signature that does not match "
            "base64(HMAC-SHA256(client_secret, id + issued_at)); the token was not used",
            status_code=200,
        )
