"""A local Salesforce org on loopback, for testing code that uses requests-sf-auth.

``from requests_sf_auth.testing import LocalOrg``; with pytest, the ``salesforce_org`` and
``salesforce_org_https`` fixtures (registered automatically when the package is installed)
yield a started one. ``python -m requests_sf_auth.testing serve`` runs one for other
processes.
"""

from ._oauth import TOKEN_FAILURES
from ._options import AuthOptions
from .jwt_grant import KeyPair, generate_key_pair
from .org import DEFAULT_API_LIMIT, LocalOrg, ReceivedRequest

__all__ = [
    "DEFAULT_API_LIMIT",
    "TOKEN_FAILURES",
    "AuthOptions",
    "KeyPair",
    "LocalOrg",
    "ReceivedRequest",
    "generate_key_pair",
]
