"""Salesforce OAuth 2.0 client-credentials authentication for ``requests``.

``SalesforceAuth`` fetches a token lazily, scopes it to the org's hosts and renews it once on
HTTP 401; ``SalesforceSession`` adds URLs relative to the org's REST API.
"""

from ._auth import DEFAULT_API_VERSION, DEFAULT_TIMEOUT, MAX_SENDS, SalesforceAuth
from ._backoff import DEFAULT_TOKEN_BACKOFF
from ._errors import SalesforceAuthError, TokenRequestError, TokenRevocationError
from ._file_store import FileTokenStore
from ._redis_store import RedisTokenStore
from ._session import SalesforceSession, SalesforceURLMixin
from ._stores import MemoryTokenStore, TokenStore

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_BACKOFF",
    "MAX_SENDS",
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
__version__ = "0.1.0"  # the one source: the build reads it (pyproject.toml), and so does the CLI
