"""The JWT bearer grant (RFC 7523) as Salesforce runs it: a fresh RS256 assertion, signed with
the private key whose certificate is uploaded to the app, for every token request.

Facts relied on, from Salesforce's "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration" (also in the project's ``shared/SALESFORCE.md``):

* the request is ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and
  ``assertion=<JWT>``, posted to ``login.salesforce.com``, ``test.salesforce.com`` or the My
  Domain's ``/services/oauth2/token``; no client secret is sent;
* the claims are ``iss`` (the Consumer Key), ``sub`` (the username), ``aud`` and ``exp``;
* ``aud`` is ``https://login.salesforce.com`` for production, ``https://test.salesforce.com``
  for sandboxes, or the site's URL for an Experience Cloud site (other clouds name their own
  login host): it is the login server, never the My Domain;
* ``exp`` must lie within 3 minutes, and Salesforce tolerates little clock skew;
* the answer carries ``access_token``, ``scope``, ``instance_url``, ``id`` and
  ``token_type``: no refresh token, and neither ``signature`` nor ``issued_at`` can be
  counted on.

Scratch orgs (``*.scratch.my.salesforce.com``) take the sandbox audience too, as the Salesforce
CLI gives them; that is the CLI's behaviour, not a documented rule, so ``audience=`` overrides it.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ._grants import GrantRequest, checked_text
from ._secrets import SecretBytes, SecretForm, SecretText

__all__ = [
    "ASSERTION_LIFETIME",
    "JWT_EXTRA",
    "PRODUCTION_AUDIENCE",
    "SANDBOX_AUDIENCE",
    "JWTBearerGrant",
    "default_audience",
    "load_private_key",
]

PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
_SANDBOX_SUFFIXES = (".sandbox.my.salesforce.com", ".scratch.my.salesforce.com")

ASSERTION_LIFETIME = 150
"""Seconds from signing to an assertion's ``exp``: inside Salesforce's 3 minutes, with 30 s to
spare for a local clock that runs ahead."""

JWT_EXTRA = "pip install 'requests-sf-auth[jwt]'"


def default_audience(host: str) -> str:
    """The ``aud`` Salesforce expects for a domain on ``host``: the sandbox login server for
    sandboxes and scratch orgs (and ``test.salesforce.com`` itself), else production's."""
    host = host.lower().rstrip(".")
    if host == "test.salesforce.com" or host.endswith(_SANDBOX_SUFFIXES):
        return SANDBOX_AUDIENCE
    return PRODUCTION_AUDIENCE


def _require_pyjwt() -> None:
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ImportError:
        raise RuntimeError(
            f"SalesforceJWTAuth signs its assertions with PyJWT and cryptography: {JWT_EXTRA}"
        ) from None


def load_private_key(private_key: object, private_key_file: object) -> Any:
    """The RSA private key from PEM text or bytes, or from the PEM file at
    ``private_key_file`` (exactly one of them), as a ``cryptography`` key object.

    Raises ``RuntimeError`` naming the ``jwt`` extra when PyJWT or cryptography is missing,
    and ``ValueError`` for a missing, unreadable, encrypted, malformed or non-RSA key; no
    message quotes any of the key.
    """
    _require_pyjwt()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    if (private_key is None) == (private_key_file is None):
        raise ValueError(
            "pass the private key as private_key (PEM text or bytes) or private_key_file "
            "(a path), exactly one of them"
        )
    source = "private_key"
    if private_key_file is not None:
        source = "private_key_file"
        if not isinstance(private_key_file, (str, os.PathLike)):
            raise ValueError(
                f"private_key_file must be a path, not {type(private_key_file).__name__}"
            )
        path = os.fspath(private_key_file)
        try:
            private_key = SecretBytes(Path(private_key_file).read_bytes())
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the "path"
            # The path is never quoted: a key pasted where its path belongs would be shown.
            what = (
                "looks like the key itself, not the path of its file"
                if "-----BEGIN" in str(path) or "\n" in str(path)
                else f"cannot be read ({getattr(exc, 'strerror', None) or 'invalid path'})"
            )
            raise ValueError(
                f"private_key_file {what}; give the path of the PEM key whose certificate is "
                "uploaded to the app, or pass the key itself as private_key"
            ) from None
    if isinstance(private_key, str):
        private_key = private_key.encode("utf-8", "surrogateescape")
    if isinstance(private_key, bytes):
        private_key = SecretBytes(private_key)  # hidden from traceback locals from here on
    else:
        raise ValueError(
            f"{source} must be PEM text or bytes ('-----BEGIN PRIVATE KEY-----...'), "
            f"not {type(private_key).__name__}"
        )
    problem = _unreadable_key(private_key)
    if problem is not None:
        raise ValueError(f"{source} is not usable: {problem}")
    key = serialization.load_pem_private_key(private_key, password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(
            f"{source} is not an RSA key: Salesforce verifies JWT bearer assertions with "
            "RS256, so the app's certificate and this key must be RSA"
        )
    return key


def _unreadable_key(pem: bytes) -> str | None:
    """Why ``pem`` is no unencrypted PEM private key, in words that quote none of it."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        return (
            "it is encrypted with a passphrase; decrypt it first, e.g. "
            "'openssl pkey -in key.pem -out plain-key.pem'"
        )
    except (ValueError, UnsupportedAlgorithm):
        return (
            "it is not a PEM private key ('-----BEGIN PRIVATE KEY-----' or "
            "'-----BEGIN RSA PRIVATE KEY-----'); pass the key, not the certificate"
        )
    return None


def _pem(key: Any) -> SecretText:
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SecretText(pem.decode("ascii"))


@dataclass(frozen=True, repr=False)
class JWTBearerGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an assertion made by
    oauthlib's ``ServiceApplicationClient`` (signed through PyJWT) for each request.

    ``key`` is a loaded ``cryptography`` RSA private key: the key never exists here as text,
    so no repr, traceback local or message can show it. Pickling carries it as PEM, like the
    client secret of the other flow. Raises ``ValueError`` for an empty or padded
    ``client_id``, ``username`` or ``audience``, or an audience that is not an https URL.
    """

    client_id: str
    username: str
    audience: str
    key: Any

    def __post_init__(self) -> None:
        checked_text("client_id", self.client_id, "the external client app's Consumer Key")
        checked_text("username", self.username, "the Salesforce username tokens are issued to")
        checked_text("audience", self.audience, "the login server, e.g. " + PRODUCTION_AUDIENCE)
        if not self.audience.startswith("https://"):
            raise ValueError(
                f"audience {self.audience!r} must be the https URL of the login server: "
                f"{PRODUCTION_AUDIENCE}, {SANDBOX_AUDIENCE}, or an Experience Cloud site's URL"
            )

    @property
    def principal(self) -> str:
        # Several users may share one app: each has tokens of their own.
        return f"{self.client_id}\n{self.username}"

    @property
    def client_secret(self) -> None:
        return None

    @property
    def secrets(self) -> tuple[SecretText, ...]:
        return ()

    @property
    def seal_key(self) -> SecretBytes:
        from cryptography.hazmat.primitives import serialization

        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return SecretBytes(hashlib.sha256(der).digest())

    def prepare(self, scope: str | None) -> GrantRequest:
        from oauthlib.oauth2 import ServiceApplicationClient

        client = ServiceApplicationClient(
            self.client_id,
            private_key=self.key,
            subject=self.username,
            issuer=self.client_id,
            audience=self.audience,
        )
        now = time.time()
        body = SecretForm.encode_fields(
            client.prepare_request_body(
                expires_at=now + ASSERTION_LIFETIME, issued_at=now, scope=scope
            )
        )
        assertion = dict(parse_qsl(body.decode())).get("assertion", "")
        return GrantRequest(client, body, (SecretText(assertion),))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.client_id, self.username, self.audience, _pem(self.key)))

    def __repr__(self) -> str:
        return (
            f"<JWTBearerGrant client_id={self.client_id!r} username={self.username!r} "
            f"audience={self.audience!r}>"
        )


def _rebuild(client_id: str, username: str, audience: str, pem: str) -> JWTBearerGrant:
    return JWTBearerGrant(client_id, username, audience, load_private_key(pem, None))
