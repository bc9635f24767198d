"""Salesforce OAuth 2.0 client-credentials authentication for ``requests``.

``SalesforceAuth`` fetches a token lazily, scopes it to the org's hosts and renews it once on
HTTP 401; ``SalesforceSession`` adds URLs relative to the org's REST API.
"""

from .auth import DEFAULT_API_VERSION, DEFAULT_TIMEOUT, SalesforceAuth
from .errors import SalesforceAuthError, TokenRequestError, TokenRevocationError
from .session import SalesforceSession, SalesforceURLMixin
from .stores import FileTokenStore, MemoryTokenStore, RedisTokenStore, TokenStore

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_TIMEOUT",
    "FileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "SalesforceAuth",
    "SalesforceAuthError",
    "SalesforceSession",
    "SalesforceURLMixin",
    "TokenRequestError",
    "TokenRevocationError",
    "TokenStore",
]
__version__ = "0.1.0"
