"""Every way a redirect can point off the instance: 301, 302, 303, 307 and 308, to each form a
``Location`` can take, on a first send and on the resend after a 401, for the REST API and the
Bulk API 1.0. Whatever the combination, the host it points at gets the request and never
``Authorization`` or ``X-SFDC-Session``.

The org serves HTTPS, so "downgrade" is a real one. The strangers are real servers on loopback
too: one over HTTPS that the session trusts (so the redirect really lands there, TLS and all),
reachable as ``localhost`` or on another port of 127.0.0.1, and one over plain HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from requests_sf_auth import SalesforceSession
from requests_sf_auth.testing import LocalOrg, ReceivedRequest

CREDENTIAL_HEADERS = ("authorization", "x-sfdc-session")


class Hosts(NamedTuple):
    org: LocalOrg
    stranger: LocalOrg  # HTTPS, trusted by the session, with a certificate for localhost
    plain_stranger: LocalOrg  # plain HTTP
    trusted_cas: str  # the org's CA and the stranger's, for the session's ``verify``


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    """The three servers start once for the whole matrix; each case counts only what arrives
    during it, and uses a fresh auth."""
    with LocalOrg(tls=True) as org, LocalOrg(tls=True) as stranger, LocalOrg() as plain:
        bundle = tmp_path_factory.mktemp("cas") / "both.pem"
        bundle.write_text(
            "".join(Path(str(ca)).read_text() for ca in (org.ca_bundle, stranger.ca_bundle))
        )
        yield Hosts(org, stranger, plain, str(bundle))


def port(server: LocalOrg) -> str:
    return server.url.rsplit(":", 1)[1]


# Where each form of Location sends the client, given the hosts and the path to ask for there.
LOCATIONS: dict[str, Callable[[Hosts, str], str]] = {
    "absolute": lambda h, path: f"https://localhost:{port(h.stranger)}{path}",
    "network-path": lambda h, path: f"//localhost:{port(h.stranger)}{path}",
    # The user info spells the instance's own authority; the host is the stranger.
    "userinfo": lambda h, path: (
        f"https://127.0.0.1:{port(h.org)}@localhost:{port(h.stranger)}" + path
    ),
    "other-port": lambda h, path: f"https://127.0.0.1:{port(h.stranger)}{path}",
    "downgrade": lambda h, path: f"http://127.0.0.1:{port(h.plain_stranger)}{path}",
}


class Api(NamedTuple):
    redirect_path: str  # on the org, relative to the session's base
    target_path: str  # asked for on the stranger
    rejection: int  # what a request without a live session gets: 401, or Bulk's 400
    body: dict[str, str]  # keyword arguments for the request body


APIS = {
    "rest": Api(
        "test/redirect",
        "/services/data/v67.0/sobjects/Account",
        401,
        {"data": '{"Name": "Acme"}'},
    ),
    "bulk": Api(
        "/services/async/67.0/test/redirect",
        "/services/async/67.0/job",
        400,
        {"data": "<jobInfo/>"},
    ),
}


def arrived(server: LocalOrg, since: int) -> list[ReceivedRequest]:
    return server.received[since:]


def credential_headers(request: ReceivedRequest) -> list[str]:
    return [name for name in request.headers if name.lower() in CREDENTIAL_HEADERS]


@pytest.mark.parametrize("api", sorted(APIS))
@pytest.mark.parametrize("send", ["first-send", "resend"])
@pytest.mark.parametrize("location", list(LOCATIONS))
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_off_the_instance_never_carries_the_token(
    hosts: Hosts, status: int, location: str, send: str, api: str
) -> None:
    org, strangers = hosts.org, (hosts.stranger, hosts.plain_stranger)
    spec = APIS[api]
    to = LOCATIONS[location](hosts, spec.target_path)
    before = {id(s): len(s.received) for s in (org, *strangers)}
    tokens_before = org.token_requests

    with SalesforceSession(org.auth()) as sf:
        sf.verify, sf.trust_env = hosts.trusted_cas, False
        sf.auth.instance_url
        if send == "resend":
            org.expire_tokens()
        response = sf.post(
            spec.redirect_path,
            params={"to": to, "status": str(status)},
            headers={"Content-Type": "text/plain"},
            **spec.body,
        )
        token = sf.auth.token["access_token"]

    # The redirect was followed off the instance: exactly one request reached a stranger, and
    # it carried no credential of ours.
    landed = [r for s in strangers for r in arrived(s, before[id(s)])]
    assert [(r.path, credential_headers(r)) for r in landed] == [(spec.target_path, [])]
    assert all(token not in str(r.headers) for r in landed)
    # The stranger's own rejection was not answered with a token either.
    assert response.status_code == spec.rejection
    assert response.history[-1].status_code == status

    # The hop that redirected had the token: the matrix is about where it stops.
    hops = [r for r in arrived(org, before[id(org)]) if r.path.endswith("/test/redirect")]
    if send == "resend":
        assert [r.status for r in hops] == [spec.rejection, status]
        assert org.token_requests - tokens_before == 2
    else:
        assert [r.status for r in hops] == [status]
        assert org.token_requests - tokens_before == 1
    sent = hops[-1].headers
    assert sent["Authorization"] == f"Bearer {token}"
    if api == "bulk":
        assert sent["X-SFDC-Session"] == token
