"""``SalesforceAuth``: the requests auth plugin, and the whole send-and-resend path.

A request leaves through :meth:`SalesforceAuth.__call__`, which adds the token when the URL is
on one of the org's origins. Its answer comes back through :meth:`SalesforceAuth._on_response`.
An accepted answer is returned at once. A rejected one (401, or the Bulk API's 400
``InvalidSessionId``) goes to :meth:`SalesforceAuth._resend_after_rejection`, which asks the
lifecycle for a token to resend with and resends, at most :data:`MAX_SENDS` sends in all. When
to fetch, and when to wait instead, is the lifecycle's (:mod:`requests_sf_auth._lifecycle`).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar

from ._backoff import DEFAULT_TOKEN_BACKOFF, BackoffPolicy, seconds
from ._errors import SalesforceAuthError
from ._grants import ClientCredentialsGrant, Grant
from ._lifecycle import RenewalPolicy, TokenLifecycle
from ._secrets import SecretText
from ._stores import TokenStore
from ._token import Token, TokenEndpoint, scope_text
from ._transport import Timeout, environment_proxy, proxy_variables_set
from ._urls import Origin, allowed_origins, parse_domain
from ._urls import api_version as parse_api_version
from ._usage import LIMIT_INFO_HEADER, ApiUsage, UsageMeter

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_TIMEOUT", "MAX_SENDS", "SalesforceAuth"]

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "67.0"
DEFAULT_TIMEOUT: Timeout = (10.0, 30.0)
"""Token requests give up after 10 s connecting or 30 s waiting, and 40 s in all."""

MAX_SENDS = 3
"""How many times one request is sent at most, the first time included. A rejected token is
renewed and the request resent; when the resend's token was itself ended by a later expiry
before it arrived, it is renewed and resent once more. Then the rejection is returned."""

_BULK_PATH = "/services/async/"
_BULK_HEADER = "X-SFDC-Session"
_VERSIONS_PATHS = ("/services/data", "/services/data/")  # answered without a token
# What HTTPAdapter.send takes. Hooks may receive more: requests-cache, for one, passes
# allow_redirects along, which the adapter would refuse.
_ADAPTER_KWARGS = frozenset({"stream", "timeout", "verify", "cert", "proxies"})


class SalesforceAuth(AuthBase):
    """Authenticates requests to one Salesforce org with the OAuth 2.0 client-credentials flow.

    Attach it as ``auth=`` to a request or a session. It fetches a token on the first request
    that needs one, reuses it until Salesforce rejects it, then fetches one new token and sends
    the rejected request again. Constructing it makes no network call.

    The ``Authorization: Bearer`` header goes only to the org's instance URL, to ``domain``
    and to ``allowed_hosts`` (each compared by scheme, host and port); requests to any other
    origin pass through untouched. One instance may be shared by any number of threads and
    sessions: concurrent requests that need a token cause a single token request.

    What failure costs grows with time, never with traffic. After a failed token request, or
    when Salesforce refuses fresh tokens, token requests pause for ``token_backoff[0]``
    seconds, doubling up to ``token_backoff[1]``: meanwhile a request without a token fails
    fast with the last error, and a rejected one gets its 401 back as it is. Renewals after a
    rejection, however many requests see it, spend an allowance of 20 that earns one back a
    minute; past it, 401s also come back as they are.

    Requests to the Bulk API 1.0 (``/services/async/``) also get the ``X-SFDC-Session``
    header it requires, and its expired-session answer (400 ``InvalidSessionId``) is treated
    like a 401.

    Optional renewal before expiry (see :class:`~requests_sf_auth._lifecycle.RenewalPolicy`):
    ``token_lifetime`` (seconds or a ``timedelta``, the org's session timeout) and
    ``introspect=True`` renew a token ``leeway`` before it would die, in the background while
    requests go on with the current one. ``verify_signature=True`` rejects a token response
    whose ``signature`` is not ``base64(HMAC-SHA256(client_secret, id + issued_at))``.
    ``on_token`` is called with each new token's metadata, never the token. Used as a context
    manager, it closes its token session on exit and, with ``revoke_on_exit=True``, revokes
    the token first.

    ``token_store`` shares the token with other processes or machines (see
    :class:`~requests_sf_auth.TokenStore`): only one of them fetches at a time, and a rejected
    token is replaced once for all of them.

    Raises ``ValueError`` at construction for an invalid argument. Requests raise
    :class:`~requests_sf_auth.TokenRequestError` when no token can be had, and the usual
    ``requests`` exceptions when the token endpoint cannot be reached.
    """

    def __init__(
        self,
        domain: str,
        client_id: str,
        client_secret: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        scope: str | Iterable[str] | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        allowed_hosts: Iterable[str] = (),
        token_session: requests.Session | None = None,
        token_lifetime: float | timedelta | None = None,
        leeway: float | timedelta = 60.0,
        introspect: bool = False,
        token_backoff: tuple[float, float] = DEFAULT_TOKEN_BACKOFF,
        verify_signature: bool = False,
        revoke_on_exit: bool = False,
        on_token: Callable[[dict[str, Any]], object] | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        origin, token_url = parse_domain(domain)
        self._configure(
            origin,
            token_url,
            ClientCredentialsGrant(client_id, client_secret),
            api_version=api_version,
            scope=scope,
            timeout=timeout,
            allowed_hosts=allowed_hosts,
            token_session=token_session,
            token_lifetime=token_lifetime,
            leeway=leeway,
            introspect=introspect,
            token_backoff=token_backoff,
            verify_signature=verify_signature,
            revoke_on_exit=revoke_on_exit,
            on_token=on_token,
            token_store=token_store,
        )

    def _configure(
        self,
        origin: Origin,
        token_url: str,
        grant: Grant,
        *,
        api_version: str = DEFAULT_API_VERSION,
        scope: str | Iterable[str] | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        allowed_hosts: Iterable[str] = (),
        token_session: requests.Session | None = None,
        token_lifetime: float | timedelta | None = None,
        leeway: float | timedelta = 60.0,
        introspect: bool = False,
        token_backoff: tuple[float, float] = DEFAULT_TOKEN_BACKOFF,
        verify_signature: bool = False,
        revoke_on_exit: bool = False,
        on_token: Callable[[dict[str, Any]], object] | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        """Everything but the grant, which is all that differs between flows. Subclasses for
        other flows call this with their own grant; the keyword options are the ones
        :class:`SalesforceAuth` documents."""
        for name, flag in (
            ("introspect", introspect),
            ("verify_signature", verify_signature),
            ("revoke_on_exit", revoke_on_exit),
        ):
            if not isinstance(flag, bool):
                # 'false' is a true value: a string here would switch the option on.
                raise ValueError(f"{name} must be True or False, not {flag!r}")
        self.domain = origin.prefix
        """The org's My Domain URL, e.g. ``https://acme.my.salesforce.com``."""
        self.api_version = parse_api_version(api_version)
        """The REST API version relative paths resolve under, e.g. ``"67.0"``."""
        self.allowed_origins = frozenset({origin, *allowed_origins(allowed_hosts)})
        """Origins that always receive the token, besides the instance URL's."""
        if token_session is not None and not isinstance(token_session, requests.Session):
            raise ValueError(
                f"token_session must be a requests.Session, not {type(token_session).__name__}"
            )
        endpoint = TokenEndpoint(
            url=token_url,
            grant=grant,
            scope=scope_text(scope),
            timeout=timeout,
            verify_signature=verify_signature,
            allowed_origins=self.allowed_origins,
        )
        if introspect and grant.client_secret is None:
            raise ValueError(
                "introspect=True needs the client secret, which Salesforce's introspection "
                "endpoint authenticates the app with, and this flow has none; set "
                "token_lifetime= to the org's session timeout instead"
            )
        policy = RenewalPolicy(
            lifetime=None if token_lifetime is None else seconds("token_lifetime", token_lifetime),
            leeway=seconds("leeway", leeway, allow_zero=True),
            introspect=introspect,
            on_token=on_token,
        )
        self.revoke_on_exit = revoke_on_exit
        """Whether leaving a ``with`` block revokes the token."""
        if token_store is not None and (
            isinstance(token_store, type) or not isinstance(token_store, TokenStore)
        ):
            raise ValueError(
                "token_store must be a store instance that provides load, save, delete and lock "
                "(see requests_sf_auth.TokenStore), e.g. FileTokenStore(path), not "
                f"{type(token_store).__name__}"
            )
        self._lifecycle = TokenLifecycle(
            endpoint, token_session, policy, BackoffPolicy.parse(token_backoff), token_store
        )
        self._usage = UsageMeter()

    @property
    def client_id(self) -> str:
        """The external client app's Consumer Key."""
        return self._lifecycle.endpoint.client_id

    @property
    def token_url(self) -> str:
        """Where tokens are requested: ``{domain}/services/oauth2/token``."""
        return self._lifecycle.endpoint.url

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's API calls in the rolling 24 hours against its limit, from the last
        ``Sforce-Limit-Info`` header an answer from the org carried (``.used``, ``.limit``);
        ``None`` before the first. Reading it makes no request. Past 90% of the limit, one
        warning is logged."""
        return self._usage.usage

    @property
    def token(self) -> dict[str, Any] | None:
        """A copy of the current token response as Salesforce sent it, or ``None``.

        Reading it never fetches.
        """
        token = self._lifecycle.token
        return dict(token.response) if token is not None else None

    @property
    def instance_url(self) -> str:
        """The org's instance URL, fetching a token first if none is held."""
        return self._lifecycle.current().instance_url

    def fetch_token(self) -> dict[str, Any]:
        """Fetch a new token now, make it the current one, and return a copy of its response.

        It always asks the token endpoint, even while token requests are paused after
        failures. If another thread is already fetching, this waits for that fetch instead of
        starting a second one.
        """
        return dict(self._lifecycle.fetch().response)

    def revoke(self) -> bool:
        """Revoke the current token at the org and forget it; the next request fetches a new
        one. Returns False when no token was held or it was already invalid, so revoking twice
        is harmless. Raises :class:`~requests_sf_auth.TokenRevocationError` (or a ``requests``
        exception) when the org cannot revoke it; the token is then kept."""
        return self._lifecycle.revoke()

    def close(self) -> None:
        """Release the connections of the private token session. The auth stays usable."""
        self._lifecycle.close()

    def __enter__(self) -> SalesforceAuth:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self.revoke_on_exit:
                try:
                    self.revoke()
                except requests.RequestException as error:
                    if exc is None:
                        raise
                    # Never mask the exception that is already leaving the block.
                    log.warning("could not revoke the token on exit: %s", error)
        finally:
            self.close()

    # -- sending ------------------------------------------------------------------------------

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = r.url or ""
        token = self._lifecycle.token
        # Fast path: a held token and a URL on its instance, the common case, costs one
        # string comparison and no parsing.
        if token is None or not url.startswith(token.instance_prefix):
            origin = Origin.of(url)
            if origin is None or not self._is_ours(origin, token):
                return r
            if url.startswith("http:"):  # before a token is fetched for nothing
                _refuse_cleartext_proxy(url)
            token = self._lifecycle.current()
            if not self._is_ours(origin, token):
                return r
        else:
            if url.startswith("http:") and proxy_variables_set():  # one call when none is set
                _refuse_cleartext_proxy(url)
            if token.renew_at is not None and token.is_due():  # inline: no call when unset
                # Starts the background renewal. This request keeps the token its URL was
                # checked against, even if a new one lands meanwhile.
                self._lifecycle.current()
        # _attach(r, token), inline: this is the hot path.
        r.headers["Authorization"] = token.authorization
        if _BULK_PATH in url and urlsplit(url).path.startswith(_BULK_PATH):
            r.headers[_BULK_HEADER] = token.access_token
        r.hooks["response"].append(self._on_response)
        return r

    def _is_ours(self, origin: Origin, token: Token | None) -> bool:
        return origin in self.allowed_origins or (
            token is not None and origin == token.instance_origin
        )

    # -- answers ------------------------------------------------------------------------------

    def _on_response(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        # Every answer passes through here, so the common case, an answer from the instance
        # to a held token, costs a prefix test, two identity tests and handing the headers to
        # the usage meter, and returns.
        lifecycle = self._lifecycle
        token = lifecycle.token
        if getattr(r, "from_cache", False):
            pass  # requests-cache or CacheControl: the usage of when the answer was stored
        elif token is not None and (r.url or "").startswith(token.instance_prefix):
            self._usage.note(r.headers)
        elif LIMIT_INFO_HEADER in r.headers:
            self._note_usage(r)
        if r.status_code < 300:
            if lifecycle.accepted_token is not token:
                self._note_acceptance(r)
            return r
        if _is_rejection(r):
            return self._resend_after_rejection(r, kwargs)
        if _proves_the_token(r):  # before a redirect strips the header it reads
            self._note_acceptance(r)
        if r.is_redirect:
            self._keep_credentials_on_our_origins(r.request, r)
        return r

    def _note_usage(self, r: requests.Response) -> None:
        # A redirect may lead to another host, whose word on the org's usage is not taken.
        url, token = r.url or "", self._lifecycle.token
        if token is not None and url.startswith(token.instance_prefix):
            self._usage.note(r.headers)
            return
        origin = Origin.of(url)
        if origin is not None and self._is_ours(origin, token):
            self._usage.note(r.headers)

    def _note_acceptance(self, r: requests.Response) -> None:
        """Salesforce checks the session before anything else, so any answer but a rejection
        or an error of its own proves the token, except the version list, which needs none."""
        sent = _credential(r.request.headers.get("Authorization"))
        path = urlsplit(r.request.url or "").path
        if isinstance(sent, str) and path not in _VERSIONS_PATHS:
            self._lifecycle.accepted(sent)

    def _resend_after_rejection(
        self, rejected: requests.Response, kwargs: dict[str, Any]
    ) -> requests.Response:
        """Renew the rejected token and send the request again while :data:`MAX_SENDS` and
        the lifecycle allow; otherwise return the last rejection as it is."""
        original, sends = rejected.request, 1
        while sends < MAX_SENDS:
            request = rejected.request
            origin = Origin.of(request.url or "")
            # A redirect hop to another origin carries our hook but not the token; its
            # rejection is not ours to answer.
            if origin is None or not self._is_ours(origin, self._lifecycle.token):
                return rejected
            url = request.url or ""
            path = urlsplit(url).path
            sent = _credential(request.headers.get("Authorization"))
            try:
                token, reason, renewed = self._token_to_resend(sent, rejected.status_code)
                # Logged only now: a log handler that calls the org then finds the new token.
                if token is None or not self._is_ours(origin, token):
                    log.info("%s %s: %s; returned as it is", request.method, path, reason)
                    return rejected
                if url.startswith("http:"):
                    _refuse_cleartext_proxy(url)
            except BaseException:
                rejected.close()
                raise
            log.info("%s %s: %s; resending", request.method, path, reason)
            resent = _resend(rejected, token, kwargs)
            if resent is None:
                log.info(
                    "not resending %s %s: its body cannot be rewound; the next request uses "
                    "the new token",
                    request.method,
                    path,
                )
                return rejected
            self._note_usage(resent)  # no hooks ran on it
            sends += 1
            if not _is_rejection(resent):
                if _proves_the_token(resent):
                    # Only an accepted renewal ends a failure streak: a hop resent with the
                    # token it lacked proves nothing about the last renewal.
                    self._lifecycle.accepted(token.authorization, after_renewal=renewed)
                if resent.is_redirect:
                    # requests builds the next hop from the request it sent first, not from
                    # the resent copy: give that one the new credentials, and keep them from
                    # following the redirect where they must not go.
                    for name in ("Authorization", _BULK_HEADER):
                        if name in resent.request.headers:
                            original.headers[name] = resent.request.headers[name]
                    self._keep_credentials_on_our_origins(original, resent)
                return resent
            rejected = resent
        return rejected

    def _token_to_resend(
        self, sent: SecretText | None, status: int
    ) -> tuple[Token | None, str, bool]:
        """The token to resend a rejected request with (``None``: return the rejection), why,
        and whether it is a renewal."""
        if isinstance(sent, str) and sent.startswith("Bearer "):
            reason = f"rejected with HTTP {status}"
            return self._lifecycle.replacement_for(sent, reason=reason), reason, True
        # A redirect hop to one of our origins that requests sent without the token: it strips
        # Authorization when the host changes, and puts a ~/.netrc entry for the host in its
        # place. The token was never tried here, so it is sent as it is, with no renewal.
        reason = f"a redirect to it was sent {'with other' if sent else 'without'} credentials"
        return self._lifecycle.token, reason, False

    def _keep_credentials_on_our_origins(
        self, request: requests.PreparedRequest, redirect: requests.Response
    ) -> None:
        """requests copies the next hop of a redirect from ``request``. It strips
        Authorization when the host changes, but not from http to https on the same host
        (another origin), and it knows nothing of X-SFDC-Session. So both are removed here
        when the target is not one of our origins; to one of ours the token may go anyway."""
        target = Origin.of(urljoin(redirect.url, redirect.headers.get("location", "")))
        if target is None or not self._is_ours(target, self._lifecycle.token):
            request.headers.pop("Authorization", None)
            request.headers.pop(_BULK_HEADER, None)

    def __repr__(self) -> str:
        held = "held" if self._lifecycle.token is not None else "none"
        return (
            f"{type(self).__name__}(domain={self.domain!r}, client_id={self.client_id!r}, "
            f"{self._describe_grant()}api_version={self.api_version!r}, token={held})"
        )

    def _describe_grant(self) -> str:
        """What a flow adds to the repr, as ``name=value, `` pairs; never a credential."""
        return ""


def _attach(r: requests.PreparedRequest, token: Token) -> None:
    """Put ``token`` on ``r``: the Bearer header, and for the Bulk API 1.0 the session header
    it wants instead."""
    r.headers["Authorization"] = token.authorization
    url = r.url or ""
    if _BULK_PATH in url and urlsplit(url).path.startswith(_BULK_PATH):
        r.headers[_BULK_HEADER] = token.access_token


def _refuse_cleartext_proxy(url: str) -> None:
    """Plain http is allowed for loopback orgs only, and requests would still hand such a
    request to a proxy from the environment, which would read the token. The plugin cannot
    steer the caller's session around it, so it refuses to send the token at all."""
    proxy = environment_proxy(url)
    if proxy is not None:
        host = urlsplit(url).hostname
        raise SalesforceAuthError(
            f"not sending the token to plain-http {host}: the proxy {proxy} from HTTP_PROXY "
            f"or ALL_PROXY would read it in cleartext; add {host} to NO_PROXY, or serve the "
            "org over https"
        )


def _credential(value: object) -> SecretText | None:
    return SecretText(value) if isinstance(value, str) else None


def _proves_the_token(r: requests.Response) -> bool:
    """Salesforce checks the session first: an answer that is neither a rejection nor a
    server error was given to a live session. That includes a 3xx from its APIs (under
    ``/services/``: 300 for an ambiguous external id, 304 Not Modified, a redirect), but not
    from its pages, which send a dead session to the login page."""
    status = r.status_code
    if status < 300:
        return True
    if status < 400:
        return urlsplit(r.request.url or "").path.startswith("/services/")
    return status < 500 and not _is_rejection(r)


def _is_rejection(r: requests.Response) -> bool:
    """Salesforce's answer to a dead session: 401, or the Bulk API 1.0's 400 with
    ``InvalidSessionId`` in the body."""
    if r.status_code == 401:
        return True
    return (
        r.status_code == 400
        and _BULK_HEADER in r.request.headers
        # Read even under stream=True: the answer is a short error, and a body that cannot
        # be decoded raises here as it would on the caller's own read, never passing as b"".
        and b"InvalidSessionId" in r.content
    )


def _resend(
    rejected: requests.Response, token: Token, send_kwargs: dict[str, Any]
) -> requests.Response | None:
    """Send ``rejected.request`` again with ``token``, the way requests' own
    ``HTTPDigestAuth.handle_401`` does: consume and close the rejected answer so its connection
    returns to the pool, copy the request, rewind its body, carry over cookies the rejection
    set, send through the same adapter with the adapter's share of ``send_kwargs``, and keep
    the rejection in ``history``. ``None``, sending nothing, when the body cannot be rewound.
    """
    prep = rejected.request.copy()
    if not _rewind(prep):
        return None
    # Reading the body lets the connection go back to the pool; an unreadable one only costs
    # the connection, which close() then drops, and the resend goes on.
    with contextlib.suppress(requests.RequestException):
        rejected.content  # noqa: B018
    rejected.close()

    jar = getattr(prep, "_cookies", None)
    if isinstance(jar, RequestsCookieJar):
        extract_cookies_to_jar(jar, rejected.request, rejected.raw)
        prep.prepare_cookies(jar)
    _attach(prep, token)

    kwargs = {k: v for k, v in send_kwargs.items() if k in _ADAPTER_KWARGS}
    response: requests.Response = rejected.connection.send(prep, **kwargs)
    response.history = [*rejected.history, rejected]
    response.request = prep
    return response


def _rewind(request: requests.PreparedRequest) -> bool:
    """Put the body back where it started; False when that is impossible.

    No body, ``bytes`` and ``str`` (which is what form data, ``json=`` and multipart ``files=``
    are prepared into) need nothing. A file-like body goes back to the position requests
    recorded when it prepared the request, not to 0. Generators, iterators and unseekable
    streams cannot be rewound.
    """
    # Typed as bytes | str | None, but requests stores file objects and generators here too.
    body: object = request.body
    if body is None or isinstance(body, (bytes, str)):
        return True
    position = getattr(request, "_body_position", None)
    seek = getattr(body, "seek", None)
    if not isinstance(position, int) or seek is None:
        return False
    try:
        seek(position)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return True
