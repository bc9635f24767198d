"""``LocalOrg``: a Salesforce org on loopback that answers as the real service does (token
endpoint and its errors, REST API, 401 ``INVALID_SESSION_ID``, introspection, revocation), so
that a mistake in the code under test shows, and that tests can steer and inspect.

This module holds the org's state and the knobs tests turn; how it answers is in ``_oauth``
(``/services/oauth2/``) and ``_rest`` (the REST and Bulk APIs), the HTTP plumbing in
``_http``. Every method is thread-safe. Facts it follows: ``shared/SALESFORCE.md``.
"""

from __future__ import annotations

import itertools
import json as jsonlib
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import requests

from .. import SalesforceAuth, SalesforceJWTAuth, SalesforceSession
from ._http import Exchange, Server
from ._oauth import TOKEN_FAILURES, TOKEN_FAULTS, USER_ID, USERNAME, answer_oauth
from ._rest import DATA_PREFIX, NOT_FOUND, Canned, QueryKey, answer_bulk, answer_data, query_key
from ._tls import issue_certificate, trust_bundle

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._options import AuthOptions

__all__ = ["DEFAULT_API_LIMIT", "TOKEN_FAILURES", "LocalOrg", "ReceivedRequest"]

DEFAULT_API_LIMIT = 15000
"""The daily API request limit a :class:`LocalOrg` reports unless told another."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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

    def _answered(self, status: int) -> None:
        self.status = status


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
    api_usage: int = 0
    rejected_requests: int = 0
    introspect_requests: int = 0
    revoke_requests: int = 0
    received: list[ReceivedRequest] = field(default_factory=list)
    # Records by sObject type, then by the first 15 characters of their id (the
    # case-sensitive id, which the 18-character one extends).
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


class LocalOrg:
    """A fake Salesforce org on 127.0.0.1 for tests, started with ``with LocalOrg() as org:``.

    * ``url`` is both the My Domain URL and the ``instance_url`` its tokens carry; pass it,
      ``client_id`` and ``client_secret`` to :class:`~requests_sf_auth.SalesforceAuth`, or
      use :meth:`auth` and :meth:`session`. With ``instance_host``, the tokens name the same
      server under that host name instead (:attr:`instance_url`), as a real org's instance
      may differ from its My Domain.
    * Token requests with the wrong client id or secret, or another grant type, get the
      same OAuth errors Salesforce sends. Tokens never expire by themselves unless
      ``session_timeout`` (idle seconds) is set.
    * ``GET /services/data/`` lists ``api_versions`` without a token. Every path under
      ``/services/data/vNN.N/`` needs a live token and answers ``401 INVALID_SESSION_ID``
      otherwise. With one, it answers as Salesforce does: 404 ``NOT_FOUND`` for a version
      not in ``api_versions`` or an unknown resource, 405 for a method a resource does not
      take. The resources: the version's resource list (``""``), ``limits``, ``query`` and
      ``queryAll`` (an empty result unless :meth:`add_response` gives one; 400
      ``MALFORMED_QUERY`` without ``q``), ``sobjects``, ``sobjects/X`` (``POST`` creates a
      record: 201 ``{"id", "success", "errors"}``), ``sobjects/X/describe``,
      ``sobjects/X/ID`` (``GET`` the record, ``PATCH`` and ``DELETE`` answer 204; 404 for an
      id the org never created; the run-as user's own ``User`` record exists from the
      start) and ``chatter/users/me``. A body that is not a JSON object gets 400
      ``JSON_PARSER_ERROR``. Any sObject name is taken to exist.
    * Every answer under ``/services/data/vNN.N/`` carries ``Sforce-Limit-Info:
      api-usage=N/LIMIT``: see :attr:`api_usage` and ``api_limit``.
    * Test resources, which a real org does not have: ``test/echo`` (and any path under it)
      answers 200 with the request as JSON (method, path, query, headers without
      ``Authorization`` or ``X-SFDC-Session``, body, its length and SHA-256);
      ``test/redirect?to=URL&status=302`` redirects (``&expire=1`` also ends every session
      first; the Bulk API path has it too), and ``test/cookie?name=value`` sets a cookie.
    * ``/services/oauth2/introspect`` and ``/services/oauth2/revoke`` work as documented;
      ``exp`` is reported when ``session_timeout`` is set.
    * The Bulk API 1.0 under ``/services/async/`` wants ``X-SFDC-Session`` and answers a dead
      session with 400 ``InvalidSessionId``. It keeps no jobs: with a live session, any
      ``job/ID`` path answers 400 ``InvalidJob``, as the Bulk API does for an unknown job;
      other paths echo.

    Steer it with :meth:`add_response`, :meth:`expire_tokens`, :meth:`revoke_token`,
    :meth:`fail_token_requests`, :meth:`fail_api_requests`, ``token_delay``,
    ``reject_api_with``, ``api_cookies``, ``introspection``, ``token_factory``,
    ``answer_fields`` and ``token_answer``; read ``token_requests``, ``api_requests``,
    ``api_usage``, ``rejected_requests``, ``introspect_requests``, ``revoke_requests``,
    ``received`` and :meth:`live_tokens`.
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
        api_limit: int = DEFAULT_API_LIMIT,
    ) -> None:
        if not isinstance(api_limit, int) or isinstance(api_limit, bool) or api_limit < 1:
            raise ValueError(f"api_limit must be a positive whole number, not {api_limit!r}")
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
        self.api_limit = api_limit
        """The LIMIT of ``Sforce-Limit-Info: api-usage=N/LIMIT`` and of ``limits``'
        ``DailyApiRequests.Max``."""
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
        """Cookies set on every REST API answer, 401s included, as Salesforce sets
        ``BrowserId``."""
        self.ca_bundle: str | None = None
        """Path of the CA certificate (PEM) to verify the org with, when ``tls`` is on."""
        self.trust_bundle: str | None = None
        """When ``tls`` is on, the path of a CA bundle that holds the org's CA and every
        certificate ``requests`` trusted when the org started (``REQUESTS_CA_BUNDLE``, else
        ``CURL_CA_BUNDLE``, else certifi's). Point ``REQUESTS_CA_BUNDLE`` at it, as the
        ``salesforce_org_https`` fixture does, and plain ``requests`` trusts the org."""
        self.jwt_audience = "https://login.salesforce.com"
        """The ``aud`` the JWT bearer grant must name: the login server the org stands for."""
        self._jwt_keys: dict[str, str] = {}
        self._state = _State()
        self._state.records["User"] = {USER_ID: {"Username": USERNAME, "Name": "Integration User"}}
        self._responses: dict[tuple[str, str], dict[QueryKey | None, Canned]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> LocalOrg:
        """Bind ``port`` (a free one by default) on 127.0.0.1 and serve in a background
        thread."""
        context = None
        if self.tls:
            self._tempdir = tempfile.TemporaryDirectory(prefix="localorg-")
            directory = Path(self._tempdir.name)
            names = ["127.0.0.1", "localhost"]
            if self.instance_host is not None:
                names.append(self.instance_host)
            context, ca_path = issue_certificate(names, directory)
            self.ca_bundle = str(ca_path)
            self.trust_bundle = str(trust_bundle(ca_path, directory))
        self._server = Server(
            ("127.0.0.1", self.port), answer=self._answer, context=context, stopping=self._stopping
        )
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

    # -- conveniences for tests ---------------------------------------------------------------

    def auth(self, **options: Unpack[AuthOptions]) -> SalesforceAuth:
        """A :class:`~requests_sf_auth.SalesforceAuth` for this org, with this org's URL,
        client id and secret; ``options`` are its keyword arguments. Under TLS, unless
        ``options`` has a ``token_session``, its token requests go through a session of
        their own that verifies the org's CA, whatever ``REQUESTS_CA_BUNDLE`` says."""
        if self.tls and "token_session" not in options:
            token_session = requests.Session()
            token_session.verify = self.ca_bundle or True
            options["token_session"] = token_session
        return SalesforceAuth(self.url, self.client_id, self.client_secret, **options)

    def session(
        self, auth: SalesforceAuth | None = None, **options: Unpack[AuthOptions]
    ) -> SalesforceSession:
        """A :class:`~requests_sf_auth.SalesforceSession` for this org, with ``auth`` or, when
        none is given, ``self.auth(**options)``. Under TLS it verifies the org's CA and ignores
        the environment (``trust_env=False``: proxies, ``.netrc`` and CA bundle variables),
        which could otherwise replace that CA."""
        session = SalesforceSession(auth if auth is not None else self.auth(**options))
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

    def jwt_auth(self, username: str, private_key: str, **options: Any) -> SalesforceJWTAuth:
        """A :class:`~requests_sf_auth.SalesforceJWTAuth` for this org and ``username``
        (verifying its CA under TLS, as :meth:`auth` does); ``options`` are its keyword
        arguments."""
        if self.tls and "token_session" not in options:
            token_session = requests.Session()
            token_session.verify = self.ca_bundle or True
            options["token_session"] = token_session
        return SalesforceJWTAuth(self.url, self.client_id, username, private_key, **options)

    # -- steering -----------------------------------------------------------------------------

    def add_response(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: object = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """From now on, answer ``method path`` with ``status`` and ``json`` (sent as JSON) or
        ``body`` (sent as it is), instead of what the org would answer; a later call for the
        same method, path and query replaces it.

        ``path`` is relative to the REST API (``"query"``, ``"sobjects/Account/001..."``),
        which matches it under every version the org offers, or absolute
        (``"/services/data/v67.0/query"``). With a query (``"query?q=SELECT+Id+FROM+User"``)
        it matches only requests with the same query parameters, in any order and however
        they are encoded; without one, any query, when no answer names the request's own.

        A canned answer is still a REST call: the token must be live (401
        ``INVALID_SESSION_ID`` otherwise, so expiry and renewal happen as in production), a
        failure scheduled with :meth:`fail_api_requests` comes first, and it counts in
        :attr:`api_usage`. Its headers are ``headers``, then ``Sforce-Limit-Info`` and the
        ``api_cookies`` unless ``headers`` names them; ``Content-Type`` is
        ``application/json`` unless ``headers`` says otherwise. ``json`` is serialised now, so
        changing the object afterwards changes nothing. Raises ``ValueError`` naming what is
        wrong and leaves the org as it was.
        """
        verb = method.upper() if isinstance(method, str) else method
        if verb not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, not {method!r}")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status from 100 to 599, not {status!r}")
        if json is not None and body is not None:
            raise ValueError("pass json= or body=, not both")
        if not isinstance(path, str) or not path.strip() or path != path.strip():
            raise ValueError(
                f"path must be a REST path such as 'query' or '/services/data/v67.0/query', "
                f"not {path!r}"
            )
        where, _, query = path.partition("?")
        if where.startswith("/") and not where.startswith(DATA_PREFIX):
            raise ValueError(
                f"path {path!r} is not under /services/data/vNN.N/: give it relative to the "
                "REST API ('sobjects/Account') or in full ('/services/data/v67.0/sobjects/Account')"
            )
        if json is not None:
            payload = jsonlib.dumps(json).encode()
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = body or b""
        pairs = [(str(k), str(v)) for k, v in (headers or {}).items()]
        types = [v for k, v in pairs if k.lower() == "content-type"]
        canned = Canned(
            status=status,
            body=payload,
            content_type=types[-1] if types else "application/json",
            headers=tuple((k, v) for k, v in pairs if k.lower() != "content-type"),
        )
        key = query_key(query) if "?" in path else None
        with self._lock:
            self._responses.setdefault((verb, where), {})[key] = canned

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
        if failure not in TOKEN_FAULTS:
            raise ValueError(f"unknown failure {failure!r}; choose from {sorted(TOKEN_FAULTS)}")
        with self._lock:
            if times is None:
                self._state.failure_forever = failure
            else:
                self._state.failures.extend([failure] * times)

    def fail_api_requests(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` REST API requests with ``status`` (a 5xx, say) and an
        error body, whatever their token, as an overloaded instance would. The version list,
        which needs no token, is not counted among them."""
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
    def api_usage(self) -> int:
        """N of ``Sforce-Limit-Info: api-usage=N/LIMIT``: the REST API calls the org served
        with a live token, whatever it answered (canned answers, 404s and 405s included),
        counting the call whose answer reports it. Not counted: 401s, failures scheduled with
        :meth:`fail_api_requests`, the version list (``/services/data/``) and the Bulk API."""
        return self._state.api_usage

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

    # -- for the answering modules ------------------------------------------------------------

    def _answer(self, exchange: Exchange) -> None:
        path = exchange.path
        value = exchange.headers.get("Authorization", "")
        token = value[7:].strip() if value[:7].lower() == "bearer " else None
        received = ReceivedRequest(
            method=exchange.method,
            path=path,
            query=parse_qs(exchange.query, keep_blank_values=True),
            headers=dict(exchange.headers.items()),
            body=exchange.body,
            token=token,
            status=0,
        )
        exchange.on_status = received._answered
        if self.record:
            with self._lock:
                self._state.received.append(received)
        if path.startswith(DATA_PREFIX) or path.rstrip("/") == "/services/data":
            answer_data(self, exchange, token)
        elif path.startswith("/services/async/"):
            answer_bulk(self, exchange)
        elif not answer_oauth(self, exchange):
            exchange.send(404, NOT_FOUND)

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

    def _register_token(self, token: str) -> float:
        now = time.time()
        with self._lock:
            self._state.tokens[token] = _TokenRecord(issued_at=now, last_used=now)
        return now

    def _token_times(self, token: str) -> tuple[float, float] | None:
        """``(issued_at, last_used)`` of a live token, or None."""
        with self._lock:
            record = self._state.tokens.get(token)
            if record is None or not self._is_live(record, time.time()):
                return None
            return record.issued_at, record.last_used

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._state.failures:
                return self._state.failures.pop(0)
            return self._state.failure_forever

    def _next_api_failure(self) -> int | None:
        if not self._state.api_failures:
            return None
        with self._lock:
            return self._state.api_failures.pop(0) if self._state.api_failures else None

    def _use_api(self) -> int:
        with self._lock:
            self._state.api_usage += 1
            return self._state.api_usage

    def _canned(self, method: str, path: str, tail: str, query: str) -> Canned | None:
        with self._lock:
            answers = self._responses.get((method, path)) or self._responses.get((method, tail))
            if answers is None:
                return None
            return answers.get(query_key(query)) or answers.get(None)

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self._state, counter, getattr(self._state, counter) + 1)

    def _record_types(self) -> list[str]:
        with self._lock:
            return list(self._state.records)

    def _create_record(self, sobject: str, prefix: str, fields: dict[str, Any]) -> str:
        record_id = f"{prefix}5g{next(self._ids):010d}"
        with self._lock:
            self._state.records.setdefault(sobject, {})[record_id] = dict(fields)
        return self._full_id(record_id)

    def _read_record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._state.records.get(sobject, {}).get(record_id[:15])
            return dict(record) if record is not None and len(record_id) in (15, 18) else None

    def _update_record(self, sobject: str, record_id: str, fields: dict[str, Any]) -> bool:
        with self._lock:
            record = self._state.records.get(sobject, {}).get(record_id[:15])
            if record is None or len(record_id) not in (15, 18):
                return False
            record.update(fields)
            return True

    def _delete_record(self, sobject: str, record_id: str) -> bool:
        with self._lock:
            records = self._state.records.get(sobject, {})
            if len(record_id) not in (15, 18) or record_id[:15] not in records:
                return False
            del records[record_id[:15]]
            return True

    @staticmethod
    def _full_id(record_id: str) -> str:
        """The 18-character form of a 15-character id, with Salesforce's case-checksum
        suffix."""
        short = record_id[:15]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
        suffix = ""
        for start in (0, 5, 10):
            bits = sum(1 << i for i, c in enumerate(short[start : start + 5]) if c.isupper())
            suffix += alphabet[bits]
        return short + suffix
