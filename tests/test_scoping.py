"""The token goes to the org's origins only: never to another host, not on a redirect and not
on the retry path."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from requests_sf_auth.testing import LocalOrg


def tokens_seen_by(host: LocalOrg) -> list[str | None]:
    return [r.token for r in host.received]


def test_session_wide_auth_leaves_requests_to_other_hosts_untouched(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    with salesforce_org.session() as sf:
        sf.get("limits")
        response = sf.get(other_host.url + "/services/data/v67.0/limits")
    assert response.status_code == 401  # the other host saw no token at all
    assert "Authorization" not in response.request.headers
    assert tokens_seen_by(other_host) == [None]


def test_no_token_is_fetched_for_a_request_to_another_host(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    session = requests.Session()
    session.auth = salesforce_org.auth()
    session.get(other_host.url + "/services/data/")
    assert salesforce_org.token_requests == 0


def test_a_401_from_a_host_that_is_not_ours_is_never_answered_with_our_token(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    auth = salesforce_org.auth()
    auth.instance_url
    response = requests.get(other_host.url + "/services/data/v67.0/limits", auth=auth)
    assert response.status_code == 401
    assert response.history == []
    assert salesforce_org.token_requests == 1
    assert tokens_seen_by(other_host) == [None]


def test_same_host_other_port_is_another_origin(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()
    port = int(salesforce_org.url.rsplit(":", 1)[1])
    other_port_url = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/x"
    prepared = requests.Request("GET", other_port_url, auth=auth).prepare()
    assert "Authorization" not in prepared.headers
    assert salesforce_org.token_requests == 0


def test_cross_host_redirect_never_carries_the_token(org: LocalOrg, other_host: LocalOrg) -> None:
    target = other_host.url + "/services/data/v67.0/limits"
    with org.session() as sf:
        response = sf.get("test/redirect", params={"to": target})
    assert response.url == target
    assert tokens_seen_by(other_host) == [None]


def test_cross_host_redirect_after_a_retry_never_carries_the_token(
    org: LocalOrg, other_host: LocalOrg
) -> None:
    target = other_host.url + "/services/data/v67.0/limits"
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        response = sf.get("test/redirect", params={"to": target, "status": "307"})
    assert response.url == target
    assert org.token_requests == 2
    assert tokens_seen_by(other_host) == [None]
    assert [r.status_code for r in response.history] == [307]


def test_allowed_hosts_receive_the_token(salesforce_org: LocalOrg, other_host: LocalOrg) -> None:
    auth = salesforce_org.auth(allowed_hosts=[other_host.url])
    response = requests.get(other_host.url + "/services/data/", auth=auth)
    assert response.status_code == 200
    assert tokens_seen_by(other_host) == [auth.token["access_token"]]  # type: ignore[index]


def test_plain_http_to_a_remote_host_never_gets_the_token() -> None:
    from requests_sf_auth import SalesforceAuth

    auth = SalesforceAuth("https://acme.my.salesforce.com", "id", "secret")
    prepared = requests.Request("GET", "http://acme.my.salesforce.com/x", auth=auth).prepare()
    assert "Authorization" not in prepared.headers


# -- redirects between our own origins -------------------------------------------------------


def test_a_netrc_entry_for_the_org_does_not_take_the_tokens_place_on_a_same_origin_redirect(
    salesforce_org: LocalOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests puts a ~/.netrc entry for the next hop's host in place of Authorization on
    # every redirect. The hop is answered 401, and the plugin sends it again with the token
    # it holds: no renewal, no login.
    org = salesforce_org
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with org.session() as sf:
        response = sf.get("test/redirect", params={"to": "/services/data/v67.0/limits"})
    assert response.status_code == 200
    held = sf.auth.token["access_token"]  # type: ignore[index]
    assert [r.token for r in org.received if r.path.endswith("/limits")] == [None, held]
    assert org.token_requests == 1


def test_a_redirect_to_another_of_our_origins_carries_the_token_it_lost_on_the_way(
    salesforce_org: LocalOrg,
) -> None:
    # The same org under a second name is a second origin: requests strips Authorization
    # when the host changes, and the plugin, whose token that origin may have, sends it again.
    org = salesforce_org
    by_name = org.url.replace("127.0.0.1", "localhost")
    with org.session(allowed_hosts=[by_name]) as sf:
        response = sf.get("test/redirect", params={"to": by_name + "/services/data/v67.0/limits"})
    assert response.status_code == 200
    assert response.url == by_name + "/services/data/v67.0/limits"
    held = sf.auth.token["access_token"]  # type: ignore[index]
    assert [r.token for r in org.received if r.path.endswith("/limits")] == [None, held]
    assert org.token_requests == 1


def test_a_redirect_hop_whose_held_token_died_on_the_way_gets_one_renewal(
    salesforce_org: LocalOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = salesforce_org
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with org.session() as sf:
        sf.get("limits")
        old = sf.auth.token["access_token"]  # type: ignore[index]
        # The redirect ends every session before it answers.
        params = {"to": "/services/data/v67.0/sobjects", "expire": "1"}
        response = sf.get("test/redirect", params=params)
        new = sf.auth.token["access_token"]  # type: ignore[index]
    assert response.status_code == 200
    assert [r.token for r in org.received if r.path.endswith("/sobjects")] == [None, old, new]
    assert org.token_requests == 2
