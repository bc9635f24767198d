"""Grants: what one OAuth flow sends to the token endpoint, and nothing else.

Client credentials and the JWT bearer flow differ only in the token request's form. Each flow
is a small, immutable :class:`Grant` that :func:`~requests_sf_auth._token.request_token` asks
for a fresh :class:`GrantRequest`; fetching, caching, renewal, retries and stores are the same
for every flow. A third flow is one more class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from oauthlib.oauth2 import BackendApplicationClient, Client

from ._secrets import SecretBytes, SecretForm, SecretText

__all__ = ["ClientCredentialsGrant", "Grant", "GrantRequest", "checked_text"]


@dataclass(frozen=True, repr=False)
class GrantRequest:
    """One token request's form body, the oauthlib client that reads the answer, and the
    credentials the body carries: they are masked in anything quoted from the answer, since a
    broken proxy may echo the request."""

    client: Client
    body: SecretForm
    secrets: tuple[SecretText, ...]


@runtime_checkable
class Grant(Protocol):
    """An OAuth flow's token request. Implementations are immutable (shared by threads without
    a lock), picklable, and show no credential in their repr.

    ``client_id`` is the app's Consumer Key. ``principal`` names whose tokens these are, for
    the key a token store shares them under. ``client_secret`` is the Consumer Secret when the
    flow has one (response signatures and introspection need it), else ``None``. ``secrets``
    are the long-lived credentials to mask in messages. ``seal_key`` is secret material only the
    credential's holders have, which keys the seal on token store records. :meth:`prepare`
    builds a new request each time it is called.
    """

    @property
    def client_id(self) -> str: ...

    @property
    def principal(self) -> str: ...

    @property
    def client_secret(self) -> str | None: ...

    @property
    def secrets(self) -> tuple[SecretText, ...]: ...

    @property
    def seal_key(self) -> SecretBytes: ...

    def prepare(self, scope: str | None) -> GrantRequest: ...


def checked_text(name: str, value: object, what: str) -> str:
    """``value`` if it is a non-empty string without surrounding white space that UTF-8 can
    encode; otherwise ``ValueError`` naming ``name``, ``what`` it should be, and never the
    value itself (it may be a secret)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string: {what}")
    if value != value.strip():
        raise ValueError(f"{name} has leading or trailing white space; copy it again")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # as os.environ gives undecodable bytes
        raise ValueError(
            f"{name} holds a character that cannot be sent (a lone surrogate, as from "
            "bytes that are not UTF-8 in an environment variable or file); copy it again"
        ) from None
    return value


@dataclass(frozen=True, repr=False)
class ClientCredentialsGrant:
    """``grant_type=client_credentials`` with the Consumer Key and Secret in the body.

    Raises ``ValueError`` for an empty or padded ``client_id`` or ``client_secret``.
    """

    client_id: str
    client_secret: str

    def __post_init__(self) -> None:
        checked_text("client_id", self.client_id, "the external client app's Consumer Key")
        secret = checked_text(
            "client_secret", self.client_secret, "the external client app's Consumer Secret"
        )
        object.__setattr__(self, "client_secret", SecretText(secret))

    @property
    def principal(self) -> str:
        return self.client_id

    @property
    def secrets(self) -> tuple[SecretText, ...]:
        return (SecretText(self.client_secret),)

    @property
    def seal_key(self) -> SecretBytes:
        return SecretBytes(self.client_secret.encode())

    def prepare(self, scope: str | None) -> GrantRequest:
        client = BackendApplicationClient(client_id=self.client_id)
        body = client.prepare_request_body(
            include_client_id=True, client_secret=self.client_secret, scope=scope
        )
        return GrantRequest(client, SecretForm.encode_fields(body), self.secrets)

    def __repr__(self) -> str:
        return f"<ClientCredentialsGrant client_id={self.client_id!r}>"
