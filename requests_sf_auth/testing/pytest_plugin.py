"""pytest fixtures for a local Salesforce org, registered through the ``pytest11`` entry point.

``salesforce_org`` yields a started :class:`~requests_sf_auth.testing.LocalOrg` over plain
HTTP; ``salesforce_org_https`` yields one over HTTPS with a throwaway CA (``org.ca_bundle``),
which needs the ``testing`` extra. Each test gets its own org, stopped afterwards.
``salesforce_key_pair`` hands out a new RSA key pair for the JWT bearer grant.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .jwt_grant import KeyPair, generate_key_pair
from .org import LocalOrg


@pytest.fixture
def salesforce_org() -> Iterator[LocalOrg]:
    """A started local org over HTTP on 127.0.0.1."""
    with LocalOrg() as org:
        yield org


@pytest.fixture
def salesforce_org_https(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalOrg]:
    """A started local org over HTTPS on 127.0.0.1, trusted by ``requests`` for the test.

    ``REQUESTS_CA_BUNDLE`` points at ``org.trust_bundle`` (the org's CA and whatever was
    trusted before) until the test ends, because requests lets that variable override
    ``session.verify``: with it set, as on many CI images, ``sf.verify = org.ca_bundle`` and
    the token request would both fail verification. The change is process-wide and goes
    through ``monkeypatch``, so a test that sets the variable itself is undone in order.
    """
    with LocalOrg(tls=True) as org:
        if org.trust_bundle is None:  # pragma: no cover - start() writes it under TLS
            raise RuntimeError("the HTTPS org started without a trust bundle")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.trust_bundle)
        yield org


@pytest.fixture
def salesforce_key_pair() -> KeyPair:
    """A new RSA key pair for the JWT bearer grant: register ``public_key`` with
    ``org.trust_jwt_key(username, ...)`` and sign with ``private_key``. Needs the ``jwt``
    extra."""
    return generate_key_pair()
