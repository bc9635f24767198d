"""A local Salesforce org on loopback, for testing code that uses requests-sf-auth.

``from requests_sf_auth.testing import LocalOrg``; with pytest, the ``salesforce_org`` fixture
(registered automatically when the package is installed) yields a started one.
"""

from .jwt_grant import KeyPair, generate_key_pair
from .org import TOKEN_FAILURES, LocalOrg, ReceivedRequest

__all__ = ["TOKEN_FAILURES", "KeyPair", "LocalOrg", "ReceivedRequest", "generate_key_pair"]
