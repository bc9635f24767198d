"""Property tests: for arbitrary secrets, tokens and relative paths, nothing leaks."""

from __future__ import annotations

import contextlib
import logging
import string
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import requests
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from requests_sf_auth import SalesforceAuth, SalesforceSession, TokenRequestError
from requests_sf_auth._urls import Origin, is_loopback
from requests_sf_auth.testing import LocalOrg

# Header-safe printable ASCII without spaces: what a secret or a token can really contain.
CREDENTIAL = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&*+-./:;<=>?@^_|~",
    min_size=12,
    max_size=64,
)
RUN = settings(max_examples=100, deadline=None)


@contextmanager
def everything_shown() -> Iterator[list[str]]:
    """Collect every log line (DEBUG and up) and warning the package emits."""
    shown: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            shown.append(self.format(record))

    logger = logging.getLogger("requests_sf_auth")
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield shown
        shown.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def leaked(value: str, texts: list[str]) -> list[str]:
    forms = {value, quote_plus(value), quote(value, safe="")}
    return [t for t in texts if any(f in t for f in forms)]


@pytest.fixture(scope="module")
def shared_org() -> Iterator[LocalOrg]:
    with LocalOrg() as org:
        yield org


def everything_shown_by_error_and_renewal_paths(
    org: LocalOrg, secret: str, token: str
) -> list[str]:
    """Drive the failure and renewal paths with these credentials and return every text the
    package showed: reprs, exception messages, log lines and warnings."""
    org.heal()
    org.client_secret = secret
    org.token_factory = lambda: token
    texts: list[str] = []
    with everything_shown() as shown:
        wrong = SalesforceAuth(org.url, org.client_id, secret + "x")
        with pytest.raises(TokenRequestError) as wrong_secret:
            wrong.instance_url
        texts += [str(wrong_secret.value), repr(wrong_secret.value), repr(wrong)]

        for failure in ("echo_500", "invalid_json_200", "html_503", "login_domain"):
            org.fail_token_requests(failure)
            failing = SalesforceAuth(org.url, org.client_id, secret)
            with pytest.raises(TokenRequestError) as failed:
                failing.instance_url
            with pytest.raises(TokenRequestError) as paused:  # raised again, without asking
                failing.instance_url
            for error in (failed.value, paused.value):
                texts += [str(error), repr(error), str(error.args)]

        auth = SalesforceAuth(org.url, org.client_id, secret)

        with SalesforceSession(auth) as sf:
            sf.get("limits")
            org.expire_tokens()
            sf.get("limits")  # the 401 path, logged at INFO and DEBUG
            held = auth._lifecycle.token
            texts += [repr(sf), str(sf), repr(auth), str(auth), repr(held)]
            texts += [str(held.metadata() if held else None)]
    return texts + shown


@pytest.fixture(scope="module")
def legitimate_text(shared_org: LocalOrg) -> str:
    """What the same paths show with random credentials, the credentials removed: a generated
    credential that occurs in it (say '/services/da') cannot be told apart from a leak."""
    secret, token = "Q" + uuid.uuid4().hex, "T" + uuid.uuid4().hex
    texts = everything_shown_by_error_and_renewal_paths(shared_org, secret, token)
    return "\n".join(texts).replace(secret, "").replace(token, "")


@RUN
@given(secret=CREDENTIAL, token=CREDENTIAL)
def test_secrets_and_tokens_never_appear_in_reprs_errors_logs_or_warnings(
    shared_org: LocalOrg, legitimate_text: str, secret: str, token: str
) -> None:
    assume(
        not leaked(secret, [legitimate_text, token])
        and not leaked(token, [legitimate_text, secret])
    )
    texts = everything_shown_by_error_and_renewal_paths(shared_org, secret, token)
    assert leaked(secret, texts) == []
    assert leaked(token, texts) == []


# -- where requests go: relative paths and domains ----------------------------------------------

SEARCH = settings(max_examples=300, deadline=None)

# What the strategies below build strings from: pieces that parsers read differently, and
# STRANGER and ORG, which stand for the authorities of two real servers (filled in per example).
PATH_PIECES = [
    *("..", ".", "/", "//", "\\", "%2F", "%2f", "%5C", "%2e", "@", ":", ";", "?", "#", "%"),
    *(" ", "\t", "\n", "\r", "\x00", "\x1f", "=", "&", "é", "\u2044", "\uff0f", "\u3002"),
    *("sobjects", "x", "http:", "https:", "HTTP:", "[::1]", "bücher.example"),
    *("STRANGER", "localhost:STRANGER_PORT", "ORG"),
]
RELATIVE = st.lists(st.sampled_from(PATH_PIECES), max_size=10).map("".join)

DOMAIN_PIECES = [
    *("http://", "https://", "HTTPS://", "STRANGER", "ORG", "127.0.0.1", "localhost"),
    *("acme.my.salesforce.com", "bücher.example", "xn--", "ü", "\uff45", "\u3002", "\u200b"),
    *(":", "@", "\\", "/", "#", "?", "%2e", "%40", "%00", "%", "[", "]", "::1", "."),
    *(" ", "\t", "\n", "\x00", "0", "80", "443", "/services/oauth2/token"),
]
# Most start like a URL, so that many get past the first checks and reach the transport's.
DOMAIN = st.tuples(
    st.sampled_from(["", "http://", "https://", "http://ORG", "http://127.0.0.1"]),
    st.lists(st.sampled_from(DOMAIN_PIECES), min_size=1, max_size=8).map("".join),
).map("".join)


def authority(server: LocalOrg) -> str:
    return server.url.split("://", 1)[1]


def filled(template: str, org: LocalOrg, stranger: LocalOrg) -> str:
    return (
        template.replace("STRANGER_PORT", authority(stranger).rsplit(":", 1)[1])
        .replace("STRANGER", authority(stranger))
        .replace("ORG", authority(org))
    )


@pytest.fixture(scope="module")
def stranger() -> Iterator[LocalOrg]:
    """A real server that is not the org: what reaches it is what went astray."""
    with LocalOrg() as host:
        yield host


@pytest.fixture(scope="module")
def path_org() -> Iterator[LocalOrg]:
    with LocalOrg() as org:
        yield org


@pytest.fixture(scope="module")
def org_session(path_org: LocalOrg) -> Iterator[requests.Session]:
    """One session for every example, its token fetched up front: each example then costs one
    request."""
    with path_org.session() as sf:
        sf.auth.instance_url
        yield sf


@SEARCH
@given(template=RELATIVE)
@example(template="//\uff0f")  # a host urljoin cannot read (NFKC): refused, saying why
def test_relative_paths_never_reach_a_host_other_than_the_instance(
    path_org: LocalOrg, stranger: LocalOrg, org_session: requests.Session, template: str
) -> None:
    org, sf = path_org, org_session
    path = filled(template, org, stranger)
    assume(Origin.of(path) is None)  # an absolute URL names its host itself
    org_seen, stranger_seen = len(org.received), len(stranger.received)
    response, refusal = None, None
    try:
        response = sf.get(path, timeout=5)
    except requests.exceptions.InvalidURL:
        pass  # requests' own refusal of the resolved URL, before anything is sent
    except ValueError as exc:
        refusal = exc
    if refusal is not None:
        assert not isinstance(refusal, requests.RequestException)
        assert "would leave the instance host" in str(refusal)
    event("sent" if response is not None else "refused" if refusal else "invalid for requests")
    assert stranger.received[stranger_seen:] == []
    arrived = org.received[org_seen:]
    if response is None:
        assert arrived == []
    else:
        assert Origin.of(response.url) == Origin.of(org.url)
        assert [r.token for r in arrived] == [sf.auth.token["access_token"]]


@SEARCH
@given(template=DOMAIN)
@example(template="[")  # urlsplit's own ValueError, which named no domain
@example(template="%2e")  # requests 2.28 decodes it to "." before it connects; urllib3 did not
def test_a_domain_is_refused_unless_the_transport_reads_the_host_the_token_is_scoped_to(
    path_org: LocalOrg, stranger: LocalOrg, template: str
) -> None:
    org = path_org
    domain = filled(template, org, stranger)
    try:
        auth = SalesforceAuth(domain, org.client_id, org.client_secret, timeout=(2, 2))
    except ValueError as exc:
        refusal = exc
    else:
        refusal = None
    if refusal is not None:
        assert not isinstance(refusal, requests.RequestException)
        assert "domain" in str(refusal)  # it names what is wrong
        event("refused")
        return
    origin = Origin.of(auth.token_url)
    assert origin is not None
    assert auth.domain == origin.prefix
    # How urllib3, which requests parses URLs with, reads what was written and the token URL.
    written = domain.strip()
    written = written if "://" in written else "https://" + written
    for url in (written, auth.token_url):
        parsed = parse_url(url)
        scheme = (parsed.scheme or "").lower()
        port = parsed.port or {"http": 80, "https": 443}[scheme]
        assert (scheme, (parsed.host or "").strip("[]"), port) == (
            origin.scheme,
            origin.host,
            origin.port,
        )
    assert Origin.of(requests.Request("POST", auth.token_url).prepare().url or "") == origin
    event(f"accepted, {'loopback' if is_loopback(origin.host) else 'other'} host")
    if not is_loopback(origin.host):
        return  # never leave the machine
    seen = {id(server): len(server.received) for server in (org, stranger)}
    with contextlib.suppress(TokenRequestError, requests.ConnectionError):
        auth.fetch_token()
    for server in (org, stranger):
        for request in server.received[seen[id(server)] :]:
            assert urlsplit(server.url).port == origin.port
            assert request.headers["Host"] == urlsplit(origin.prefix).netloc
