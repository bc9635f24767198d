"""The client secret and access tokens never show in a repr, an exception or a log line."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_sf_auth import SalesforceAuth, SalesforceAuthError, TokenRequestError
from requests_sf_auth.testing import TOKEN_FAILURES, LocalOrg

from helpers import raw_echo, status_line_echoing_the_form


def test_reprs_never_show_the_secret_or_the_token(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session() as sf:
        sf.get("limits")
        token = sf.auth.token["access_token"]
        shown = " ".join([repr(sf.auth), str(sf.auth), repr(sf), str(sf)])
        lifecycle_token = sf.auth._lifecycle.token
        shown += repr(lifecycle_token) + repr(sf.auth._lifecycle.endpoint)
    assert salesforce_org.client_secret not in shown
    assert token not in shown
    assert "token=held" in repr(sf.auth)


@pytest.mark.parametrize("failure", [*sorted(TOKEN_FAILURES), "echo_500"])
def test_token_errors_and_debug_logs_never_show_secrets(
    salesforce_org: LocalOrg, failure: str, sf_log: pytest.LogCaptureFixture
) -> None:
    with salesforce_org.session() as sf:
        sf.get("limits")
        token = sf.auth.token["access_token"]
        salesforce_org.expire_tokens()
        salesforce_org.fail_token_requests(failure)
        with pytest.raises(TokenRequestError) as excinfo:
            sf.get("limits")
    text = f"{excinfo.value} {excinfo.value!r} {excinfo.value.args} {sf_log.text}"
    assert salesforce_org.client_secret not in text
    assert token not in text
    assert excinfo.value.request is None  # the token request's body carries the secret


def test_a_normal_refresh_logs_the_reason_but_no_secret(
    org: LocalOrg, sf_log: pytest.LogCaptureFixture
) -> None:
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        sf.get("limits")
        tokens = [r.token for r in org.received if r.token]
    assert "reason: first use" in sf_log.text
    assert "reason: rejected with HTTP 401" in sf_log.text
    assert org.client_secret not in sf_log.text
    assert all(t not in sf_log.text for t in tokens)
    assert all(r.levelno <= logging.INFO for r in sf_log.records)  # routine: no warning


def test_an_error_page_echoing_the_request_shows_no_secret(salesforce_org: LocalOrg) -> None:
    salesforce_org.fail_token_requests("echo_500")
    with pytest.raises(TokenRequestError, match="HTTP 500") as excinfo:
        salesforce_org.auth().instance_url
    assert "grant_type=client_credentials" in str(excinfo.value)  # the page is quoted...
    assert salesforce_org.client_secret not in str(excinfo.value)  # ...without the secret


def test_an_error_page_quoting_the_secret_without_its_name_shows_no_secret(
    salesforce_org: LocalOrg,
) -> None:
    # Masking values that follow "client_secret=" is not enough: this page lists bare values.
    salesforce_org.fail_token_requests("echo_values_500")
    with pytest.raises(TokenRequestError, match="HTTP 500") as excinfo:
        salesforce_org.auth().instance_url
    assert "client_credentials | " + salesforce_org.client_id in str(excinfo.value)  # quoted...
    assert salesforce_org.client_secret not in str(excinfo.value)  # ...without the secret


# A token the auth never held, as a WAF's page lists the headers of someone's request.
ANOTHER_TOKEN = "00D5g000004ABCD!AR8AQ" + "Oth.er" * 12


def _all_punctuation_referenced(text: str) -> str:
    """``text`` as OWASP ESAPI's encodeForHTML writes it: punctuation and spaces as numeric
    character references."""
    return "".join(c if c.isalnum() else f"&#x{ord(c):X};" for c in text)


@pytest.mark.parametrize(
    "listed",
    [
        f"<td>Authorization</td><td>{_all_punctuation_referenced('Bearer ' + ANOTHER_TOKEN)}</td>",
        _all_punctuation_referenced(f"Authorization: Bearer {ANOTHER_TOKEN}"),
        '{"Authorization": "Bearer ' + ANOTHER_TOKEN.replace("!", "\\u0021") + '"}',
        _all_punctuation_referenced(f"X-SFDC-Session: {ANOTHER_TOKEN}"),
    ],
    ids=["header table", "header line", "JSON", "session header"],
)
def test_an_error_page_listing_an_encoded_authorization_header_shows_no_credential(
    salesforce_org: LocalOrg, listed: str
) -> None:
    salesforce_org.token_answer = (403, "text/html", f"<h1>Blocked</h1>{listed}".encode())
    with pytest.raises(TokenRequestError, match="HTTP 403") as excinfo:
        salesforce_org.auth().instance_url
    shown = str(excinfo.value)
    assert "Blocked" in shown
    assert "***" in shown
    assert "AR8AQ" not in shown
    assert "Oth" not in shown


def test_connection_errors_do_not_carry_the_secret() -> None:
    org = LocalOrg().start()
    url = org.url
    org.stop()
    auth = SalesforceAuth(url, "id", "top-secret-value")
    with pytest.raises(requests.ConnectionError) as excinfo:
        auth.instance_url
    assert "top-secret-value" not in str(excinfo.value)


def test_a_status_line_echoing_the_form_leaves_the_secret_out_of_errors_pauses_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A gateway's block line where the status line belongs: http.client quotes it in the
    # BadStatusLine that requests wraps in a ConnectionError.
    secret = "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4"
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's too
    with raw_echo(status_line_echoing_the_form) as (url, received):
        auth = SalesforceAuth(url, "3MVG9cid", secret, token_backoff=(30, 30))
        errors = []
        for _ in range(2):  # the token request, then a fail-fast error during the pause
            with pytest.raises(requests.ConnectionError) as excinfo:
                requests.get(url + "/services/data/v67.0/limits", auth=auth, timeout=5)
            errors.append(excinfo.value)
    assert len(received) == 1
    assert "BadStatusLine" in str(errors[0])  # what went wrong is still said...
    assert "***" in str(errors[0])  # ...and the echoed secret masked
    assert errors[1].retry_after is not None
    for error in errors:
        shown = "".join(traceback.format_exception(error))  # a cause would print here
        assert secret not in f"{shown} {error!r} {error.args}"
        assert error.__cause__ is None
        assert error.request is None
    assert "token request to" in caplog.text
    assert secret not in caplog.text


def test_an_error_of_a_token_sessions_own_adapter_becomes_an_auth_error_without_the_secret(
    salesforce_org: LocalOrg,
) -> None:
    class Quoting(HTTPAdapter):
        """A transport of the user's that quotes what it could not send."""

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            body = request.body
            assert isinstance(body, bytes)
            raise RuntimeError(f"cannot send {body.decode()}")

    token_session = requests.Session()
    token_session.mount("http://", Quoting())
    auth = salesforce_org.auth(token_session=token_session)
    with pytest.raises(SalesforceAuthError, match="RuntimeError: cannot send") as excinfo:
        auth.fetch_token()
    shown = "".join(traceback.format_exception(excinfo.value))
    assert "client_credentials" in shown
    assert salesforce_org.client_secret not in shown


def header_line_echoing_the_form(head: bytes, body: bytes) -> bytes:
    """A broken gateway's 502 with the form it forwarded in a line no header parser takes."""
    head = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nX-Upstream-Request "
    return head + body + b"\r\nConnection: close\r\n\r\nbad gateway"


@pytest.mark.parametrize("token_session", [None, "stock"], ids=["private", "token_session"])
def test_a_header_line_echoing_the_form_is_logged_by_no_logger(
    caplog: pytest.LogCaptureFixture, token_session: str | None
) -> None:
    # urllib3 logs headers it cannot parse at WARNING, quoting them, on its own logger.
    secret = "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4"
    caplog.set_level(logging.DEBUG)
    session = requests.Session() if token_session else None
    with raw_echo(header_line_echoing_the_form) as (url, received):
        auth = SalesforceAuth(url, "3MVG9cid", secret, token_session=session)
        with pytest.raises(TokenRequestError, match="HTTP 502") as excinfo:
            auth.fetch_token()
    assert secret.encode() in received[0]
    assert secret not in str(excinfo.value)
    logged = [(r.name, r.getMessage(), r.exc_text or "") for r in caplog.records]
    assert logged
    assert not [record for record in logged if secret in str(record)]
