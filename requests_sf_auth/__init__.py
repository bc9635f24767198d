"""Salesforce OAuth 2.0 authentication for ``requests``.

``SalesforceAuth`` (client credentials) and ``SalesforceJWTAuth`` (JWT bearer) fetch a token
lazily, scope it to the org's hosts and renew it once on HTTP 401; ``SalesforceSession`` adds
URLs relative to the org's REST API.
"""

from ._auth import DEFAULT_API_VERSION, DEFAULT_TIMEOUT, MAX_SENDS, SalesforceAuth
from ._backoff import DEFAULT_TOKEN_BACKOFF
from ._errors import SalesforceAuthError, TokenRequestError, TokenRevocationError
from ._file_store import FileTokenStore
from ._jwt_auth import SalesforceJWTAuth
from ._redis_store import RedisTokenStore
from ._session import SalesforceSession, SalesforceURLMixin
from ._stores import MemoryTokenStore, TokenStore
from ._usage import ApiUsage

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_BACKOFF",
    "MAX_SENDS",
    "ApiUsage",
    "FileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "SalesforceAuth",
    "SalesforceAuthError",
    "SalesforceJWTAuth",
    "SalesforceSession",
    "SalesforceURLMixin",
    "TokenRequestError",
    "TokenRevocationError",
    "TokenStore",
]
__version__ = "0.1.0"  # the one source: the build reads it (pyproject.toml), and so does the CLI
