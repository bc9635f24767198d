"""Sessions that accept paths relative to the org's REST API, like ``sobjects/Account``."""

from __future__ import annotations

import copy
from typing import Any

import requests

from ._auth import SalesforceAuth
from ._urls import Origin, resolve_api_url

__all__ = ["SalesforceSession", "SalesforceURLMixin"]


class SalesforceURLMixin:
    """Gives any ``requests.Session`` subclass Salesforce-relative URLs.

    Put it first among the bases, and set the session's ``auth`` (or a request's ``auth=``) to
    a :class:`~requests_sf_auth.SalesforceAuth`::

        class CachedSalesforceSession(SalesforceURLMixin, requests_cache.CachedSession):
            pass

    A URL without a scheme is resolved by RFC 3986 against
    ``{instance_url}/services/data/v{api_version}/`` (see
    :func:`requests_sf_auth._urls.resolve_api_url`), fetching a token first if the instance URL
    is not yet known. Absolute URLs are untouched. The caller's ``requests.Request`` is never
    modified.
    """

    auth: Any

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        url = request.url
        if isinstance(url, bytes):
            url = url.decode("utf-8")
        if isinstance(url, str) and Origin.of(url) is None:
            auth = request.auth if request.auth is not None else self.auth
            if not isinstance(auth, SalesforceAuth):
                raise ValueError(
                    f"cannot resolve the relative URL {url!r}: the session's auth must be a "
                    f"SalesforceAuth, not {type(auth).__name__}"
                )
            request = copy.copy(request)
            request.url = resolve_api_url(url, auth.instance_url, auth.api_version)
        prepared: requests.PreparedRequest = super().prepare_request(request)  # type: ignore[misc]
        return prepared


class SalesforceSession(SalesforceURLMixin, requests.Session):
    """A ``requests.Session`` whose ``auth`` is a :class:`~requests_sf_auth.SalesforceAuth` and
    which resolves relative URLs against the org's REST API::

        with SalesforceSession(auth) as sf:
            sf.get("sobjects/Account/describe")  # {instance_url}/services/data/v67.0/sobjects/...
            sf.get("/services/data/")            # keeps its own path

    Everything else is a plain ``requests.Session``: mount adapters, add hooks, set proxies.
    Like any session, it may be used from several threads for requests, as long as its
    settings are not changed meanwhile. It pickles with its auth but without the token, so an
    unpickled copy (in another process, say) fetches its own.
    """

    def __init__(self, auth: SalesforceAuth) -> None:
        if not isinstance(auth, SalesforceAuth):
            raise ValueError(
                f"SalesforceSession needs a SalesforceAuth, not {type(auth).__name__}; "
                "for other auth use requests.Session"
            )
        super().__init__()
        self.auth = auth

    def __repr__(self) -> str:
        return f"<SalesforceSession {self.auth!r}>"
