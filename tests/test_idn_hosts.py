"""Internationalised host names: requests sends the ASCII ("xn--") form of a name like
``bücher.example``, so the origins the token is scoped to are compared in that form too,
however the domain, ``allowed_hosts`` or ``instance_url`` spell the name. A name the transport
cannot encode is refused up front, saying so.

No DNS record can be added on loopback, so the sessions mount :class:`LoopbackAdapter` for the
IDN origin: it connects to 127.0.0.1 on the URL's port, as such a record would make it, and
keeps the name in the ``Host`` header. Everything else is the real requests stack and a real
HTTPS server (``LocalOrg``), whose certificate is verified.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_sf_auth import SalesforceAuth, TokenRequestError
from requests_sf_auth.testing import LocalOrg

UNICODE = "bücher.example"
PUNYCODE = "xn--bcher-kva.example"  # idna.encode("bücher.example", uts46=True)
SPELLINGS = {"unicode": UNICODE, "upper-case": "BÜCHER.Example", "punycode": PUNYCODE}


def _to_loopback(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))


class LoopbackAdapter(HTTPAdapter):
    """Sends every request to 127.0.0.1 on its URL's port, as a DNS record pointing the URL's
    host there would, with that host in the ``Host`` header. TLS is verified as usual (the
    local org's certificate names 127.0.0.1)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        request.headers.setdefault("Host", urlsplit(request.url).netloc)
        return super().send(request, **kwargs)

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:  # requests >= 2.32
        moved = request.copy()
        moved.url = _to_loopback(request.url or "")
        return super().get_connection_with_tls_context(moved, verify, proxies, cert)  # type: ignore[misc]

    def get_connection(self, url: str, proxies: Any = None) -> Any:  # requests < 2.32
        return super().get_connection(_to_loopback(url), proxies)


def through_loopback(session: requests.Session, org: LocalOrg, *hosts: str) -> requests.Session:
    """``session``, trusting ``org``'s CA, with :class:`LoopbackAdapter` mounted for each of
    ``hosts`` on the org's port."""
    session.verify, session.trust_env = org.ca_bundle or True, False
    for host in hosts:
        session.mount(f"https://{host}:{port_of(org)}/", LoopbackAdapter())
    return session


def port_of(org: LocalOrg) -> int:
    return urlsplit(org.url).port or 443


@pytest.fixture
def org(salesforce_org_https: LocalOrg) -> LocalOrg:
    return salesforce_org_https


@pytest.mark.parametrize("allowed", ["unicode", "punycode"])
@pytest.mark.parametrize("instance", sorted(SPELLINGS))
def test_an_idn_instance_gets_the_token_however_its_name_is_spelled(
    org: LocalOrg, instance: str, allowed: str
) -> None:
    port = port_of(org)
    org.answer_fields = {"instance_url": f"https://{SPELLINGS[instance]}:{port}"}
    auth = org.auth(allowed_hosts=[f"https://{SPELLINGS[allowed]}:{port}"])
    with through_loopback(org.session(auth), org, PUNYCODE) as sf:
        response = sf.post("sobjects/Account", json={"Name": "Acme"})
    assert response.status_code == 201
    assert response.url == f"https://{PUNYCODE}:{port}/services/data/v67.0/sobjects/Account"
    received = org.received[-1]
    assert received.headers["Host"] == f"{PUNYCODE}:{port}"
    assert received.token == auth.token["access_token"]  # type: ignore[index]


def test_an_absolute_url_in_unicode_on_an_idn_instance_gets_the_token(org: LocalOrg) -> None:
    port = port_of(org)
    org.answer_fields = {"instance_url": f"https://{UNICODE}:{port}"}
    auth = org.auth(allowed_hosts=[f"{UNICODE}:{port}"])
    with through_loopback(requests.Session(), org, PUNYCODE) as session:
        response = session.get(f"https://{UNICODE}:{port}/services/async/67.0/job", auth=auth)
    assert response.status_code == 200
    assert org.received[-1].headers["X-SFDC-Session"] == auth.token["access_token"]  # type: ignore[index]


def test_an_idn_domain_is_asked_for_tokens_and_its_unicode_instance_url_is_its_own(
    org: LocalOrg,
) -> None:
    port = port_of(org)
    org.answer_fields = {"instance_url": f"https://{UNICODE}:{port}"}
    token_session = through_loopback(requests.Session(), org, PUNYCODE)
    auth = SalesforceAuth(
        f"https://{UNICODE}:{port}", org.client_id, org.client_secret, token_session=token_session
    )
    assert auth.token_url == f"https://{PUNYCODE}:{port}/services/oauth2/token"
    with through_loopback(org.session(auth), org, PUNYCODE) as sf:
        response = sf.get("limits")
    assert response.status_code == 200
    assert [(r.path, r.headers["Host"]) for r in org.received] == [
        ("/services/oauth2/token", f"{PUNYCODE}:{port}"),
        ("/services/data/v67.0/limits", f"{PUNYCODE}:{port}"),
    ]
    assert org.received[-1].token == auth.token["access_token"]  # type: ignore[index]


def test_a_lookalike_of_an_idn_instance_gets_no_token(org: LocalOrg) -> None:
    port = port_of(org)
    org.answer_fields = {"instance_url": f"https://{UNICODE}:{port}"}
    auth = org.auth(allowed_hosts=[f"{UNICODE}:{port}"])
    auth.instance_url
    with through_loopback(requests.Session(), org, PUNYCODE, "bucher.example") as session:
        response = session.get(
            f"https://bucher.example:{port}/services/data/v67.0/limits", auth=auth
        )
    assert response.status_code == 401
    assert [r.token for r in org.received[1:]] == [None]


UNENCODABLE = {
    "ideographic full stop": "bücher\u3002example",
    "fraction slash": "a\u2044b.example",
    "leading hyphen": "-bücher.example",
    "full-width letters": "\uff42\uff55\uff43\uff48\uff45\uff52.example",
}


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
def test_a_host_name_requests_cannot_encode_is_refused_saying_why(org: LocalOrg, case: str) -> None:
    host = UNENCODABLE[case]
    # What requests itself does with such a name: it refuses to send.
    with pytest.raises(requests.exceptions.InvalidURL):
        requests.Request("GET", f"https://{host}/").prepare()
    with pytest.raises(ValueError, match="not a valid internationalised domain name") as domain:
        SalesforceAuth(f"https://{host}", "3MVG9id", "s3cr3t")
    assert "domain" in str(domain.value)
    with pytest.raises(ValueError, match="not a valid internationalised domain name") as allowed:
        org.auth(allowed_hosts=[host])
    assert "allowed_hosts" in str(allowed.value)

    org.answer_fields = {"instance_url": f"https://{host}"}
    auth = org.auth()
    with pytest.raises(TokenRequestError, match="not a valid internationalised domain name"):
        auth.instance_url
    assert auth.token is None
