"""Input that parsers read in two ways, and answers shaped to break the client: each is refused
with a clear error that quotes no secret, and nothing reaches a host it must not reach."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from requests_sf_auth import MemoryTokenStore, SalesforceAuth, SalesforceSession, TokenRequestError
from requests_sf_auth._stores import store_key
from requests_sf_auth._token import _seal
from requests_sf_auth.testing import LocalOrg

from helpers import once_resumed, scripted_instance

API = "/services/data/v67.0/limits"


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("https://127.0.0.2\\.my.salesforce.com", "backslash"),
        ("https://acme.my.salesforce.com\\@127.0.0.2", "user info"),
        ("https://acme.my.salesforce.com\x00", "control character"),
        ("https://acme\x1f.my.salesforce.com", "white space"),
        ("https://" + "a" * 70 + ".my.salesforce.com", "each label is 1 to 63"),
    ],
)
def test_a_domain_the_transport_would_read_differently_is_refused(
    domain: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SalesforceAuth(domain, "3MVG9id", "s3cr3t")


@pytest.mark.parametrize(
    "path", [" //host/x", "\t//host/x", "/\t/host/x", "/\n/host/x", "\x00//host/x", "\x1f//host/x"]
)
def test_relative_paths_that_urljoin_would_turn_into_another_host_are_refused(
    salesforce_org: LocalOrg, other_host: LocalOrg, path: str
) -> None:
    target = path.replace("host", other_host.url.removeprefix("http://"))
    with salesforce_org.session() as sf, pytest.raises(ValueError, match="network-path"):
        sf.post(target, data="body for nobody else")
    assert other_host.received == []


def test_relative_paths_with_spaces_in_their_query_still_work(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session() as sf:
        response = sf.get("test/echo?q=SELECT Id FROM Account")
    assert response.json()["query"] == {"q": ["SELECT Id FROM Account"]}


MALFORMED: dict[str, dict[str, Any]] = {
    "expires_in is text": {"expires_in": "abc"},
    "expires_in is a list": {"expires_in": [1]},
    "expires_in overflows": {"expires_in": 1e400},
    "scope is a number": {"scope": 5},
    "issued_at overflows": {"issued_at": 10**400},
    "signature is not ascii": {"signature": "sïgnature"},
    "id has a lone surrogate": {"id": "\ud800"},
    "instance host label too long": {"instance_url": "https://" + "a" * 70 + ".salesforce.com"},
    "instance url with a backslash": {"instance_url": "https://127.0.0.2\\.my.salesforce.com"},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_token_answer_is_a_token_request_error_that_quotes_no_secret(
    salesforce_org: LocalOrg, case: str
) -> None:
    org = salesforce_org
    org.answer_fields = MALFORMED[case]
    auth = org.auth(verify_signature=True, token_backoff=(0.1, 0.1))
    with pytest.raises(TokenRequestError) as info:
        requests.get(org.url + API, auth=auth)
    shown = str(info.value)
    assert org.client_secret not in shown
    assert all(token not in shown for token in org.live_tokens())
    assert auth.token is None
    org.answer_fields = {}
    assert once_resumed(lambda: requests.get(org.url + API, auth=auth)).ok


def test_a_session_on_hostile_paths_keeps_its_token_home(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    with SalesforceSession(salesforce_org.auth()) as sf:
        assert sf.get("limits").ok
        for path in ("..//" + other_host.url.removeprefix("http://"), "/..//x", "./\\\\x"):
            with contextlib.suppress(ValueError, requests.RequestException):
                sf.get(path)
    assert all("Authorization" not in r.headers for r in other_host.received)


# -- whom an instance_url may name ------------------------------------------------------------


def test_a_token_answer_naming_another_host_is_refused_and_that_host_hears_nothing(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    salesforce_org.answer_fields = {"instance_url": other_host.url}
    auth = salesforce_org.auth()
    with pytest.raises(TokenRequestError, match="add it to allowed_hosts") as info:
        auth.instance_url
    assert "neither the domain's host" in str(info.value)
    assert auth.token is None
    assert other_host.received == []


def test_an_instance_url_with_an_empty_port_is_refused() -> None:
    from requests_sf_auth._urls import Origin, trusted_instance

    domain = Origin("https", "acme.my.salesforce.com", 443)
    with pytest.raises(ValueError, match="not a bare scheme://host"):
        trusted_instance("https://acme.my.salesforce.com:", domain, frozenset())


def test_an_instance_host_named_in_allowed_hosts_is_accepted(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    salesforce_org.answer_fields = {"instance_url": other_host.url}
    auth = salesforce_org.auth(allowed_hosts=[other_host.url])
    assert auth.instance_url == other_host.url


def test_a_plain_http_instance_for_an_https_domain_is_refused_even_on_loopback(
    salesforce_org_https: LocalOrg,
) -> None:
    org = salesforce_org_https
    org.answer_fields = {"instance_url": org.url.replace("https://", "http://")}
    with pytest.raises(TokenRequestError, match="plain http while the domain uses https"):
        org.auth().instance_url


def plant_in_store(
    auth: SalesforceAuth, store: MemoryTokenStore, instance_url: str, *, sealed: bool
) -> None:
    """Let ``auth`` publish its token in ``store``, then rewrite the record's ``instance_url``,
    as someone who can write the store would; ``sealed`` re-seals it with the client secret,
    as only a process of the same client could."""
    auth.instance_url
    key = store_key(auth.token_url, auth.client_id)
    record = store.load(key)
    assert record is not None
    record["response"]["instance_url"] = instance_url
    if sealed:
        record["seal"] = _seal(record, auth._lifecycle.endpoint)
    store.save(key, record, None)


def test_a_store_record_naming_another_host_is_ignored_like_a_fresh_answer(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    # Sealed with the secret, as a process of the same client would: the seal is not what
    # refuses it, the instance_url check is.
    org = salesforce_org
    store = MemoryTokenStore()
    plant_in_store(org.auth(token_store=store), store, other_host.url, sealed=True)
    second = org.auth(token_store=store)
    assert second.instance_url == org.url  # refused the record, fetched its own
    assert org.token_requests == 2
    assert other_host.received == []


@pytest.mark.parametrize(
    ("instance_url", "trusted"),
    [
        ("https://acme.my.salesforce.com", True),
        ("https://acme--c.vf.force.com", True),
        ("https://acme.lightning.force.com", True),
        ("https://acme.my.site.com", True),
        ("https://force.com.evil.example", False),
        ("https://evilforce.com", False),
        ("http://acme.my.salesforce.com", False),
    ],
)
def test_instance_urls_under_salesforces_own_domains_are_trusted_and_lookalikes_are_not(
    instance_url: str, trusted: bool
) -> None:
    from requests_sf_auth._urls import Origin, trusted_instance

    domain = Origin("https", "acme.my.salesforce.com", 443)
    if trusted:
        assert trusted_instance(instance_url, domain, frozenset()) == Origin.of(instance_url)
    else:
        with pytest.raises(ValueError, match="instance_url"):
            trusted_instance(instance_url, domain, frozenset())


# -- store records and store files others can write ----------------------------------------


def test_a_store_record_another_org_could_write_is_ignored_without_this_clients_seal(
    salesforce_org: LocalOrg, caplog: pytest.LogCaptureFixture
) -> None:
    # Anyone who can write the store (a group member, a Redis user) knows the domain and the
    # client id, which make the key, but not the secret: a record they write, even one naming
    # a Salesforce host that passes every URL check, is not taken.
    org = salesforce_org
    store = MemoryTokenStore()
    attacker = "https://attacker.my.salesforce.com"
    plant_in_store(org.auth(token_store=store), store, attacker, sealed=False)
    with caplog.at_level(logging.WARNING, logger="requests_sf_auth"):
        reader = org.auth(token_store=store, allowed_hosts=[attacker])
        assert reader.instance_url == org.url  # its own token, fetched
    assert org.token_requests == 2
    assert "not sealed with this client's secret" in caplog.text


def test_a_store_record_sealed_with_another_secret_is_ignored(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    store = MemoryTokenStore()
    org.auth(token_store=store).instance_url
    with LocalOrg(client_id=org.client_id) as other:  # same client id, another secret
        stranger = SalesforceAuth(
            org.url, org.client_id, other.client_secret, token_store=store, token_backoff=(1, 1)
        )
        with pytest.raises(TokenRequestError):  # it fetched, and the org refused its secret
            stranger.instance_url
    assert org.token_requests == 2


def _without_expiry(record: dict[str, object]) -> None:
    del record["store_expires_at"]  # would live forever


def _expiring_at_nan(record: dict[str, object]) -> None:
    record["store_expires_at"] = float("nan")  # JSON writes NaN; no moment is after it


@pytest.mark.parametrize("tamper", [_without_expiry, _expiring_at_nan], ids=["none", "nan"])
def test_a_file_store_record_without_a_real_expiry_is_not_used(
    salesforce_org: LocalOrg, tmp_path: Path, tamper: Callable[[dict[str, object]], None]
) -> None:
    from requests_sf_auth import FileTokenStore

    org = salesforce_org
    path = tmp_path / "tokens.json"
    org.auth(token_store=FileTokenStore(path)).instance_url
    records = json.loads(path.read_text())
    for record in records.values():
        tamper(record)
    path.write_text(json.dumps(records))
    org.auth(token_store=FileTokenStore(path)).instance_url
    assert org.token_requests == 2


@pytest.mark.parametrize("kind", ["fifo", "endless device", "huge file", "deep json"])
def test_a_store_file_that_is_no_token_file_costs_one_warning_and_never_hangs(
    salesforce_org: LocalOrg, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    from requests_sf_auth import FileTokenStore

    org = salesforce_org
    path = tmp_path / "tokens.json"
    if kind == "fifo":
        os.mkfifo(path)  # a reader would wait for a writer forever
    elif kind == "endless device":
        path.symlink_to("/dev/zero")
    elif kind == "huge file":
        with path.open("wb") as huge:
            huge.truncate(64 * 1024 * 1024)
    else:
        path.write_text("[" * 100_000 + "]" * 100_000)
    store = FileTokenStore(path, lock_timeout=5)
    with (
        caplog.at_level(logging.WARNING, logger="requests_sf_auth"),
        org.session(token_store=store) as sf,
    ):
        statuses = [sf.get("limits").status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert org.token_requests == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_a_token_answer_nested_deeper_than_the_stack_is_a_token_request_error(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_answer = (200, "application/json", ("[" * 20_000 + "]" * 20_000).encode())
    with pytest.raises(TokenRequestError, match="HTTP 200"):
        org.auth().instance_url
    org.token_answer = None
    assert org.auth().instance_url == org.url


# -- answers whose body cannot be read --------------------------------------------------------

UNDECODABLE = {"Content-Encoding": "gzip", "Content-Type": "text/xml"}, b"\x1f\x8bnot gzip at all"


def test_a_401_whose_body_cannot_be_decoded_is_still_renewed_and_resent(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    rejection = (401, *UNDECODABLE)
    with scripted_instance([rejection, (200, {"Content-Type": "application/json"}, b"{}")]) as (
        instance,
        received,
    ):
        org.answer_fields = {"instance_url": instance}
        auth = org.auth(allowed_hosts=[instance])
        auth.fetch_token()
        response = requests.get(instance + "/services/data/v67.0/limits", auth=auth)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert org.token_requests == 2
    assert received[0]["Authorization"] != received[1]["Authorization"]


def test_a_bulk_400_whose_body_cannot_be_decoded_raises_as_reading_it_would(
    salesforce_org: LocalOrg,
) -> None:
    # The plugin reads a Bulk API 400 to tell InvalidSessionId from other errors, stream=True
    # or not; a broken body must then fail loudly, as the caller's own read would, and never
    # reach the caller as an empty body.
    org = salesforce_org
    with scripted_instance([(400, *UNDECODABLE)]) as (instance, received):
        org.answer_fields = {"instance_url": instance}
        auth = org.auth(allowed_hosts=[instance])
        auth.fetch_token()
        with pytest.raises(requests.exceptions.ContentDecodingError):
            requests.get(instance + "/services/async/67.0/job/750x", auth=auth, stream=True)
    assert len(received) == 1
    assert "X-SFDC-Session" in received[0]
