"""How the local org answers ``/services/oauth2/``: the client-credentials token endpoint with
Salesforce's errors for the same mistakes, introspection and revocation, plus the faults a
test can schedule in their place. Facts: ``shared/SALESFORCE.md`` ("Token request", "Token
errors", "Lifetime", "Revocation")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from ._http import Exchange
    from .org import LocalOrg

__all__ = ["TOKEN_FAILURES", "TOKEN_FAULTS", "answer_oauth"]

ORG_ID = "00D5g000004ABCD"
USER_ID = "0055g000001WXYZ"
USERNAME = "integration@acme.example"


def _oauth_error(status: int, error: str, description: str) -> tuple[int, str, bytes]:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return status, "application/json", body


TOKEN_FAILURES: Mapping[str, tuple[int, str, bytes]] = {
    # The documented OAuth errors, as Salesforce sends them.
    "login_domain": _oauth_error(400, "invalid_grant", "request not supported on this domain"),
    "no_run_as_user": _oauth_error(400, "invalid_grant", "no client credentials user enabled"),
    "invalid_client_id": _oauth_error(400, "invalid_client_id", "client identifier invalid"),
    "invalid_client": _oauth_error(400, "invalid_client", "invalid client credentials"),
    "unsupported_grant_type": _oauth_error(
        400, "unsupported_grant_type", "grant type not supported"
    ),
    "login_rate_exceeded": _oauth_error(400, "invalid_grant", "login rate exceeded"),
    "ip_restricted": _oauth_error(400, "invalid_grant", "IP restricted or invalid login hours"),
    "authentication_failure": _oauth_error(400, "invalid_grant", "authentication failure"),
    "inactive_user": _oauth_error(400, "inactive_user", "user is inactive"),
    "inactive_org": _oauth_error(400, "inactive_org", "organization is inactive"),
    "rate_limit_exceeded": _oauth_error(400, "rate_limit_exceeded", "rate limit exceeded"),
    "invalid_scope": _oauth_error(400, "invalid_scope", "the requested scope is not allowed"),
    "invalid_request": _oauth_error(400, "invalid_request", "invalid request"),
    # What proxies, outages and broken deployments answer instead.
    "html_503": (
        503,
        "text/html",
        b"<html><head><title>Service Unavailable</title></head>"
        b"<body><h1>Maintenance</h1><p>Back soon.</p></body></html>",
    ),
    "empty_200": (200, "application/json", b""),
    "invalid_json_200": (200, "application/json", b'{"access_token": "00Dtruncated'),
    "missing_access_token": (200, "application/json", b'{"token_type": "Bearer"}'),
    "redirect_307": (307, "text/plain", b"moved"),
}
"""Canned token-endpoint failures for :meth:`LocalOrg.fail_token_requests`, by name.

Besides these, the org understands ``"missing_instance_url"`` and ``"http_instance_url"``
(a real token without ``instance_url``, or with one on plain http for a non-loopback host),
``"tampered_signature"`` and ``"missing_signature"`` (a real token whose ``signature`` is
wrong or absent),
``"echo_500"`` (an error page that echoes the request body, secret included, as a broken proxy
might), ``"echo_values_500"`` (an error page that lists the request's form values without their
names, the secret among them, as some gateways' block pages do), ``"hang"`` (accept the
request and never answer until the org stops), ``"trickle"`` (a real token answer sent one
byte every 0.2 s) and ``"huge_500"`` (a 30 MB error page).
"""
_TOKEN_TAMPERING = frozenset(
    {"missing_instance_url", "http_instance_url", "tampered_signature", "missing_signature"}
)
TOKEN_FAULTS = frozenset(
    {
        *TOKEN_FAILURES,
        *_TOKEN_TAMPERING,
        "echo_500",
        "echo_values_500",
        "hang",
        "trickle",
        "huge_500",
    }
)
"""Every name :meth:`LocalOrg.fail_token_requests` accepts."""


def answer_oauth(org: LocalOrg, exchange: Exchange) -> bool:
    """Answer a request under ``/services/oauth2/``; False if the path is not one of them."""
    path = exchange.path
    if path == "/services/oauth2/token":
        _token_endpoint(org, exchange)
    elif path == "/services/oauth2/introspect":
        _introspect(org, exchange)
    elif path == "/services/oauth2/revoke":
        _revoke(org, exchange)
    else:
        return False
    return True


def _send_oauth_error(exchange: Exchange, status: int, error: str, description: str) -> None:
    exchange.send(status, {"error": error, "error_description": description})


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _client_credentials(
    exchange: Exchange, form: Mapping[str, str]
) -> tuple[str | None, str | None]:
    basic = exchange.headers.get("Authorization", "")
    if basic[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
        except ValueError:
            return None, None
        return user, password
    return form.get("client_id"), form.get("client_secret")


def _token_endpoint(org: LocalOrg, exchange: Exchange) -> None:
    org._count("token_requests")
    if exchange.method != "POST":
        _send_oauth_error(exchange, 400, "invalid_request", "must use HTTP POST")
        return
    if org.token_delay:
        org._stopping.wait(org.token_delay)
    canned = org.token_answer
    if canned is not None:
        exchange.send(canned[0], canned[2], canned[1])
        return
    failure = org._next_failure()
    if failure is not None and _fail_instead(exchange, failure):
        return
    form = _form(exchange.body)
    if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        _jwt_grant(org, exchange, form.get("assertion", ""), failure)
        return
    client_id, client_secret = _client_credentials(exchange, form)
    if form.get("grant_type") != "client_credentials":
        status, content_type, payload = TOKEN_FAILURES["unsupported_grant_type"]
    elif client_id != org.client_id:
        status, content_type, payload = TOKEN_FAILURES["invalid_client_id"]
    elif client_secret != org.client_secret:
        status, content_type, payload = TOKEN_FAILURES["invalid_client"]
    else:
        answer = _issue_token(org)
        if failure in _TOKEN_TAMPERING:
            _tamper(answer, failure)
        if failure == "trickle":
            exchange.trickle(json.dumps(answer).encode())
        else:
            exchange.send(200, answer, headers={"Cache-Control": "no-store"})
        return
    exchange.send(status, payload, content_type)


def _jwt_grant(org: LocalOrg, exchange: Exchange, assertion: str, failure: str | None) -> None:
    from .jwt_grant import check_assertion

    refusal = check_assertion(
        assertion,
        client_id=org.client_id,
        public_keys=org._jwt_keys,
        audience=org.jwt_audience,
        now=time.time() + org.clock_skew,
    )
    if refusal is not None:
        _send_oauth_error(exchange, 400, *refusal)
        return
    answer = _issue_token(org, jwt=True)
    if failure in _TOKEN_TAMPERING:
        _tamper(answer, failure)
    exchange.send(200, answer, headers={"Cache-Control": "no-store"})


def _fail_instead(exchange: Exchange, failure: str) -> bool:
    """Answer with ``failure`` instead of a token; False for the failures that tamper with a
    real token answer instead."""
    body = exchange.body
    if failure == "hang":
        exchange.hang()
    elif failure == "echo_500":
        exchange.send(500, b"<html><body>Bad request: " + body + b"</body></html>", "text/html")
    elif failure == "echo_values_500":
        values = " | ".join(value for _, value in parse_qsl(body.decode("utf-8", "replace")))
        page = f"<html><body><p>Request blocked. Values: {values}</p></body></html>"
        exchange.send(500, page.encode(), "text/html")
    elif failure == "huge_500":
        exchange.send_huge_error()
    elif failure in TOKEN_FAILURES:
        status, content_type, payload = TOKEN_FAILURES[failure]
        headers = {"Location": "/services/oauth2/elsewhere"} if status == 307 else {}
        exchange.send(status, payload, content_type, headers)
    else:
        return False
    return True


def _issue_token(org: LocalOrg, *, jwt: bool = False) -> dict[str, Any]:
    factory = org.token_factory
    token = factory() if factory is not None else f"{ORG_ID}!AR8AQ{secrets.token_urlsafe(64)}"
    now = org._register_token(token)
    issued_at = str(int((now + org.clock_skew) * 1000))
    identity = f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}"
    # Computed here rather than with requests_sf_auth._token.expected_signature, so the
    # plugin's verifier is checked against an independent implementation of the recipe.
    signature = base64.b64encode(
        hmac.new(
            org.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
    ).decode()
    if jwt:  # Salesforce's documented JWT answer: no signature, no issued_at
        return {
            "access_token": token,
            "scope": "api",
            "instance_url": org.instance_url,
            "id": identity,
            "token_type": "Bearer",
            **org.answer_fields,
        }
    return {
        "access_token": token,
        "signature": signature,
        "token_format": "opaque",
        "scope": "api",
        "instance_url": org.instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        **org.answer_fields,
    }


def _tamper(answer: dict[str, Any], failure: str | None) -> None:
    if failure == "missing_instance_url":
        del answer["instance_url"]
    elif failure == "http_instance_url":
        answer["instance_url"] = "http://acme.my.salesforce.com"
    elif failure == "tampered_signature":
        answer["signature"] = base64.b64encode(b"\0" * 32).decode()
    elif failure == "missing_signature":
        answer.pop("signature", None)


def _introspect(org: LocalOrg, exchange: Exchange) -> None:
    org._count("introspect_requests")
    if org.introspection == "error":
        exchange.send(503, b"<html>Service Unavailable</html>", "text/html")
        return
    form = _form(exchange.body)
    client_id, client_secret = _client_credentials(exchange, form)
    if client_id != org.client_id or client_secret != org.client_secret:
        _send_oauth_error(exchange, 401, "invalid_client", "invalid client credentials")
        return
    times = org._token_times(form.get("token", ""))
    if times is None or org.introspection == "inactive":
        exchange.send(200, {"active": False})
        return
    issued_at, last_used = times
    answer: dict[str, Any] = {
        "active": True,
        "scope": "api",
        "client_id": org.client_id,
        "username": USERNAME,
        "sub": f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}",
        "token_type": "access_token",
        "iat": int(issued_at + org.clock_skew),
        "nbf": int(issued_at + org.clock_skew),
    }
    if org.session_timeout is not None:
        answer["exp"] = int(last_used + org.session_timeout + org.clock_skew)
    exchange.send(200, answer)


def _revoke(org: LocalOrg, exchange: Exchange) -> None:
    org._count("revoke_requests")
    token = _form(exchange.body).get("token", "")
    if not token:
        _send_oauth_error(exchange, 400, "unsupported_token_type", "missing token")
    elif org.revoke_token(token):
        exchange.send(200, b"", "text/plain")
    else:
        _send_oauth_error(exchange, 400, "invalid_token", "invalid token")
