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
def salesforce_org_https() -> Iterator[LocalOrg]:
    """A started local org over HTTPS on 127.0.0.1; verify it with ``org.ca_bundle``."""
    with LocalOrg(tls=True) as org:
        yield org


@pytest.fixture
def salesforce_key_pair() -> KeyPair:
    """A new RSA key pair for the JWT bearer grant: register ``public_key`` with
    ``org.trust_jwt_key(username, ...)`` and sign with ``private_key``. Needs the ``jwt``
    extra."""
    return generate_key_pair()
