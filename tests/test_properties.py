"""Property tests: for arbitrary secrets, tokens and relative paths, nothing leaks."""

from __future__ import annotations

import logging
import string
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from requests_sf_auth import SalesforceAuth, SalesforceSession, TokenRequestError
from requests_sf_auth._urls import Origin
from requests_sf_auth.testing import LocalOrg

# Header-safe printable ASCII without spaces: what a secret or a token can really contain.
CREDENTIAL = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&*+-./:;<=>?@^_|~",
    min_size=12,
    max_size=64,
)
RUN = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


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


RELATIVE = st.lists(
    st.sampled_from(
        [
            "..",
            ".",
            "/",
            "//",
            "\\",
            "%2F",
            "%2f",
            "@",
            ":",
            "?",
            "#",
            "sobjects",
            "evil.com",
            "x",
            "%",
            "é",
            "\u2044",
            "\uff0f",
            " ",
            "=",
            "&",
            "127.0.0.1",
            "[::1]",
            "http:",
            "//a",
        ]
    ),
    max_size=10,
).map("".join)


@RUN
@given(path=RELATIVE)
def test_relative_paths_never_send_the_token_to_another_host(
    shared_org: LocalOrg, path: str
) -> None:
    org = shared_org
    org.heal()
    org.token_factory = None
    with org.session() as sf:
        sf.auth.instance_url
        refusal = None
        try:
            prepared = sf.prepare_request(requests.Request("GET", path))
        except requests.exceptions.RequestException:
            return  # requests itself rejected the URL (InvalidURL and the like): nothing sent
        except ValueError as exc:
            refusal = str(exc)
    if refusal is not None:
        # Our own refusal, or urllib's of a host that NFKC normalisation would change.
        assert "network-path reference" in refusal or "NFKC normalization" in refusal
        return
    origin = Origin.of(prepared.url or "")
    if origin is None or origin.prefix != org.url:
        assert "Authorization" not in prepared.headers
    else:
        assert prepared.headers["Authorization"].startswith("Bearer ")
