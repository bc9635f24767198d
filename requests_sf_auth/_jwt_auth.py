"""``SalesforceJWTAuth``: :class:`~requests_sf_auth.SalesforceAuth` with the JWT bearer grant."""

from __future__ import annotations

import os
from typing import Any

from ._auth import SalesforceAuth
from ._jwt import JWTBearerGrant, default_audience, load_private_key
from ._secrets import SecretText
from ._urls import parse_domain

__all__ = ["SalesforceJWTAuth"]


class SalesforceJWTAuth(SalesforceAuth):
    """Authenticates requests to one Salesforce org with the OAuth 2.0 JWT bearer flow, the
    server-to-server flow with a certificate that simple-salesforce, CI jobs and
    ``sf org login jwt`` use.

    Everything but the token request is :class:`~requests_sf_auth.SalesforceAuth`'s: lazy
    single-flight tokens, scoping, one renewal on 401, backoff, ``token_store``, ``revoke()``
    and :class:`~requests_sf_auth.SalesforceSession`, with the same keyword options. Each
    token request sends a fresh RS256 assertion (``iss`` ``client_id``, ``sub`` ``username``,
    ``aud`` ``audience``, ``exp`` 150 s ahead), signed with ``private_key``: PEM text or bytes,
    or the PEM file ``private_key_file``. The app needs the key's X.509 certificate and the
    user must be pre-authorised for it.

    ``domain`` is the My Domain URL, or ``login.salesforce.com`` / ``test.salesforce.com``,
    which this flow accepts. ``audience`` defaults to ``https://test.salesforce.com`` for a
    sandbox or scratch-org domain (``*.sandbox.my.salesforce.com``,
    ``*.scratch.my.salesforce.com``) and ``test.salesforce.com``, else to
    ``https://login.salesforce.com``; set it for an Experience Cloud site or another cloud.

    This flow has no client secret, so ``verify_signature=True`` and ``introspect=True`` are
    refused with a ``ValueError`` (its answers carry no ``signature``; for renewal before
    expiry use ``token_lifetime=``). Raises ``RuntimeError`` naming the ``jwt`` extra when
    PyJWT or cryptography is not installed, and ``ValueError`` at construction for a missing,
    unreadable, encrypted or non-RSA key, quoting none of it. The key never appears in a repr,
    a message or a log line. Thread-safety is :class:`~requests_sf_auth.SalesforceAuth`'s.
    """

    def __init__(
        self,
        domain: str,
        client_id: str,
        username: str,
        private_key: str | bytes | None = None,
        *,
        private_key_file: str | os.PathLike[str] | None = None,
        audience: str | None = None,
        **options: Any,
    ) -> None:
        if isinstance(private_key, str):
            private_key = SecretText(private_key)  # hidden from traceback locals
        origin, token_url = parse_domain(domain)
        key = load_private_key(private_key, private_key_file)
        private_key = None
        grant = JWTBearerGrant(
            client_id,
            username,
            default_audience(origin.host) if audience is None else audience,
            key,
        )
        self._configure(origin, token_url, grant, **options)

    @property
    def username(self) -> str:
        """The Salesforce user tokens are issued to (the assertion's ``sub``)."""
        return self._grant.username

    @property
    def audience(self) -> str:
        """The assertion's ``aud``: the login server that issues the tokens."""
        return self._grant.audience

    @property
    def _grant(self) -> JWTBearerGrant:
        grant = self._lifecycle.endpoint.grant
        assert isinstance(grant, JWTBearerGrant)  # noqa: S101 - set in __init__, never changed
        return grant

    def _describe_grant(self) -> str:
        return f"username={self.username!r}, audience={self.audience!r}, "
