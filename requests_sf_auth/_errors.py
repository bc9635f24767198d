"""Every exception the package raises, and the plain-language fixes for Salesforce's token errors.

All exceptions derive from :class:`requests.RequestException`, so code that already catches
``requests.RequestException`` around its API calls also catches a failed token request.
No message built here ever contains a client secret or an access token.
"""

from __future__ import annotations

import requests

__all__ = [
    "SalesforceAuthError",
    "TokenRequestError",
    "TokenRevocationError",
    "hint_for",
]

# Keyed by (error, error_description) as Salesforce sends them; an entry with description None
# covers every description of that error code. Facts: ../shared/SALESFORCE.md.
_HINTS: dict[tuple[str, str | None], str] = {
    ("invalid_grant", "request not supported on this domain"): (
        "use your org's My Domain URL (https://MYDOMAIN.my.salesforce.com), "
        "not login.salesforce.com or test.salesforce.com"
    ),
    ("invalid_grant", "no client credentials user enabled"): (
        "in the external client app's OAuth policies, enable the Client Credentials Flow "
        "and choose a 'Run As' user"
    ),
    ("invalid_grant", "login rate exceeded"): (
        "the run-as user made more than 3,600 token requests in an hour; share one "
        "SalesforceAuth between threads so tokens are reused, and wait for the hour to pass"
    ),
    ("invalid_grant", "ip restricted or invalid login hours"): (
        "relax the app's IP restrictions, or widen the run-as user's profile login IP ranges "
        "and login hours"
    ),
    ("invalid_grant", "authentication failure"): (
        "check that the run-as user is active and that the external client app is enabled "
        "for this org"
    ),
    # The JWT bearer flow's refusals.
    ("invalid_grant", "user hasn't approved this consumer"): (
        "pre-authorise the user for the app: set its Permitted Users to 'Admin approved users "
        "are pre-authorized' and give the user's profile or a permission set access to it"
    ),
    ("invalid_grant", "audience is invalid"): (
        "set audience= to the login server: https://login.salesforce.com for production, "
        "https://test.salesforce.com for sandboxes, or the Experience Cloud site's URL"
    ),
    ("invalid_grant", "invalid assertion"): (
        "check that the private key matches the certificate uploaded to the app, that "
        "client_id is that app's Consumer Key, and that username is the user's exact username"
    ),
    ("invalid_grant", "expired"): (
        "the assertion had expired when it arrived: set this machine's clock right (NTP); "
        "Salesforce tolerates little clock skew"
    ),
    ("invalid_grant", None): (
        "check the app's client-credentials policy and its run-as user, and that you use "
        "the org's My Domain URL"
    ),
    ("invalid_client_id", None): (
        "check client_id: it is the Consumer Key of the external client app"
    ),
    ("invalid_client", None): (
        "check client_secret: it is the Consumer Secret of the external client app, "
        "and it must belong to the same app as client_id"
    ),
    ("unsupported_grant_type", None): (
        "enable the Client Credentials Flow on the external client app; the request must "
        "send grant_type=client_credentials"
    ),
    ("inactive_user", None): "the run-as user is deactivated; choose an active run-as user",
    ("inactive_org", None): "the org is inactive or locked; check its status in Setup",
    ("rate_limit_exceeded", None): "too many requests; back off before asking for a token again",
    ("invalid_scope", None): (
        "the requested scope is not allowed by the app; change scope= or the app's OAuth scopes"
    ),
    ("invalid_request", None): (
        "the token request was malformed; check the domain and that no proxy rewrites it"
    ),
}


def hint_for(error: str | None, description: str | None) -> str | None:
    """The one-line fix for a Salesforce token error, or ``None`` when none is known."""
    if error is None:
        return None
    exact = _HINTS.get((error, (description or "").strip().lower()))
    return exact if exact is not None else _HINTS.get((error, None))


class SalesforceAuthError(requests.RequestException):
    """Base class of every error raised by requests-sf-auth.

    It is a :class:`requests.RequestException`, so existing ``except requests.RequestException``
    handlers catch it.
    """


class TokenRequestError(SalesforceAuthError):
    """The token endpoint refused to issue a token, or answered with something unusable.

    ``error`` and ``error_description`` are Salesforce's OAuth error fields when it sent them
    (``None`` for an HTML page, an empty body, or another answer that is not an OAuth error);
    ``status_code`` is the HTTP status, or ``None`` when the failure is in the response content
    itself. ``hint`` is a one-line fix when one is known. ``retry_after`` is set on an error
    raised without asking, while token requests are paused after failures (``token_backoff``):
    the seconds until the next attempt. The message names all of these and a short snippet of
    an unexpected answer, never the client secret or a token.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status_code: int | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.error = error
        self.error_description = error_description
        self.status_code = status_code
        self.hint = hint
        self.retry_after = retry_after
        full = f"{message}; fix: {hint}" if hint else message
        # No response or request is attached: the token request's body holds the secret.
        super().__init__(full)

    def again(self, note: str, *, retry_after: float | None) -> TokenRequestError:
        """A copy of this error with ``note`` added to its message, to raise once more."""
        return TokenRequestError(
            f"{self.message}; {note}",
            error=self.error,
            error_description=self.error_description,
            status_code=self.status_code,
            hint=self.hint,
            retry_after=retry_after,
        )


class TokenRevocationError(SalesforceAuthError):
    """The org refused to revoke a token for a reason other than it being already invalid.

    ``error`` is Salesforce's OAuth error code when it sent one, ``status_code`` the HTTP
    status. The message never contains the token.
    """

    def __init__(self, message: str, *, error: str | None, status_code: int) -> None:
        self.error = error
        self.status_code = status_code
        super().__init__(message)
