"""``LocalOrg``: a Salesforce org on loopback that behaves as the real service does for this
flow (token endpoint and its errors, REST API, 401 ``INVALID_SESSION_ID``, introspection,
revocation), and that tests can steer and inspect.

It is a real HTTP/1.1 server with keep-alive on 127.0.0.1 and a free port, optionally HTTPS
with a throwaway CA (that needs the ``testing`` extra, for ``trustme``). Every method is
thread-safe. Facts it follows: ``shared/SALESFORCE.md`` in the project.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests

__all__ = ["TOKEN_FAILURES", "LocalOrg", "ReceivedRequest"]

_INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
_ORG_ID = "00D5g000004ABCD"
_USER_ID = "0055g000001WXYZ"


def _oauth_error(status: int, error: str, description: str) -> tuple[int, str, bytes]:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return status, "application/json", body


TOKEN_FAILURES: Mapping[str, tuple[int, str, bytes]] = {
    # The documented OAuth errors, as Salesforce sends them.
    "login_domain": _oauth_error(400, "invalid_grant", "request not supported on this domain"),
    "no_run_as_user": _oauth_error(400, "invalid_grant", "no client credentials user enabled"),
    "invalid_client_id": _oauth_error(400, "invalid_client_id", "client identifier invalid"),
    "invalid_client": _oauth_error(400, "invalid_client", "invalid client credentials"),
    "unsupported_grant_type": _oauth_error(
        400, "unsupported_grant_type", "grant type not supported"
    ),
    "login_rate_exceeded": _oauth_error(400, "invalid_grant", "login rate exceeded"),
    "ip_restricted": _oauth_error(400, "invalid_grant", "IP restricted or invalid login hours"),
    "authentication_failure": _oauth_error(400, "invalid_grant", "authentication failure"),
    "inactive_user": _oauth_error(400, "inactive_user", "user is inactive"),
    "inactive_org": _oauth_error(400, "inactive_org", "organization is inactive"),
    "rate_limit_exceeded": _oauth_error(400, "rate_limit_exceeded", "rate limit exceeded"),
    "invalid_scope": _oauth_error(400, "invalid_scope", "the requested scope is not allowed"),
    "invalid_request": _oauth_error(400, "invalid_request", "invalid request"),
    # What proxies, outages and broken deployments answer instead.
    "html_503": (
        503,
        "text/html",
        b"<html><head><title>Service Unavailable</title></head>"
        b"<body><h1>Maintenance</h1><p>Back soon.</p></body></html>",
    ),
    "empty_200": (200, "application/json", b""),
    "invalid_json_200": (200, "application/json", b'{"access_token": "00Dtruncated'),
    "missing_access_token": (200, "application/json", b'{"token_type": "Bearer"}'),
    "redirect_307": (307, "text/plain", b"moved"),
}
"""Canned token-endpoint failures for :meth:`LocalOrg.fail_token_requests`, by name.

Besides these, the org understands ``"missing_instance_url"`` and ``"http_instance_url"``
(a real token without ``instance_url``, or with one on plain http for a non-loopback host),
``"tampered_signature"`` and ``"missing_signature"`` (a real token whose ``signature`` is
wrong or absent),
``"echo_500"`` (an error page that echoes the request body, secret included, as a broken proxy
might), ``"echo_values_500"`` (an error page that lists the request's form values without their
names, the secret among them, as some gateways' block pages do), ``"hang"`` (accept the
request and never answer until the org stops), ``"trickle"`` (a real token answer sent one
byte every 0.2 s) and ``"huge_500"`` (a 30 MB error page).
"""
_TOKEN_TAMPERING = frozenset(
    {"missing_instance_url", "http_instance_url", "tampered_signature", "missing_signature"}
)
_TOKEN_FAULTS = frozenset(
    {
        *TOKEN_FAILURES,
        *_TOKEN_TAMPERING,
        "echo_500",
        "echo_values_500",
        "hang",
        "trickle",
        "huge_500",
    }
)
_HUGE_BODY = 30 * 1024 * 1024
_TRICKLE_SECONDS = 0.2


@dataclass
class ReceivedRequest:
    """One request as the org received it. ``token`` is the bearer token presented, if any;
    ``status`` is what the org answered (0 until it answers). Recorded before the answer is
    sent, so a client that has its response can always find its request here."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    token: str | None
    status: int


@dataclass
class _TokenRecord:
    issued_at: float
    last_used: float
    active: bool = True


@dataclass
class _State:
    tokens: dict[str, _TokenRecord] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    api_failures: list[int] = field(default_factory=list)
    failure_forever: str | None = None
    token_requests: int = 0
    api_requests: int = 0
    rejected_requests: int = 0
    introspect_requests: int = 0
    revoke_requests: int = 0
    received: list[ReceivedRequest] = field(default_factory=list)


class LocalOrg:
    """A fake Salesforce org on 127.0.0.1 for tests, started with ``with LocalOrg() as org:``.

    * ``url`` is both the My Domain URL and the ``instance_url`` its tokens carry; pass it,
      ``client_id`` and ``client_secret`` to :class:`~requests_sf_auth.SalesforceAuth`.
      With ``instance_host``, the tokens name the same server under that host name instead
      (:attr:`instance_url`), as a real org's instance may differ from its My Domain.
    * Token requests with the wrong client id or secret, or another grant type, get the
      same OAuth errors Salesforce sends. Tokens never expire by themselves unless
      ``session_timeout`` (idle seconds) is set.
    * ``GET /services/data/`` lists ``api_versions`` without a token. Any other path under
      ``/services/data/vNN.N/`` needs a live token, answers ``401 INVALID_SESSION_ID``
      otherwise, and echoes the request as JSON; ``chatter/users/me`` and
      ``sobjects/User/<the user id in a token's id>`` answer the run-as user's record,
      ``query?q=SOQL`` answers it as the one record found,
      ``test/redirect?to=URL&status=302`` redirects (``&expire=1`` also ends every session
      first; the Bulk API path has it too), and ``test/cookie?name=value`` sets a cookie.
    * ``/services/oauth2/introspect`` and ``/services/oauth2/revoke`` work as documented;
      ``exp`` is reported when ``session_timeout`` is set.
    * The Bulk API 1.0 under ``/services/async/`` wants ``X-SFDC-Session`` and answers a dead
      session with 400 ``InvalidSessionId``. It keeps no jobs: with a live session, any
      ``job/ID`` path answers 400 ``InvalidJob``, as the Bulk API does for an unknown job.

    Steer it with :meth:`expire_tokens`, :meth:`revoke_token`, :meth:`fail_token_requests`,
    :meth:`fail_api_requests`, ``token_delay``, ``reject_api_with``, ``api_cookies``,
    ``introspection``, ``token_factory``, ``answer_fields`` and ``token_answer``; read
    ``token_requests``, ``api_requests``, ``rejected_requests``, ``introspect_requests``,
    ``revoke_requests``, ``received`` and :meth:`live_tokens`.
    """

    def __init__(
        self,
        *,
        tls: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        api_versions: tuple[str, ...] = ("65.0", "66.0", "67.0"),
        session_timeout: float | None = None,
        record: bool = True,
        port: int = 0,
        instance_host: str | None = None,
    ) -> None:
        self.tls = tls
        self.port = port
        """The port to bind; 0 (the default) picks a free one."""
        self.instance_host = instance_host
        """A host name the tokens' ``instance_url`` gives this server instead of 127.0.0.1;
        under TLS the certificate names it too. The org cannot make the name resolve: the
        test points it at 127.0.0.1 (by patching ``socket.getaddrinfo``, say)."""
        self.client_id = client_id or "3MVG9" + secrets.token_urlsafe(30).replace("-", "x")
        self.client_secret = client_secret or secrets.token_hex(32).upper()
        self.api_versions = api_versions
        self.session_timeout = session_timeout
        self.record = record
        self.token_delay = 0.0
        """Seconds the token endpoint waits before answering."""
        self.reject_api_with: str | None = None
        """When set, every API call answers 401 with this message, whatever the token."""
        self.token_factory: Callable[[], str] | None = None
        """Makes the access tokens the org issues; random Salesforce-shaped ones when None."""
        self.introspection = "normal"
        """``"normal"``, ``"inactive"`` (answer ``{"active": false}``) or ``"error"`` (HTTP 503)."""
        self.answer_fields: dict[str, Any] = {}
        """Fields that replace or join those of every token answer the org issues, to test
        how a client copes with an odd answer (say ``{"expires_in": "abc"}``). Assign a new
        dict to change them while requests may be in flight; never change it in place."""
        self.token_answer: tuple[int, str, bytes] | None = None
        """When set, ``(status, content type, body)`` that every token request is answered
        with, whatever it asked and before any scheduled failure: any answer at all, to test
        how a client copes. Changed by assigning a new tuple, so a request in flight gets
        one whole answer, the old or the new."""
        self.clock_skew = 0.0
        """Seconds the org's clock is ahead of this machine's (negative: behind), as seen in
        ``issued_at`` and introspection's ``iat`` and ``exp``."""
        self.api_cookies: dict[str, str] = {}
        """Cookies set on every API answer, 401s included, as Salesforce sets ``BrowserId``."""
        self.ca_bundle: str | None = None
        """Path of the CA certificate (PEM) to verify the org with, when ``tls`` is on."""
        self.jwt_audience = "https://login.salesforce.com"
        """The ``aud`` the JWT bearer grant must name: the login server the org stands for."""
        self._jwt_keys: dict[str, str] = {}
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: Any = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> LocalOrg:
        """Bind ``port`` (a free one by default) on 127.0.0.1 and serve in a background
        thread."""
        context = self._tls_context() if self.tls else None
        self._server = _Server(("127.0.0.1", self.port), _Handler, org=self, context=context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="LocalOrg", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection; pending handlers are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
            self._server = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> LocalOrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``: the domain, and the instance URL unless
        ``instance_host`` names another."""
        if self._server is None:
            raise RuntimeError("the org is not started; use 'with LocalOrg() as org:'")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def instance_url(self) -> str:
        """The ``instance_url`` of the tokens the org issues: ``url``, or the same server
        under ``instance_host``."""
        if self.instance_host is None:
            return self.url
        return self.url.replace("127.0.0.1", self.instance_host, 1)

    def _tls_context(self) -> ssl.SSLContext:
        try:
            import trustme
        except ImportError:
            raise RuntimeError(
                "LocalOrg(tls=True) needs trustme: pip install 'requests-sf-auth[testing]'"
            ) from None
        import tempfile

        ca = trustme.CA()
        names = ["127.0.0.1", "localhost"]
        if self.instance_host is not None:
            names.append(self.instance_host)
        cert = ca.issue_cert(*names)
        self._tempdir = tempfile.TemporaryDirectory(prefix="localorg-")
        self.ca_bundle = f"{self._tempdir.name}/ca.pem"
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    # -- conveniences for tests ---------------------------------------------------------------

    def auth(self, **kwargs: Any) -> Any:
        """A :class:`~requests_sf_auth.SalesforceAuth` for this org (verifying its CA under
        TLS); keyword arguments are passed through."""
        from requests_sf_auth import SalesforceAuth

        if self.tls and "token_session" not in kwargs:
            token_session = requests.Session()
            token_session.verify = self.ca_bundle or True
            kwargs["token_session"] = token_session
        return SalesforceAuth(self.url, self.client_id, self.client_secret, **kwargs)

    def session(self, auth: Any = None, **kwargs: Any) -> Any:
        """A :class:`~requests_sf_auth.SalesforceSession` for this org; ``kwargs`` go to
        :meth:`auth` when no ``auth`` is given. Under TLS it verifies the org's CA and ignores
        environment settings (``trust_env=False``), which would otherwise replace that CA."""
        from requests_sf_auth import SalesforceSession

        session = SalesforceSession(auth if auth is not None else self.auth(**kwargs))
        if self.tls:
            session.verify = self.ca_bundle or True
            # requests lets REQUESTS_CA_BUNDLE override session.verify; the org's own CA must win.
            session.trust_env = False
        return session

    def trust_jwt_key(self, username: str, public_key: str) -> None:
        """Pre-authorise ``username`` for the JWT bearer grant with ``public_key`` (PEM), as
        uploading a certificate to the app and approving the user would. Assertions signed
        with the matching private key then get a token (needs the ``jwt`` extra)."""
        with self._lock:
            self._jwt_keys = {**self._jwt_keys, username: public_key}

    def jwt_auth(self, username: str, private_key: str, **kwargs: Any) -> Any:
        """A :class:`~requests_sf_auth.SalesforceJWTAuth` for this org and ``username``
        (verifying its CA under TLS); keyword arguments are passed through."""
        from requests_sf_auth import SalesforceJWTAuth

        if self.tls and "token_session" not in kwargs:
            token_session = requests.Session()
            token_session.verify = self.ca_bundle or True
            kwargs["token_session"] = token_session
        return SalesforceJWTAuth(self.url, self.client_id, username, private_key, **kwargs)

    # -- steering -----------------------------------------------------------------------------

    def expire_tokens(self) -> int:
        """End every live session, as an idle timeout would; returns how many ended."""
        with self._lock:
            live = [r for r in self._state.tokens.values() if r.active]
            for record in live:
                record.active = False
            return len(live)

    def revoke_token(self, token: str) -> bool:
        """Revoke one token, as an admin would; False if it was not live."""
        with self._lock:
            record = self._state.tokens.get(token)
            if record is None or not record.active:
                return False
            record.active = False
            return True

    def fail_token_requests(self, failure: str, times: int | None = 1) -> None:
        """Answer the next ``times`` token requests (all of them for ``None``) with ``failure``:
        a key of :data:`TOKEN_FAILURES` or one of the other failures listed beside it. An
        unknown name raises ``ValueError`` listing them all."""
        if failure not in _TOKEN_FAULTS:
            raise ValueError(f"unknown failure {failure!r}; choose from {sorted(_TOKEN_FAULTS)}")
        with self._lock:
            if times is None:
                self._state.failure_forever = failure
            else:
                self._state.failures.extend([failure] * times)

    def fail_api_requests(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` API requests with ``status`` (a 5xx, say) and an error
        body, whatever their token, as an overloaded instance would. The version list, which
        needs no token, is not counted among them."""
        with self._lock:
            self._state.api_failures.extend([status] * times)

    def heal(self) -> None:
        """Clear every scheduled failure, the token delay and ``reject_api_with``."""
        with self._lock:
            self._state.api_failures.clear()
            self._state.failures.clear()
            self._state.failure_forever = None
        self.token_delay = 0.0
        self.reject_api_with = None

    # -- observing ----------------------------------------------------------------------------

    @property
    def token_requests(self) -> int:
        """Token requests received, failed ones included."""
        return self._state.token_requests

    @property
    def api_requests(self) -> int:
        """Requests received under ``/services/data/vNN.N/`` and the Bulk API's
        ``/services/async/``."""
        return self._state.api_requests

    @property
    def rejected_requests(self) -> int:
        """API requests refused for their session: 401, or the Bulk API's 400
        ``InvalidSessionId``."""
        return self._state.rejected_requests

    @property
    def introspect_requests(self) -> int:
        """Requests received at ``/services/oauth2/introspect``."""
        return self._state.introspect_requests

    @property
    def revoke_requests(self) -> int:
        """Requests received at ``/services/oauth2/revoke``."""
        return self._state.revoke_requests

    @property
    def received(self) -> list[ReceivedRequest]:
        """Every request received, oldest first (empty when ``record=False``)."""
        with self._lock:
            return list(self._state.received)

    def token_issued_at(self, token: str) -> float | None:
        """When the org issued ``token`` (``time.time()``), or None if it never did."""
        with self._lock:
            record = self._state.tokens.get(token)
            return record.issued_at if record is not None else None

    def live_tokens(self) -> list[str]:
        """Tokens that would be accepted now."""
        with self._lock:
            return [t for t, r in self._state.tokens.items() if self._is_live(r, time.time())]

    # -- the service's rules ------------------------------------------------------------------

    def _is_live(self, record: _TokenRecord, now: float) -> bool:
        if not record.active:
            return False
        if self.session_timeout is not None and now - record.last_used > self.session_timeout:
            record.active = False
            return False
        return True

    def _use_token(self, token: str | None) -> bool:
        if token is None:
            return False
        now = time.time()
        with self._lock:
            record = self._state.tokens.get(token)
            if record is None or not self._is_live(record, now):
                return False
            record.last_used = now
            return True

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._state.failures:
                return self._state.failures.pop(0)
            return self._state.failure_forever

    def _issue_token(self, *, jwt: bool = False) -> dict[str, Any]:
        factory = self.token_factory
        token = factory() if factory is not None else f"{_ORG_ID}!AR8AQ{secrets.token_urlsafe(64)}"
        now = time.time()
        with self._lock:
            self._state.tokens[token] = _TokenRecord(issued_at=now, last_used=now)
        issued_at = str(int((now + self.clock_skew) * 1000))
        identity = f"https://login.salesforce.com/id/{_ORG_ID}/{_USER_ID}"
        # Computed here rather than with requests_sf_auth._token.expected_signature, so the
        # plugin's verifier is checked against an independent implementation of the recipe.
        signature = base64.b64encode(
            hmac.new(
                self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        if jwt:  # Salesforce's documented JWT answer: no signature, no issued_at
            return {
                "access_token": token,
                "scope": "api",
                "instance_url": self.instance_url,
                "id": identity,
                "token_type": "Bearer",
                **self.answer_fields,
            }
        return {
            "access_token": token,
            "signature": signature,
            "token_format": "opaque",
            "scope": "api",
            "instance_url": self.instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            **self.answer_fields,
        }

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self._state, counter, getattr(self._state, counter) + 1)

    def _record(self, request: ReceivedRequest) -> None:
        if self.record:
            with self._lock:
                self._state.received.append(request)


def _tamper(answer: dict[str, Any], failure: str | None) -> None:
    if failure == "missing_instance_url":
        del answer["instance_url"]
    elif failure == "http_instance_url":
        answer["instance_url"] = "http://acme.my.salesforce.com"
    elif failure == "tampered_signature":
        answer["signature"] = base64.b64encode(b"\0" * 32).decode()
    elif failure == "missing_signature":
        answer.pop("signature", None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 drops connections when many threads connect at once, and the
    # client's SYN retransmit then stalls each of them for a second.
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        org: LocalOrg,
        context: ssl.SSLContext | None,
    ) -> None:
        self.org = org
        self.context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.context is not None:
            # The handshake happens in the handler's thread, so one slow client cannot stall
            # the accept loop.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._connections_lock:
            self._connections.add(sock)
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(10)
                request.do_handshake()
            super().finish_request(request, client_address)
        except (OSError, ssl.SSLError):
            pass

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-request is routine in fault tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the client's
    # delayed ACK would hold every answer back by about 40 ms.
    disable_nagle_algorithm = True
    server: _Server
    timeout = 30
    _received: ReceivedRequest | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def org(self) -> LocalOrg:
        return self.server.org

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- plumbing -----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes | Any,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    ) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if self._received is not None:
            self._received.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _trickle(self, body: bytes) -> None:
        """Headers and body one byte at a time, as a hostile or broken peer might: each byte
        comes well within any read timeout, so only an overall deadline ends it."""
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.close_connection = True
        if self._received is not None:
            self._received.status = 200
        for byte in head + body:
            if self.org._stopping.wait(_TRICKLE_SECONDS):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return

    def _send_huge_error(self) -> None:
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(_HUGE_BODY))
        self.end_headers()
        chunk = b"<p>" + b"x" * 65530 + b"</p>\n"
        sent = 0
        try:
            while sent < _HUGE_BODY:
                piece = chunk[: _HUGE_BODY - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            self.close_connection = True

    def _send_oauth_error(self, status: int, error: str, description: str) -> None:
        self._send(status, {"error": error, "error_description": description})

    def _bearer(self) -> str | None:
        value = self.headers.get("Authorization", "")
        if value[:7].lower() == "bearer ":
            return value[7:].strip()
        return None

    def _form(self, body: bytes) -> dict[str, str]:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _client_credentials(self, form: Mapping[str, str]) -> tuple[str | None, str | None]:
        basic = self.headers.get("Authorization", "")
        if basic[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                return None, None
            return user, password
        return form.get("client_id"), form.get("client_secret")

    def _dispatch(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        path = parts.path
        token = self._bearer()
        self._received = ReceivedRequest(
            method=self.command,
            path=path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
            token=token,
            status=0,
        )
        self.org._record(self._received)
        if path == "/services/oauth2/token":
            self._token_endpoint(body)
        elif path == "/services/oauth2/introspect":
            self._introspect(body)
        elif path == "/services/oauth2/revoke":
            self._revoke(body)
        elif path.rstrip("/") == "/services/data":
            self._versions()
        elif path.startswith("/services/data/v"):
            self._api(parts.path, parts.query, body, token)
        elif path.startswith("/services/async/"):
            self._bulk(path, parts.query, body)
        else:
            self._send(
                404,
                [
                    {
                        "errorCode": "NOT_FOUND",
                        "message": "The requested resource does not exist",
                    }
                ],
            )

    # -- endpoints ----------------------------------------------------------------------------

    def _token_endpoint(self, body: bytes) -> None:
        org = self.org
        org._count("token_requests")
        if self.command != "POST":
            self._send_oauth_error(400, "invalid_request", "must use HTTP POST")
            return
        if org.token_delay:
            org._stopping.wait(org.token_delay)
        canned = org.token_answer
        if canned is not None:
            self._send(canned[0], canned[2], canned[1])
            return
        failure = org._next_failure()
        if failure is not None and self._fail_instead(failure, body):
            return
        form = self._form(body)
        client_id, client_secret = self._client_credentials(form)
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._jwt_grant(form.get("assertion", ""), failure)
            return
        if form.get("grant_type") != "client_credentials":
            status, content_type, payload = TOKEN_FAILURES["unsupported_grant_type"]
        elif client_id != org.client_id:
            status, content_type, payload = TOKEN_FAILURES["invalid_client_id"]
        elif client_secret != org.client_secret:
            status, content_type, payload = TOKEN_FAILURES["invalid_client"]
        else:
            answer = org._issue_token()
            if failure in _TOKEN_TAMPERING:
                _tamper(answer, failure)
            if failure == "trickle":
                self._trickle(json.dumps(answer).encode())
            else:
                self._send(200, answer, headers={"Cache-Control": "no-store"})
            return
        self._send(status, payload, content_type)

    def _jwt_grant(self, assertion: str, failure: str | None) -> None:
        from .jwt_grant import check_assertion

        org = self.org
        refusal = check_assertion(
            assertion,
            client_id=org.client_id,
            public_keys=org._jwt_keys,
            audience=org.jwt_audience,
            now=time.time() + org.clock_skew,
        )
        if refusal is not None:
            self._send_oauth_error(400, *refusal)
            return
        answer = org._issue_token(jwt=True)
        if failure in _TOKEN_TAMPERING:
            _tamper(answer, failure)
        self._send(200, answer, headers={"Cache-Control": "no-store"})

    def _fail_instead(self, failure: str, body: bytes) -> bool:
        """Answer with ``failure`` instead of a token; False for the failures that tamper
        with a real token answer instead."""
        if failure == "hang":
            self.org._stopping.wait()
            self.close_connection = True
        elif failure == "echo_500":
            self._send(500, b"<html><body>Bad request: " + body + b"</body></html>", "text/html")
        elif failure == "echo_values_500":
            values = " | ".join(value for _, value in parse_qsl(body.decode("utf-8", "replace")))
            page = f"<html><body><p>Request blocked. Values: {values}</p></body></html>"
            self._send(500, page.encode(), "text/html")
        elif failure == "huge_500":
            self._send_huge_error()
        elif failure in TOKEN_FAILURES:
            status, content_type, payload = TOKEN_FAILURES[failure]
            headers = {"Location": "/services/oauth2/elsewhere"} if status == 307 else {}
            self._send(status, payload, content_type, headers)
        else:
            return False
        return True

    def _introspect(self, body: bytes) -> None:
        org = self.org
        org._count("introspect_requests")
        if org.introspection == "error":
            self._send(503, b"<html>Service Unavailable</html>", "text/html")
            return
        form = self._form(body)
        client_id, client_secret = self._client_credentials(form)
        if client_id != org.client_id or client_secret != org.client_secret:
            self._send_oauth_error(401, "invalid_client", "invalid client credentials")
            return
        token = form.get("token", "")
        now = time.time()
        with org._lock:
            record = org._state.tokens.get(token)
            live = record is not None and org._is_live(record, now)
        if not live or record is None or org.introspection == "inactive":
            self._send(200, {"active": False})
            return
        answer: dict[str, Any] = {
            "active": True,
            "scope": "api",
            "client_id": org.client_id,
            "username": "integration@acme.example",
            "sub": f"https://login.salesforce.com/id/{_ORG_ID}/{_USER_ID}",
            "token_type": "access_token",
            "iat": int(record.issued_at + org.clock_skew),
            "nbf": int(record.issued_at + org.clock_skew),
        }
        if org.session_timeout is not None:
            answer["exp"] = int(record.last_used + org.session_timeout + org.clock_skew)
        self._send(200, answer)

    def _revoke(self, body: bytes) -> None:
        org = self.org
        org._count("revoke_requests")
        token = self._form(body).get("token", "")
        if not token:
            self._send_oauth_error(400, "unsupported_token_type", "missing token")
        elif org.revoke_token(token):
            self._send(200, b"", "text/plain")
        else:
            self._send_oauth_error(400, "invalid_token", "invalid token")

    def _versions(self) -> None:
        self._send(
            200,
            [
                {"label": f"Release {v}", "url": f"/services/data/v{v}", "version": v}
                for v in self.org.api_versions
            ],
        )

    def _api_failure(self) -> bool:
        """Answer with the next failure :meth:`LocalOrg.fail_api_requests` scheduled, if any."""
        org = self.org
        with org._lock:
            failure = org._state.api_failures.pop(0) if org._state.api_failures else None
        if failure is None:
            return False
        payload = [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        self._send(failure, payload)
        return True

    def _api(self, path: str, query: str, body: bytes, token: str | None) -> None:
        org = self.org
        org._count("api_requests")
        if self._api_failure():
            return
        if org.reject_api_with is not None or not org._use_token(token):
            org._count("rejected_requests")
            payload = (
                [{"message": org.reject_api_with, "errorCode": "INVALID_SESSION_ID"}]
                if org.reject_api_with is not None
                else _INVALID_SESSION
            )
            self._send(401, payload, headers=[("WWW-Authenticate", "Token"), *self._cookies()])
            return
        params = parse_qs(query, keep_blank_values=True)
        tail = path.split("/", 4)[-1] if path.count("/") >= 4 else ""
        if tail == "chatter/users/me":
            self._send(
                200,
                {
                    "id": _USER_ID,
                    "name": "Integration User",
                    "username": "integration@acme.example",
                    "userType": "Internal",
                    "url": f"{path}",
                },
            )
        elif tail == f"sobjects/User/{_USER_ID}":
            user = {"Username": "integration@acme.example", "Name": "Integration User"}
            self._send(200, {"attributes": {"type": "User", "url": path}, "Id": _USER_ID, **user})
        elif tail.rstrip("/") == "query":  # any SOQL: the run-as user, as one record
            record = {"attributes": {"type": "User"}, "Id": _USER_ID}
            self._send(200, {"totalSize": 1, "done": True, "records": [record]})
        elif tail == "test/redirect":
            self._redirect(params)
        elif tail == "test/cookie":
            cookies = {k: v[0] for k, v in params.items()}
            headers = [("Set-Cookie", f"{k}={v}; Path=/") for k, v in cookies.items()]
            self._send(200, {"cookies": cookies}, headers=headers)
        else:
            self._send(200, self._echo(path, params, body), headers=self._cookies())

    def _cookies(self) -> list[tuple[str, str]]:
        return [("Set-Cookie", f"{k}={v}; Path=/") for k, v in self.org.api_cookies.items()]

    def _bulk(self, path: str, query: str, body: bytes) -> None:
        org = self.org
        org._count("api_requests")
        if not org._use_token(self.headers.get("X-SFDC-Session")):
            org._count("rejected_requests")
            self._send(
                400,
                b'<?xml version="1.0" encoding="UTF-8"?><error '
                b'xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
                b"<exceptionCode>InvalidSessionId</exceptionCode>"
                b"<exceptionMessage>Invalid session id</exceptionMessage></error>",
                "application/xml",
            )
            return
        params = parse_qs(query, keep_blank_values=True)
        segments = path.split("/")  # "", "services", "async", version, resource, ...
        if path.endswith("/test/redirect"):
            self._redirect(params)
        elif len(segments) > 5 and segments[4] == "job" and segments[5]:
            job = segments[5]
            self._send(
                400,
                b'<?xml version="1.0" encoding="UTF-8"?><error '
                b'xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
                b"<exceptionCode>InvalidJob</exceptionCode>"
                b"<exceptionMessage>Unable to find object: " + job.encode() + b"</exceptionMessage>"
                b"</error>",
                "application/xml",
            )
        else:
            self._send(200, self._echo(path, params, body))

    def _redirect(self, params: dict[str, list[str]]) -> None:
        if params.get("expire") == ["1"]:
            self.org.expire_tokens()
        status = int(params.get("status", ["302"])[0])
        self._send(status, {"redirect": True}, headers={"Location": params["to"][0]})

    def _echo(self, path: str, params: dict[str, list[str]], body: bytes) -> dict[str, Any]:
        hidden = {"authorization", "x-sfdc-session"}
        echo: dict[str, Any] = {
            "method": self.command,
            "path": path,
            "query": params,
            "headers": {k: v for k, v in self.headers.items() if k.lower() not in hidden},
            "body": body.decode("utf-8", "replace"),
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return echo
