"""The token goes to the org's origins only: never to another host, not on a redirect and not
on the retry path."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def org_and_a_port_that_extends_its_port() -> Iterator[tuple[LocalOrg, LocalOrg]]:
    """An org on port P and another server on P followed by a digit (3000 and 30001, say):
    spelled out, the org's origin is a prefix of the other's."""
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(1024, 6553)  # so that port * 10 + 9 is a port too
        try:
            org = LocalOrg(port=port).start()
        except OSError:  # taken by someone else
            continue
        for digit in range(10):
            try:
                other = LocalOrg(port=port * 10 + digit).start()
            except OSError:
                continue
            try:
                yield org, other
            finally:
                other.stop()
                org.stop()
            return
        org.stop()
    pytest.fail("found no free pair of ports like 3000 and 30001")


def test_a_port_that_merely_begins_with_the_instance_port_never_gets_the_token(
    org_and_a_port_that_extends_its_port: tuple[LocalOrg, LocalOrg],
) -> None:
    org, other = org_and_a_port_that_extends_its_port
    assert other.url.startswith(org.url)
    with org.session() as sf:
        assert sf.get("limits").status_code == 200  # a token is held: the quick check applies
        response = sf.get(other.url + "/services/data/v67.0/limits")
    assert response.status_code == 401
    assert tokens_seen_by(other) == [None]
    assert org.token_requests == 1


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


# -- an instance on another host than the domain ----------------------------------------------

INSTANCE_HOST = "na1.salesforce.com"


@pytest.fixture
def org_with_instance_elsewhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalOrg]:
    """An org over HTTPS whose tokens name an instance on another host than its domain, under
    Salesforce's own domains, as a real org's may: the same server, which that name reaches
    here because the resolver points it at 127.0.0.1."""
    resolve = socket.getaddrinfo

    def loopback_for_the_instance(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower() == INSTANCE_HOST:
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_for_the_instance)
    with LocalOrg(tls=True, instance_host=INSTANCE_HOST) as org:
        yield org


def test_an_instance_on_another_host_than_the_domain_gets_the_token_and_its_401s_renewed(
    org_with_instance_elsewhere: LocalOrg,
) -> None:
    org = org_with_instance_elsewhere
    with org.session() as sf:
        first = sf.get("limits")
        org.expire_tokens()
        renewed = sf.get("limits")
        on_the_domain = sf.get(org.url + "/services/data/v67.0/limits")
    assert first.url.startswith(org.instance_url + "/")
    assert first.status_code == renewed.status_code == on_the_domain.status_code == 200
    assert [r.status_code for r in renewed.history] == [401]
    instance = org.instance_url.removeprefix("https://")
    hosts = [r.headers["Host"] for r in org.received if r.path.endswith("/limits")]
    assert hosts == [instance] * 3 + [org.url.removeprefix("https://")]
    assert org.token_requests == 2


def test_a_first_plain_request_to_an_instance_elsewhere_goes_without_a_token(
    org_with_instance_elsewhere: LocalOrg,
) -> None:
    # The documented edge: until a token is held, the instance URL is not known to be ours.
    org = org_with_instance_elsewhere
    limits = org.instance_url + "/services/data/v67.0/limits"
    auth = org.auth()
    response = requests.get(limits, auth=auth, verify=org.ca_bundle)
    assert response.status_code == 401
    assert tokens_seen_by(org) == [None]
    assert org.token_requests == 0
    auth.instance_url  # what SalesforceSession does first
    assert requests.get(limits, auth=auth, verify=org.ca_bundle).status_code == 200


# -- redirects between our own origins -------------------------------------------------------


@pytest.fixture
def netrc_for_the_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ~/.netrc (through NETRC) with an entry for the org's host, 127.0.0.1."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


@pytest.mark.usefixtures("netrc_for_the_org")
def test_a_netrc_entry_for_the_org_does_not_take_the_tokens_place_on_a_same_origin_redirect(
    salesforce_org: LocalOrg,
) -> None:
    # requests puts a ~/.netrc entry for the next hop's host in place of Authorization on
    # every redirect. The hop is answered 401, and the plugin sends it again with the token
    # it holds: no renewal, no login.
    org = salesforce_org
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


@pytest.mark.usefixtures("netrc_for_the_org")
def test_a_redirect_hop_whose_held_token_died_on_the_way_gets_one_renewal(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
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


def test_a_redirect_from_http_to_https_on_the_same_host_never_carries_the_token() -> None:
    # requests keeps Authorization from http://host:80 to https://host:443, though that is
    # another origin; only the standard ports show it.
    with contextlib.ExitStack() as running:
        try:
            org = running.enter_context(LocalOrg(port=80))
            stranger = running.enter_context(LocalOrg(tls=True, port=443))
        except OSError as exc:
            pytest.skip(f"ports 80 and 443 on 127.0.0.1 are needed: {exc}")
        target = "https://127.0.0.1/services/data/v67.0/limits"
        with org.session() as sf:
            sf.verify = stranger.ca_bundle or True
            sf.trust_env = False  # REQUESTS_CA_BUNDLE would win over verify
            response = sf.get("test/redirect", params={"to": target})
    assert response.url == target
    assert tokens_seen_by(stranger) == [None]
