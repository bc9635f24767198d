"""SalesforceSession (and any session with SalesforceURLMixin) resolves relative URLs by
RFC 3986 against ``{instance_url}/services/data/v{api_version}/``."""

from __future__ import annotations

import copy
import pickle

import pytest
import requests
import requests_cache

from requests_sf_auth import ApiUsage, SalesforceAuth, SalesforceSession, SalesforceURLMixin
from requests_sf_auth._urls import resolve_api_url
from requests_sf_auth.testing import LocalOrg

BASE = "https://acme.my.salesforce.com"


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        ("sobjects/Account/describe", f"{BASE}/services/data/v67.0/sobjects/Account/describe"),
        ("/services/data/v67.0/chatter/users/me", f"{BASE}/services/data/v67.0/chatter/users/me"),
        ("/services/data/", f"{BASE}/services/data/"),
        ("", f"{BASE}/services/data/v67.0/"),
        (
            "query?q=SELECT+Id+FROM+Account",
            f"{BASE}/services/data/v67.0/query?q=SELECT+Id+FROM+Account",
        ),
        ("../v66.0/limits", f"{BASE}/services/data/v66.0/limits"),
        ("../../../../../etc", f"{BASE}/etc"),
        ("sobjects/a@b.com", f"{BASE}/services/data/v67.0/sobjects/a@b.com"),
        ("https://other.example.com/x", "https://other.example.com/x"),
        ("HTTP://127.0.0.1:5/x", "HTTP://127.0.0.1:5/x"),
    ],
)
def test_relative_urls_resolve_by_rfc_3986_and_absolute_urls_are_untouched(
    given: str, resolved: str
) -> None:
    assert resolve_api_url(given, BASE, "67.0") == resolved


@pytest.mark.parametrize("given", ["//evil.example.com/x", "\\\\evil.example.com\\x", "/\\evil"])
def test_network_path_references_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match="network-path reference"):
        resolve_api_url(given, BASE, "67.0")


def test_relative_paths_reach_the_org_with_params(org: LocalOrg) -> None:
    with org.session() as sf:
        echoed = sf.get("test/echo/sobjects/Account", params={"fields": "Id,Name"}).json()
        described = sf.get("sobjects/Account/describe")
        versions = sf.get("/services/data/").json()
    assert echoed["path"] == "/services/data/v67.0/test/echo/sobjects/Account"
    assert echoed["query"] == {"fields": ["Id,Name"]}
    assert described.url == sf.auth.instance_url + "/services/data/v67.0/sobjects/Account/describe"
    assert described.json()["name"] == "Account"
    assert [v["version"] for v in versions] == ["65.0", "66.0", "67.0"]


def test_api_version_sets_the_versioned_base(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session(api_version="66.0") as sf:
        assert sf.get("test/echo").json()["path"] == "/services/data/v66.0/test/echo"


def test_prepare_request_resolves_request_objects_without_changing_them(
    salesforce_org: LocalOrg,
) -> None:
    with salesforce_org.session() as sf:
        request = requests.Request("POST", "test/echo/Account", json={"Name": "Acme"})
        prepared = sf.prepare_request(request)
        assert request.url == "test/echo/Account"
        assert prepared.url == salesforce_org.url + "/services/data/v67.0/test/echo/Account"
        assert sf.send(prepared).json()["body"] == '{"Name": "Acme"}'


def test_relative_url_without_a_salesforce_auth_says_what_is_missing() -> None:
    class Plain(SalesforceURLMixin, requests.Session):
        pass

    with pytest.raises(ValueError, match="must be a SalesforceAuth"):
        Plain().get("sobjects/Account")


def test_mixin_gives_a_third_party_session_class_relative_urls(salesforce_org: LocalOrg) -> None:
    class CachedSalesforceSession(SalesforceURLMixin, requests_cache.CachedSession):
        pass

    with CachedSalesforceSession(backend="memory") as sf:
        sf.auth = salesforce_org.auth()
        first = sf.get("sobjects/Account/describe")
        second = sf.get("sobjects/Account/describe")
    assert first.url == salesforce_org.url + "/services/data/v67.0/sobjects/Account/describe"
    assert first.json()["name"] == "Account"
    assert second.from_cache
    assert salesforce_org.api_requests == 1


def test_session_requires_a_salesforce_auth() -> None:
    with pytest.raises(ValueError, match="needs a SalesforceAuth"):
        SalesforceSession(("user", "password"))  # type: ignore[arg-type]


def test_pickled_session_works_and_fetches_its_own_token(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session() as sf:
        sf.get("limits")
        pickled = pickle.dumps(sf)
        clone = pickle.loads(pickled)
    assert clone.auth.token is None
    assert clone.auth.api_usage == sf.auth.api_usage == ApiUsage(1, 15000)
    assert b"Sforce-Limit-Info" not in pickled  # the reading, not the answer's headers
    assert clone.get("limits").status_code == 200
    assert salesforce_org.token_requests == 2


def test_deepcopied_auth_works_independently(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()
    auth.instance_url
    twin = copy.deepcopy(auth)
    assert isinstance(twin, SalesforceAuth)
    assert twin.token is None
    assert requests.get(salesforce_org.url + "/services/data/v67.0/limits", auth=twin).ok
    assert auth.token != twin.token
