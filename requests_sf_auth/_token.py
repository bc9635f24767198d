"""One token request: build it with oauthlib, send it, and turn the answer into a :class:`Token`
or a :class:`~requests_sf_auth._errors.TokenRequestError`.

This module knows nothing about caching, threads or retries; :mod:`requests_sf_auth._lifecycle`
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import requests
from oauthlib.oauth2 import MissingTokenError, OAuth2Error

from ._backoff import LONGEST_WAIT, seconds, shown_value
from ._errors import TokenRequestError, TokenRevocationError, hint_for
from ._grants import Grant, GrantRequest
from ._redaction import MIN_SOUGHT, SECRET_FIELDS, redact
from ._secrets import SecretForm, SecretMapping, SecretText
from ._transport import Answer, Timeout, overall, post_form
from ._urls import Origin, trusted_instance

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
    "scope_text",
    "sealed_record",
    "token_from_record",
    "wall_from_monotonic",
]

log = logging.getLogger(__name__)

_SNIPPET_CHARS = 200
_HEADER_SAFE = re.compile(r"[!-~]{1,4096}")  # printable ASCII, no spaces: a header value


def monotonic_from_wall(wall: float) -> float:
    """The ``time.monotonic()`` moment of epoch time ``wall``. Deadlines are kept on the
    monotonic clock so a wall-clock jump cannot stall or storm renewals."""
    return time.monotonic() + (wall - time.time())


def wall_from_monotonic(moment: float) -> float:
    """The epoch time of ``time.monotonic()`` moment ``moment``, for sharing across processes."""
    return time.time() + (moment - time.monotonic())


def _credentials_in(payload: dict[str, Any] | None) -> tuple[str, ...]:
    """The string values of an answer's credential fields, to be masked wherever else the
    answer is quoted."""
    if payload is None:
        return ()
    values = (payload.get(name) for name in sorted(SECRET_FIELDS))
    return tuple(SecretText(v) for v in values if isinstance(v, str) and len(v) >= MIN_SOUGHT)


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
        object.__setattr__(self, "access_token", SecretText(self.access_token))
        object.__setattr__(self, "authorization", SecretText(f"Bearer {self.access_token}"))
        object.__setattr__(self, "instance_prefix", self.instance_origin.prefix + "/")

    @property
    def issued_at(self) -> float | None:
        """Salesforce's ``issued_at`` in epoch seconds, or ``None`` when absent or malformed."""
        raw = self.response.get("issued_at")
        try:
            return int(str(raw)) / 1000.0
        except (ValueError, OverflowError):
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
    """Where and how to ask for a token: the URL, the flow's
    :class:`~requests_sf_auth._grants.Grant` (which holds the credentials; its repr never shows
    them), and the options every flow shares.

    Validates itself: ``scope`` must be a string or ``None``, ``timeout`` positive seconds
    up to :data:`~requests_sf_auth._backoff.LONGEST_WAIT` (a day) or a (connect, read) pair of
    them, and ``verify_signature`` needs a flow with a client secret. Anything else raises
    ``ValueError`` naming the argument and the fix.
    """

    url: str
    grant: Grant
    scope: str | None
    timeout: Timeout
    verify_signature: bool = False
    allowed_origins: frozenset[Origin] = frozenset()
    """Origins besides the domain's (and Salesforce's own) that an ``instance_url`` may name."""

    def __post_init__(self) -> None:
        if self.scope is not None and not isinstance(self.scope, str):
            raise ValueError(f"scope must be a string like 'api', not {self.scope!r}")
        object.__setattr__(self, "timeout", _checked_timeout(self.timeout))
        object.__setattr__(self, "verify_signature", bool(self.verify_signature))
        if self.verify_signature and self.grant.client_secret is None:
            raise ValueError(
                "verify_signature=True checks the answer's HMAC with the client secret, and "
                "this flow has none (its answers carry no signature either); leave it off"
            )

    @property
    def client_id(self) -> str:
        """The external client app's Consumer Key."""
        return self.grant.client_id

    @property
    def client_secret(self) -> str | None:
        """The Consumer Secret, when the flow sends one."""
        return self.grant.client_secret

    @property
    def secrets(self) -> tuple[SecretText, ...]:
        """The flow's long-lived credentials, masked wherever an answer is quoted."""
        return self.grant.secrets

    @property
    def deadline(self) -> float:
        """Seconds one exchange with the endpoint may take at most, connect and read together."""
        return overall(self.timeout)

    @property
    def introspect_url(self) -> str:
        return self.url.removesuffix("/token") + "/introspect"

    @property
    def revoke_url(self) -> str:
        return self.url.removesuffix("/token") + "/revoke"

    def __repr__(self) -> str:
        return f"<TokenEndpoint {self.url} {self.grant!r}>"


def _checked_timeout(timeout: object) -> Timeout:
    checked = _timeout_seconds(timeout)
    if checked is None:
        raise ValueError(
            f"timeout must be a positive, finite number of seconds or a (connect, read) pair, "
            f"not {shown_value(timeout)}: a token request without a timeout can hang forever"
        )
    longest = max(checked) if isinstance(checked, tuple) else checked
    if longest > LONGEST_WAIT:
        raise ValueError(
            f"timeout must be at most {LONGEST_WAIT:g} seconds (a day) for the connect and "
            f"for the read, not {timeout!r}: no token answer is worth a longer wait"
        )
    return checked


def _timeout_seconds(timeout: object) -> Timeout | None:
    """``timeout`` as positive, finite seconds, one number or a (connect, read) pair; ``None``
    for anything else."""
    try:
        if isinstance(timeout, tuple) and len(timeout) == 2:
            return (seconds("timeout", timeout[0]), seconds("timeout", timeout[1]))
        if isinstance(timeout, (int, float)):
            return seconds("timeout", timeout)
    except ValueError:
        pass
    return None


def scope_text(scope: object) -> str | None:
    """The ``scope`` argument, a string or a list of strings, as the space-separated string
    the token request sends. Raises ``ValueError`` for anything else."""
    if scope is None or isinstance(scope, str):
        return scope
    if isinstance(scope, Iterable) and not isinstance(scope, bytes):
        items = list(scope)
        if all(isinstance(item, str) for item in items):
            return " ".join(items)
    raise ValueError(f"scope must be a string like 'api' or a list of strings, not {scope!r}")


def expected_signature(client_secret: str, identity: str, issued_at: str) -> str:
    """``base64(HMAC-SHA256(client_secret, id + issued_at))``: the documented recipe for the
    token response's ``signature`` (not confirmed by Salesforce for this flow)."""
    digest = hmac.new(
        client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def request_token(endpoint: TokenEndpoint, session: requests.Session) -> Token:
    """POST a fresh request of ``endpoint``'s grant through ``session`` and parse the answer.

    Raises :class:`TokenRequestError` for any answer that is not a usable token, and
    ``requests`` exceptions (timeouts, refused connections, TLS failures) for a failed
    exchange; the whole exchange is bounded by ``endpoint.deadline``
    (see :func:`~requests_sf_auth._transport.post_form`).
    """
    prepared = endpoint.grant.prepare(endpoint.scope)
    answer = post_form(
        session,
        endpoint.url,
        prepared.body,
        endpoint.timeout,
        secrets=(*prepared.secrets, *endpoint.secrets),
    )
    return _parse(answer, prepared, endpoint)


@dataclass(frozen=True)
class Introspection:
    """What introspection said of an active token: ``exp`` and, when sent, ``iat``, both in
    the org's epoch seconds."""

    exp: float
    iat: float | None


def introspect_token(
    endpoint: TokenEndpoint, session: requests.Session, token: Token
) -> Introspection:
    """Ask the org when ``token`` expires.

    Raises :class:`TokenRequestError` when the answer is not an active token with an ``exp``
    (``{"active": false}`` included), and ``requests`` exceptions when the org is unreachable.
    """
    if endpoint.client_secret is None:
        raise TokenRequestError("introspection needs the client secret, and this flow has none")
    form = SecretForm.encode_fields(
        {
            "token": token.access_token,
            "token_type_hint": "access_token",
            "client_id": endpoint.client_id,
            "client_secret": endpoint.client_secret,
        }
    )
    answer = post_form(
        session,
        endpoint.introspect_url,
        form,
        endpoint.timeout,
        secrets=(token.access_token, *endpoint.secrets),
    )
    payload = _json_object(answer.text) if answer.status == 200 else None
    if payload is None:
        raise TokenRequestError(
            f"introspection at {endpoint.introspect_url} answered HTTP {answer.status}",
            status_code=answer.status,
        )
    exp, iat = payload.get("exp"), payload.get("iat")
    if payload.get("active") is not True or not _is_epoch(exp):
        raise TokenRequestError(
            f"introspection at {endpoint.introspect_url} reported no expiry "
            f"(active={payload.get('active')!r})",
            status_code=answer.status,
        )
    return Introspection(float(exp), float(iat) if _is_epoch(iat) else None)


def _is_epoch(value: object) -> TypeGuard[float]:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 < value < 1e11  # seconds, not milliseconds, and finite
    )


def revoke_token(endpoint: TokenEndpoint, session: requests.Session, token: Token) -> bool:
    """Revoke ``token`` at the org. Returns True when revoked, False when the org says it was
    no longer valid (``invalid_token``); raises :class:`TokenRevocationError` otherwise, and
    ``requests`` exceptions when the org is unreachable."""
    form = SecretForm.encode_fields({"token": token.access_token})
    answer = post_form(
        session,
        endpoint.revoke_url,
        form,
        endpoint.timeout,
        secrets=(token.access_token, *endpoint.secrets),
    )
    if answer.status == 200:
        return True
    payload = _json_object(answer.text) or {}
    error = payload.get("error")
    if answer.status == 400 and error == "invalid_token":
        return False
    secrets = (SecretText(token.access_token), *endpoint.secrets)
    quoted_error = redact(str(error or "no OAuth error"), *secrets)
    description = redact(str(payload.get("error_description") or "(no description)"), *secrets)
    raise TokenRevocationError(
        f"revocation at {endpoint.revoke_url} failed with HTTP {answer.status}: "
        f"{quoted_error}: {description}",
        error=error if isinstance(error, str) else None,
        status_code=answer.status,
    )


def _parse(answer: Answer, prepared: GrantRequest, endpoint: TokenEndpoint) -> Token:
    status, text = answer.status, answer.text
    if 300 <= status < 400:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} redirected (HTTP {status}) instead of answering; "
            "use the org's My Domain URL exactly",
            status_code=status,
        )
    payload = None if answer.truncated else _json_object(text)
    if payload is None:
        raise _unexpected(answer, endpoint, prepared.secrets)
    secrets = (*prepared.secrets, *_credentials_in(payload))
    try:
        prepared.client.parse_request_body_response(text, scope=endpoint.scope)
    except MissingTokenError:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered HTTP {status} without an access_token",
            status_code=status,
        ) from None
    except OAuth2Error as exc:
        raise _oauth_error(exc, status, endpoint, secrets) from None
    except Warning as exc:
        # oauthlib signals a changed scope by raising; Salesforce may legitimately grant a
        # different scope than asked, and setting OAUTHLIB_RELAX_TOKEN_SCOPE would change
        # behaviour for the whole process, so it is noted and accepted here.
        log.debug("token scope differs from the requested one: %s", redact(str(exc), *secrets))
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # A field of the wrong type or size (expires_in "abc" or 1e400, scope 5): oauthlib
        # trips over it. Its message may quote the answer, so only the kind is named.
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered HTTP {status} with a malformed token "
            f"answer ({type(exc).__name__} while reading it)",
            status_code=status,
        ) from None
    if status != 200:
        raise _unexpected(answer, endpoint, secrets)
    return _token_from(payload, endpoint)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
        return None
    return SecretMapping(value) if isinstance(value, dict) else None


def _unexpected(
    answer: Answer, endpoint: TokenEndpoint, secrets: tuple[str, ...]
) -> TokenRequestError:
    if not answer.text.strip():
        what = "an empty body"
    else:
        snippet = " ".join(redact(answer.text, *endpoint.secrets, *secrets).split())
        if len(snippet) > _SNIPPET_CHARS:
            snippet = snippet[:_SNIPPET_CHARS] + "..."
        size = "a body over 64 KiB" if answer.truncated else "an unexpected body"
        what = f"{size}: {snippet!r}"
    return TokenRequestError(
        f"token endpoint {endpoint.url} answered HTTP {answer.status} with {what}",
        status_code=answer.status,
    )


def _oauth_error(
    exc: OAuth2Error, status: int, endpoint: TokenEndpoint, secrets: tuple[str, ...]
) -> TokenRequestError:
    error = redact(str(exc.error), *secrets) if exc.error else None
    description = redact(str(exc.description), *secrets) if exc.description else None
    return TokenRequestError(
        f"token request to {endpoint.url} failed with HTTP {status}: "
        f"{error}: {description or '(no description)'}",
        error=error,
        error_description=description,
        status_code=status,
        hint=hint_for(error, description),
    )


_SEALED_FIELDS = ("response", "received_at", "renew_after", "renew_reason")


def _seal(record: dict[str, Any], endpoint: TokenEndpoint) -> str:
    """An HMAC of what a store record says about a token, keyed by the grant's secret
    material (the client secret, or a digest of the JWT flow's private key).

    Whoever can write to a store (a member of a shared directory's group, a Redis user) does
    not know the secret, so cannot make a record that points this client at a host or an org
    of their choosing; the processes that share a store share the secret."""
    sealed = {name: record.get(name) for name in _SEALED_FIELDS}
    body = json.dumps(sealed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    purpose = f"requests-sf-auth token store record v1|{endpoint.url}|{endpoint.grant.principal}"
    key = hmac.new(endpoint.grant.seal_key, purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def sealed_record(token: Token, endpoint: TokenEndpoint) -> dict[str, Any]:
    """``token``'s store record, sealed (see :func:`_seal`) so that only the processes that
    hold ``endpoint``'s secret can make one that :func:`token_from_record` accepts."""
    record = token.to_record()
    record["seal"] = _seal(record, endpoint)
    return record


def _seal_matches(seal: object, expected: str) -> bool:
    """Whether a record's ``seal`` is ``expected`` (compared in constant time). Anyone who can
    write the store can put anything there: a seal that is not a string of ASCII characters,
    as every seal is, simply does not match (``hmac.compare_digest`` raises ``TypeError`` for a
    string that is not ASCII, and bytes are compared here for that reason)."""
    if not expected or not isinstance(seal, str) or not seal.isascii():
        return False
    return hmac.compare_digest(seal.encode("ascii"), expected.encode("ascii"))


def token_from_record(record: Any, endpoint: TokenEndpoint) -> Token | None:
    """Rebuild a token a store published, validated exactly as a fresh answer would be (safe
    ``instance_url``, signature when enabled), once its seal proves that a holder of the
    client secret wrote it. ``None``, with a warning, for anything unusable: a store is
    shared, so its content is not trusted further than a token response is."""
    response = record.get("response") if isinstance(record, dict) else None
    if not isinstance(response, dict):
        log.warning("ignoring a token store entry that is not a token record")
        return None
    try:
        expected = _seal(record, endpoint)
    except (TypeError, ValueError, RecursionError):  # what JSON cannot write is not ours
        expected = ""
    if not _seal_matches(record.get("seal"), expected):
        log.warning(
            "ignoring a token store entry not sealed with this client's secret (written by "
            "another client, an older version, or someone without the secret)"
        )
        return None
    try:
        token = _token_from(response, endpoint)
    except TokenRequestError as exc:
        log.warning("ignoring an unusable token from the store: %s", exc)
        return None
    # Sealed, so written by a holder of the secret; still, a time that is no epoch second
    # (NaN, infinity, an int too large for a float) counts as absent rather than raise later.
    received_at, renew_after = record.get("received_at"), record.get("renew_after")
    renew_at = monotonic_from_wall(renew_after) if _is_epoch(renew_after) else None
    reason = record.get("renew_reason")
    return dataclasses.replace(
        token,
        received_at=float(received_at) if _is_epoch(received_at) else token.received_at,
        renew_at=renew_at,
        renew_reason=reason if isinstance(reason, str) else None,
    )


def _token_from(payload: dict[str, Any], endpoint: TokenEndpoint) -> Token:
    access_token = _secret_text(payload.get("access_token"))
    if access_token is None or not _HEADER_SAFE.fullmatch(access_token):
        # Empty, or what no header can carry (CR, LF, spaces, non-ASCII): never quoted.
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered without a usable access_token",
            status_code=200,
        )
    # Hidden from traceback locals until it is proven safe: a hostile answer may carry the
    # token in it.
    instance_url = _secret_text(payload.get("instance_url"))
    if not instance_url:
        raise TokenRequestError(
            f"token endpoint {endpoint.url} answered without an instance_url",
            status_code=200,
        )
    domain = Origin.of(endpoint.url)
    try:
        if domain is None:
            raise ValueError(f"token URL {endpoint.url!r} has no origin")
        origin = trusted_instance(instance_url, domain, endpoint.allowed_origins)
    except ValueError as exc:
        # The URL is quoted, and an answer may have put the token or the secret in it.
        reason = redact(str(exc), *endpoint.secrets, access_token, *_credentials_in(payload))
        raise TokenRequestError(
            f"token endpoint {endpoint.url} returned an unsafe {reason}; the token was not used",
            status_code=200,
        ) from None
    if endpoint.verify_signature:
        _check_signature(payload, endpoint)
    return Token(
        access_token=access_token,
        instance_url=str.rstrip(instance_url, "/"),  # a plain str again: it is safe
        instance_origin=origin,
        response=dict(payload),  # a plain dict: it is the caller's copy of the answer
        received_at=time.time(),
    )


def _secret_text(value: object) -> SecretText | None:
    return SecretText(value) if isinstance(value, str) else None


def _check_signature(payload: dict[str, Any], endpoint: TokenEndpoint) -> None:
    signature, identity, issued_at = (payload.get(k) for k in ("signature", "id", "issued_at"))
    if not all(isinstance(v, str) and v for v in (signature, identity, issued_at)):
        raise TokenRequestError(
            f"token response from {endpoint.url} has no signature to verify (it needs "
            "'signature', 'id' and 'issued_at'); the token was not used",
            status_code=200,
        )
    try:
        secret = endpoint.client_secret or ""  # never empty: refused at construction
        expected = expected_signature(secret, str(identity), str(issued_at))
        matches = hmac.compare_digest(expected.encode(), str(signature).encode())
    except UnicodeError:  # a lone surrogate in a field: no signature can match it
        matches = False
    if not matches:
        raise TokenRequestError(
            f"token response from {endpoint.url} has a signature that does not match "
            "base64(HMAC-SHA256(client_secret, id + issued_at)); the token was not used",
            status_code=200,
        )
