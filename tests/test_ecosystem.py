"""Compatibility with the libraries users combine the plugin with, each tested against the
real library. None of these is optional: a missing library fails the suite."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import requests
import requests_cache
import requests_mock
import responses
from requests_toolbelt.sessions import BaseUrlSession

from requests_sf_auth import SalesforceAuth, SalesforceAuthError
from requests_sf_auth.testing import LocalOrg

DOMAIN = "https://acme.my.salesforce.com"
TOKEN_URL = DOMAIN + "/services/oauth2/token"
LIMITS = DOMAIN + "/services/data/v67.0/limits"
EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def token_answer(n: int) -> dict[str, str]:
    return {
        "access_token": f"00Dxx!token-{n}",
        "instance_url": DOMAIN,
        "id": "https://login.salesforce.com/id/00Dxx/005xx",
        "token_type": "Bearer",
        "issued_at": "1678833535086",
        "signature": "c2lnbmF0dXJl",
    }


# -- requests-cache ------------------------------------------------------------------------


def cached_session(org: LocalOrg) -> requests_cache.CachedSession:
    session = requests_cache.CachedSession(backend="memory")
    session.auth = org.auth()
    return session


def test_a_cached_answer_never_hides_a_needed_refresh(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    with cached_session(org) as session:
        assert session.get(org.url + "/services/data/v67.0/limits").status_code == 200
        org.expire_tokens()
        cached = session.get(org.url + "/services/data/v67.0/limits")
        assert cached.from_cache  # no request, so no refresh was needed
        fresh = session.get(org.url + "/services/data/v67.0/sobjects")
    assert fresh.status_code == 200
    assert not fresh.from_cache
    assert [r.status_code for r in fresh.history] == [401]
    assert org.token_requests == 2


def test_the_readmes_requests_cache_settings_store_no_bulk_token(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    org = salesforce_org
    database = tmp_path / "cache.sqlite"
    with requests_cache.CachedSession(
        str(database),
        backend="sqlite",
        allowable_methods=("GET", "POST"),
        ignored_parameters=["Authorization", "X-SFDC-Session", "access_token"],
    ) as session:
        session.auth = org.auth()
        response = session.post(org.url + "/services/async/67.0/job", data=b"<jobInfo/>")
        token = org.live_tokens()[0]
    assert response.status_code == 200
    assert response.request.headers["X-SFDC-Session"] == token  # sent, then not stored
    assert database.exists()
    assert token.encode() not in database.read_bytes()


def test_a_401_is_never_cached_as_the_answer(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    limits = org.url + "/services/data/v67.0/limits"
    # Told to keep 401s too, the cache stores whatever answer the caller is given: the
    # renewal and resend happen before it sees one.
    with requests_cache.CachedSession(backend="memory", allowable_codes=(200, 401)) as session:
        session.auth = org.auth()
        session.auth.instance_url
        org.expire_tokens()
        answered = session.get(limits)
        cached = session.get(limits)
    assert answered.status_code == 200
    assert [r.status_code for r in answered.history] == [401]
    assert not answered.from_cache
    assert cached.from_cache
    assert cached.status_code == 200
    assert org.token_requests == 2


# -- users' own mocks ----------------------------------------------------------------------


@responses.activate
def test_the_plugin_works_under_responses_mocks() -> None:
    responses.add(responses.POST, TOKEN_URL, json=token_answer(1))
    responses.add(responses.POST, TOKEN_URL, json=token_answer(2))
    responses.add(responses.GET, LIMITS, json=EXPIRED, status=401)
    responses.add(responses.GET, LIMITS, json={"DailyApiRequests": {}}, status=200)
    auth = SalesforceAuth(DOMAIN, "3MVG9id", "secret")
    response = requests.get(LIMITS, auth=auth)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    sent = [
        c.request.headers.get("Authorization") for c in responses.calls if c.request.url == LIMITS
    ]
    assert sent == ["Bearer 00Dxx!token-1", "Bearer 00Dxx!token-2"]


def test_the_plugin_works_under_requests_mock() -> None:
    with requests_mock.Mocker() as mock:
        mock.post(TOKEN_URL, [{"json": token_answer(1)}, {"json": token_answer(2)}])
        mock.get(LIMITS, [{"json": EXPIRED, "status_code": 401}, {"json": {}, "status_code": 200}])
        auth = SalesforceAuth(DOMAIN, "3MVG9id", "secret")
        response = requests.get(LIMITS, auth=auth)
        sent = [h.headers.get("Authorization") for h in mock.request_history if h.url == LIMITS]
    assert response.status_code == 200
    assert sent == ["Bearer 00Dxx!token-1", "Bearer 00Dxx!token-2"]
    assert mock.call_count == 4


# -- requests-toolbelt ---------------------------------------------------------------------


def test_requests_toolbelt_base_url_session(org: LocalOrg) -> None:
    auth = org.auth()
    with BaseUrlSession(base_url=auth.instance_url + "/services/data/v67.0/") as session:
        session.auth = auth
        session.verify = org.ca_bundle or True
        session.trust_env = False
        assert session.get("test/echo").json()["path"] == "/services/data/v67.0/test/echo"
        org.expire_tokens()
        response = session.get("sobjects")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]


# -- plain requests features ---------------------------------------------------------------


def test_an_environment_proxy_never_reads_the_secret_or_token_of_a_plain_http_org(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = salesforce_org
    # A second org that shares the credentials stands in for an HTTP proxy: a proxy gets the
    # absolute URL and, here, answers it itself, so what it received shows the route taken.
    with LocalOrg(client_id=org.client_id, client_secret=org.client_secret) as proxy:
        proxy.answer_fields = {"instance_url": org.url}  # what the real org would say
        monkeypatch.setenv("HTTP_PROXY", "http://user:proxy-password@" + proxy.url[7:])
        monkeypatch.setenv("NO_PROXY", "")
        session = requests.Session()
        session.auth = org.auth()
        with pytest.raises(SalesforceAuthError) as refused:
            session.get(org.url + "/services/data/v67.0/limits")
        assert proxy.received == []
        assert org.received == []  # refused before any token was fetched

        org_host = org.url.split("://")[1].split(":")[0]
        message = str(refused.value)
        assert f"add {org_host} to NO_PROXY" in message
        assert proxy.url in message
        assert "proxy-password" not in message

        # The token request itself, which the plugin sends, goes around the proxy.
        assert session.auth.fetch_token()["instance_url"] == org.url
        assert [r.path for r in org.received] == ["/services/oauth2/token"]
        with pytest.raises(SalesforceAuthError):
            session.get(org.url + "/services/data/v67.0/limits")
        assert proxy.received == []

        monkeypatch.setenv("NO_PROXY", org_host)
        response = session.get(org.url + "/services/data/v67.0/limits")
    assert response.status_code == 200
    assert proxy.received == []
    assert [r.path for r in org.received] == [
        "/services/oauth2/token",
        "/services/data/v67.0/limits",
    ]


def test_requests_to_other_plain_http_hosts_keep_the_environment_proxy(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = salesforce_org
    with LocalOrg() as proxy, LocalOrg() as elsewhere:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        session = requests.Session()
        session.auth = org.auth()
        response = session.get(elsewhere.url + "/services/data/")
    assert response.status_code == 200
    assert [r.path for r in proxy.received] == ["/services/data/"]
    assert proxy.received[0].token is None
    assert org.received == []
    assert elsewhere.received == []


def test_streamed_downloads_survive_a_refresh(org: LocalOrg) -> None:
    body = json.dumps({"rows": ["x" * 100] * 2000}).encode()
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        response = sf.post("test/echo/download", data=body, stream=True)
        chunks = list(response.iter_content(chunk_size=4096))
    assert response.status_code == 200
    assert json.loads(b"".join(chunks))["body_length"] == len(body)
    assert [r.status_code for r in response.history] == [401]


@pytest.mark.parametrize("variable", ["Http_Proxy", "All_Proxy"])
def test_a_proxy_variable_in_any_mix_of_case_is_refused_as_urllib_reads_it(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    org = salesforce_org
    with LocalOrg() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        session = requests.Session()
        session.auth = org.auth()
        with pytest.raises(SalesforceAuthError, match="NO_PROXY"):
            session.get(org.url + "/services/data/v67.0/limits")
        assert proxy.received == []


@pytest.mark.parametrize(
    "variable", ["HTTP_PROXY", "Http_Proxy", "all://127.0.0.1_proxy", "HTTP://127.0.0.1_PROXY"]
)
def test_a_proxy_variable_set_in_place_of_another_is_refused_at_the_next_request(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # As when one test sets a variable and the next sets a proxy: the number of variables
    # stays the same, and only a check made afresh for this request can see the proxy.
    org = salesforce_org
    monkeypatch.setenv("NO_PROXY", "")
    for n in range(7):  # a number of variables no other test leaves behind
        monkeypatch.setenv(f"SF_AUTH_TEST_PLACEHOLDER_{n}", "1")
    with LocalOrg() as proxy, org.session() as sf:
        assert sf.get("limits").status_code == 200
        count = len(os.environ)
        monkeypatch.delenv("SF_AUTH_TEST_PLACEHOLDER_3")
        monkeypatch.setenv(variable, proxy.url)
        assert len(os.environ) == count
        with pytest.raises(SalesforceAuthError, match="NO_PROXY"):
            sf.get("limits")
    assert proxy.received == []


def test_requests_go_on_while_another_thread_sets_and_removes_variables(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check reads the names while they change under it; it must neither raise nor miss.
    monkeypatch.setenv("NO_PROXY", "")
    names = [f"SF_AUTH_TEST_CHURN_{n}" for n in range(40)]
    stop = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            os.environ[names[n % 40]] = "1"
            os.environ.pop(names[(n + 20) % 40], None)
            n += 1
            time.sleep(0)  # hand the GIL over often, so that changes land mid-check

    with salesforce_org.session() as sf:
        changer = threading.Thread(target=churn)
        changer.start()
        try:
            statuses = [sf.get("limits").status_code for _ in range(200)]
        finally:
            stop.set()
            changer.join()
            for name in names:
                os.environ.pop(name, None)
    assert statuses == [200] * 200


def test_per_host_proxy_variables_never_carry_the_secret_or_the_token(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    # urllib makes a proxy of any <key>_proxy variable, and requests looks up
    # http://<host> and all://<host> before http and all.
    org = salesforce_org
    host = org.url.split("://")[1].split(":")[0]
    with LocalOrg() as proxy:
        monkeypatch.setenv(f"http://{host}_proxy", proxy.url)
        monkeypatch.setenv(f"ALL://{host}_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        session = requests.Session()
        session.auth = org.auth()
        assert session.auth.fetch_token()["instance_url"] == org.url
        with pytest.raises(SalesforceAuthError, match=f"add {host} to NO_PROXY"):
            session.get(org.url + "/services/data/v67.0/limits")
        assert session.auth.revoke() is True
    assert proxy.received == []
    assert [r.path for r in org.received] == ["/services/oauth2/token", "/services/oauth2/revoke"]


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        ("http://user:S3CRET@[::1]:3128", "http://[::1]:3128"),
        ("http://S3CRET@proxy:port", "http://proxy"),
    ],
)
def test_an_odd_proxy_value_is_named_in_a_refusal_never_raised_as_is(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch, proxy: str, shown: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "")
    session = requests.Session()
    session.auth = salesforce_org.auth()
    with pytest.raises(SalesforceAuthError) as refused:
        session.get(salesforce_org.url + "/services/data/v67.0/limits")
    assert f"the proxy {shown} from" in str(refused.value)
    assert "S3CRET" not in str(refused.value)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "all_proxy"])
def test_a_replaced_os_environ_is_read_as_requests_reads_it(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # mock.patch("os.environ", {...}) puts a plain dict there, and urllib reads proxies
    # from whatever os.environ is at the time.
    org = salesforce_org
    url = org.url + "/services/data/v67.0/limits"
    with LocalOrg() as proxy:
        session = requests.Session()
        session.auth = org.auth()
        assert session.get(url).status_code == 200  # judged by the real environment
        # As many names as the real environment: a count would not tell the two apart.
        stand_in = {f"SF_AUTH_TEST_{n}": "1" for n in range(len(os.environ) - 1)}
        monkeypatch.setattr(os, "environ", {**stand_in, variable: proxy.url})
        with pytest.raises(SalesforceAuthError, match="NO_PROXY"):
            session.get(url)
    assert proxy.received == []
    assert [r.path for r in org.received] == ["/services/oauth2/token", url[len(org.url) :]]


def test_a_redirect_hop_an_environment_proxy_carries_is_never_resent_with_the_token(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The org is exempt from the proxy, its second name is not: the hop there goes through
    # the proxy without the token, and its 401 must not be answered by resending the token
    # through the same proxy.
    org = salesforce_org
    alias = org.url.replace("127.0.0.1", "localhost")
    with LocalOrg() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with org.session(allowed_hosts=[alias]) as sf:
            sf.get("limits")
            with pytest.raises(SalesforceAuthError, match="add localhost to NO_PROXY"):
                sf.get("test/redirect", params={"to": alias + "/services/data/v67.0/limits"})
    assert [r.path for r in proxy.received] == ["/services/data/v67.0/limits"]
    assert proxy.received[0].token is None
