"""The token request is a well-behaved HTTP call, and every way it can fail ends in a clear
error that leaves the auth ready to try again."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_sf_auth import SalesforceAuthError, TokenRequestError
from requests_sf_auth.testing import TOKEN_FAILURES, LocalOrg

from helpers import once_resumed

API = "/services/data/v67.0/limits"


def token_requests_received(org: LocalOrg) -> list[Any]:
    return [r for r in org.received if r.path == "/services/oauth2/token"]


def test_token_request_is_a_form_post_built_by_oauthlib(org: LocalOrg) -> None:
    org.auth().instance_url
    (sent,) = token_requests_received(org)
    assert sent.method == "POST"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(sent.body.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [org.client_id],
        "client_secret": [org.client_secret],
    }


def test_scope_is_sent_when_given_and_a_different_granted_scope_is_accepted(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth(scope=["api", "refresh_token"])
    assert auth.instance_url == salesforce_org.url  # the org grants only "api"
    (sent,) = token_requests_received(salesforce_org)
    assert parse_qs(sent.body.decode())["scope"] == ["api refresh_token"]


# Each documented Salesforce error, with the words its hint must contain.
DOCUMENTED = {
    "login_domain": ("invalid_grant", "My Domain"),
    "no_run_as_user": ("invalid_grant", "Run As"),
    "invalid_client_id": ("invalid_client_id", "Consumer Key"),
    "invalid_client": ("invalid_client", "Consumer Secret"),
    "unsupported_grant_type": ("unsupported_grant_type", "Client Credentials Flow"),
    "login_rate_exceeded": ("invalid_grant", "3,600"),
    "ip_restricted": ("invalid_grant", "IP"),
    "authentication_failure": ("invalid_grant", "run-as user is active"),
    "inactive_user": ("inactive_user", "deactivated"),
    "inactive_org": ("inactive_org", "inactive"),
    "rate_limit_exceeded": ("rate_limit_exceeded", "back off"),
    "invalid_scope": ("invalid_scope", "scope"),
    "invalid_request": ("invalid_request", "malformed"),
}


@pytest.mark.parametrize("failure", sorted(DOCUMENTED))
def test_each_documented_salesforce_error_raises_token_request_error_with_a_fix(
    salesforce_org: LocalOrg, failure: str
) -> None:
    error, hint_words = DOCUMENTED[failure]
    auth = salesforce_org.auth(token_backoff=(0.2, 0.5))  # a rate limit pauses the longest
    salesforce_org.fail_token_requests(failure)
    with pytest.raises(TokenRequestError) as excinfo:
        requests.get(salesforce_org.url + API, auth=auth)
    exc = excinfo.value
    description = TOKEN_FAILURES[failure][2].decode()
    assert exc.error == error
    assert exc.error_description is not None
    assert exc.error_description in description
    assert exc.status_code == 400
    assert exc.hint is not None
    assert hint_words in exc.hint
    assert error in str(exc)
    assert exc.error_description in str(exc)
    assert "fix: " in str(exc)
    # Nothing is poisoned: once the cause is gone and the pause it opened has passed, the
    # next call works.
    assert once_resumed(lambda: requests.get(salesforce_org.url + API, auth=auth)).ok


def test_wrong_secret_and_wrong_client_id_are_told_apart(salesforce_org: LocalOrg) -> None:
    from requests_sf_auth import SalesforceAuth

    with pytest.raises(TokenRequestError) as wrong_secret:
        SalesforceAuth(salesforce_org.url, salesforce_org.client_id, "wrong-secret").instance_url
    assert wrong_secret.value.error == "invalid_client"
    with pytest.raises(TokenRequestError) as wrong_id:
        SalesforceAuth(salesforce_org.url, "3MVG9wrong", salesforce_org.client_secret).instance_url
    assert wrong_id.value.error == "invalid_client_id"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("html_503", "HTTP 503 with an unexpected body: '<html><head><title>Service Unavailable"),
        ("empty_200", "HTTP 200 with an empty body"),
        ("invalid_json_200", "HTTP 200 with an unexpected body"),
        ("missing_access_token", "without an access_token"),
        ("missing_instance_url", "without an instance_url"),
        ("http_instance_url", "plain http"),
    ],
)
def test_unusable_answers_raise_naming_status_and_snippet_then_recover(
    org: LocalOrg, failure: str, expected: str
) -> None:
    auth = org.auth()
    org.fail_token_requests(failure)
    with org.session(auth) as sf:
        with pytest.raises(TokenRequestError, match=expected) as excinfo:
            sf.get("limits")
        assert excinfo.value.error is None
        assert auth.token is None
        assert once_resumed(lambda: sf.get("limits")).status_code == 200


def test_a_truncated_token_in_a_broken_answer_is_not_shown(salesforce_org: LocalOrg) -> None:
    salesforce_org.fail_token_requests("invalid_json_200")
    with pytest.raises(TokenRequestError) as excinfo:
        salesforce_org.auth().instance_url
    assert "00Dtruncated" not in str(excinfo.value)
    assert '"access_token": ***' in str(excinfo.value)


def test_an_http_instance_url_for_a_remote_host_is_never_used(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.fail_token_requests("http_instance_url")
    auth = salesforce_org.auth()
    with pytest.raises(TokenRequestError, match="the token was not used"):
        auth.instance_url
    assert auth.token is None


def test_token_errors_are_requests_exceptions(salesforce_org: LocalOrg) -> None:
    salesforce_org.fail_token_requests("invalid_client")
    with pytest.raises(requests.RequestException):
        requests.get(salesforce_org.url + API, auth=salesforce_org.auth())
    assert issubclass(TokenRequestError, SalesforceAuthError)


def test_an_endpoint_that_never_answers_times_out_within_the_configured_timeout(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth(timeout=0.5)
    salesforce_org.fail_token_requests("hang")
    # The org never answers; urllib3 names the read timeout that gave up: ours.
    with pytest.raises(requests.ReadTimeout, match=r"read timeout=0\.5"):
        requests.get(salesforce_org.url + API, auth=auth)
    assert once_resumed(lambda: requests.get(salesforce_org.url + API, auth=auth)).ok


def test_refused_connection_surfaces_as_a_requests_connection_error_then_recovers() -> None:
    stopped = LocalOrg().start()
    port, client_id, secret = int(stopped.url.rsplit(":", 1)[1]), "3MVG9id", "s3cr3t-value"
    stopped.stop()
    from requests_sf_auth import SalesforceAuth

    auth = SalesforceAuth(f"http://127.0.0.1:{port}", client_id, secret)
    with pytest.raises(requests.ConnectionError):
        auth.instance_url
    # The endpoint comes back on the same port: the same auth simply works.
    with LocalOrg(port=port, client_id=client_id, client_secret=secret) as revived:
        assert once_resumed(lambda: requests.get(revived.url + API, auth=auth)).ok


def test_token_endpoint_redirect_is_not_followed(salesforce_org: LocalOrg) -> None:
    salesforce_org.fail_token_requests("redirect_307")
    with pytest.raises(TokenRequestError, match="redirected"):
        salesforce_org.auth().instance_url
    # A 307 would have reposted the secret to the Location; it was never requested.
    assert [r.path for r in salesforce_org.received] == ["/services/oauth2/token"]


def test_token_session_supplies_adapters_and_its_verify_setting(org: LocalOrg) -> None:
    calls: list[str] = []

    class CountingAdapter(HTTPAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            calls.append(request.url or "")
            return super().send(request, **kwargs)

    token_session = requests.Session()
    token_session.mount(org.url, CountingAdapter())
    if org.tls:
        token_session.verify = org.ca_bundle or True
    auth = org.auth(token_session=token_session)
    assert auth.instance_url == org.url
    assert calls == [org.url + "/services/oauth2/token"]


def test_tls_is_verified_and_requests_ca_bundle_is_honoured(
    salesforce_org_https: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from requests_sf_auth import SalesforceAuth

    org = salesforce_org_https
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(requests.exceptions.SSLError):
        SalesforceAuth(org.url, org.client_id, org.client_secret).instance_url
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_bundle or "")
    assert SalesforceAuth(org.url, org.client_id, org.client_secret).instance_url == org.url


def test_token_session_with_the_plugin_as_its_own_auth_does_not_recurse(
    salesforce_org: LocalOrg,
) -> None:
    shared = requests.Session()
    auth = salesforce_org.auth(token_session=shared)
    shared.auth = auth
    assert shared.get(salesforce_org.url + API).status_code == 200
    assert salesforce_org.token_requests == 1


def test_token_session_proxies_carry_the_token_request(salesforce_org: LocalOrg) -> None:
    # A second org with the same credentials plays the forward proxy: a plain HTTP proxy
    # receives the absolute URL and, here, answers it itself, so what it received proves
    # the token request went through the proxy.
    org = salesforce_org
    with LocalOrg(client_id=org.client_id, client_secret=org.client_secret) as proxy:
        proxy.answer_fields = {"instance_url": org.url}  # what the real org would say
        token_session = requests.Session()
        token_session.proxies = {"http": proxy.url}
        org.auth(token_session=token_session).fetch_token()
        assert [r.path for r in proxy.received] == ["/services/oauth2/token"]
        assert proxy.received[0].headers["Host"] == org.url.split("://")[1]
    assert org.token_requests == 0


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_plain_http_token_request_goes_around_the_environments_proxy(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # The proxy would read client_secret in cleartext: the token request of a loopback org
    # ignores proxies from the environment, on the plugin's session and on the user's.
    org = salesforce_org
    with LocalOrg(client_id=org.client_id, client_secret=org.client_secret) as proxy:
        monkeypatch.setenv(variable, proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        org.auth().fetch_token()
        org.auth(token_session=requests.Session()).fetch_token()
        assert proxy.received == []
    assert org.token_requests == 2
