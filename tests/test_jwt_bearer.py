"""SalesforceJWTAuth: the JWT bearer grant against the local org, with key pairs made in the
tests. Everything after the token request is SalesforceAuth's, so these tests prove the grant
itself, its errors and secrets, and that the shared lifecycle (single flight, renewal,
stores, pickling, revocation) works unchanged with it."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import parse_qsl

import jwt
import pytest
import requests

from requests_sf_auth import (
    MemoryTokenStore,
    SalesforceJWTAuth,
    SalesforceSession,
    TokenRequestError,
)
from requests_sf_auth.testing import KeyPair, LocalOrg, generate_key_pair

from helpers import (
    once_resumed,
    raw_echo,
    run_together,
    status_line_echoing_the_form,
    wait_for,
)

USER = "integration@acme.example"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def trusted_org(org: LocalOrg, keys: KeyPair, username: str = USER) -> LocalOrg:
    org.trust_jwt_key(username, keys.public_key)
    return org


def working_jwt_auth(org: LocalOrg, keys: KeyPair) -> SalesforceJWTAuth:
    """A JWT auth for ``USER``, whose key ``org`` trusts, that has made one successful call."""
    auth = trusted_org(org, keys).jwt_auth(USER, keys.private_key)
    with SalesforceSession(auth) as sf:
        assert sf.get("limits").status_code == 200
    return auth


def sent_assertions(org: LocalOrg) -> list[str]:
    """The assertions of every token request the org received, in order."""
    forms = [dict(parse_qsl(r.body.decode())) for r in org.received if r.path.endswith("/token")]
    assert all(form["grant_type"] == JWT_GRANT for form in forms)
    assert all("client_secret" not in form for form in forms)
    return [form["assertion"] for form in forms]


# -- the grant -------------------------------------------------------------------------------


def test_each_token_request_sends_a_fresh_rs256_assertion_naming_app_user_and_audience(
    org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    trusted_org(org, salesforce_key_pair)
    with org.session(org.jwt_auth(USER, salesforce_key_pair.private_key)) as sf:
        assert sf.get("limits").status_code == 200
        (first,) = sent_assertions(org)
        # Claims are whole seconds: let the clock tick so a fresh assertion differs.
        issued = jwt.decode(first, options={"verify_signature": False})["iat"]
        wait_for(lambda: time.time() >= issued + 1)
        org.expire_tokens()
        renewed = sf.get("limits")
    assert renewed.status_code == 200
    assert len(renewed.history) == 1
    assert org.token_requests == 2
    claims = [
        jwt.decode(
            assertion,
            salesforce_key_pair.public_key,
            algorithms=["RS256"],
            audience="https://login.salesforce.com",
        )
        for assertion in sent_assertions(org)
    ]
    assert all(jwt.get_unverified_header(a)["alg"] == "RS256" for a in sent_assertions(org))
    assert [(c["iss"], c["sub"]) for c in claims] == [(org.client_id, USER)] * 2
    assert all(0 < c["exp"] - c["iat"] <= 180 for c in claims)  # Salesforce: within 3 minutes
    assert claims[1]["iat"] > claims[0]["iat"]  # made for the second request, not reused


def test_the_answer_without_signature_or_issued_at_is_used_as_salesforce_sent_it(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    auth = working_jwt_auth(salesforce_org, salesforce_key_pair)
    assert auth.token is not None
    assert sorted(auth.token) == ["access_token", "id", "instance_url", "scope", "token_type"]


@pytest.mark.parametrize("form", ["text", "bytes", "file"])
def test_the_key_may_be_pem_text_pem_bytes_or_a_pem_file(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair, tmp_path: Path, form: str
) -> None:
    trusted_org(salesforce_org, salesforce_key_pair)
    pem = salesforce_key_pair.private_key
    if form == "file":
        path = tmp_path / "server.key"
        path.write_text(pem)
        auth = SalesforceJWTAuth(
            salesforce_org.url, salesforce_org.client_id, USER, private_key_file=path
        )
    else:
        key: str | bytes = pem.encode() if form == "bytes" else pem
        auth = SalesforceJWTAuth(salesforce_org.url, salesforce_org.client_id, USER, key)
    with SalesforceSession(auth) as sf:
        assert sf.get("limits").status_code == 200


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("wrong_key", ("invalid_grant", "invalid assertion", "matches the certificate")),
        ("wrong_user", ("invalid_grant", "user hasn't approved this consumer", "pre-authorise")),
        ("wrong_audience", ("invalid_grant", "audience is invalid", "set audience=")),
        ("wrong_client_id", ("invalid_client_id", "client identifier invalid", "Consumer Key")),
    ],
)
def test_each_jwt_refusal_raises_token_request_error_with_its_fix_then_recovers(
    salesforce_org: LocalOrg,
    salesforce_key_pair: KeyPair,
    mistake: str,
    expected: tuple[str, str, str],
) -> None:
    error, description, hint = expected
    org = trusted_org(salesforce_org, salesforce_key_pair)
    key, user, client_id = salesforce_key_pair.private_key, USER, org.client_id
    audience = "https://login.salesforce.com"
    if mistake == "wrong_key":
        key = generate_key_pair().private_key
    elif mistake == "wrong_user":
        user = "someone.else@acme.example"
    elif mistake == "wrong_audience":
        audience = "https://test.salesforce.com"
    else:
        client_id = "3MVG9notTheApp"
    auth = SalesforceJWTAuth(org.url, client_id, user, key, audience=audience)
    with SalesforceSession(auth) as sf, pytest.raises(TokenRequestError) as excinfo:
        sf.get("limits")
    assert (excinfo.value.error, excinfo.value.error_description) == (error, description)
    assert excinfo.value.status_code == 400
    assert hint in (excinfo.value.hint or "")
    assert org.api_requests == 0
    # The same settings, put right, work with a fresh auth.
    with org.session(org.jwt_auth(USER, salesforce_key_pair.private_key)) as sf:
        assert sf.get("limits").status_code == 200


def test_an_expired_assertion_gets_the_clock_hint(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    org = trusted_org(salesforce_org, salesforce_key_pair)
    org.clock_skew = 600.0  # the org's clock is 10 minutes ahead: every assertion is stale
    auth = org.jwt_auth(USER, salesforce_key_pair.private_key)
    with org.session(auth) as sf, pytest.raises(TokenRequestError) as excinfo:
        sf.get("limits")
    assert excinfo.value.error_description == "expired"
    assert "clock" in (excinfo.value.hint or "")


# -- the lifecycle, unchanged ------------------------------------------------------------------


def test_16_threads_cause_one_jwt_token_request_on_first_use_and_one_after_an_expiry(
    org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    trusted_org(org, salesforce_key_pair)
    org.token_delay = 0.2  # keep each fetch in flight while every thread arrives
    with org.session(org.jwt_auth(USER, salesforce_key_pair.private_key)) as sf:
        first = run_together(16, lambda: sf.get("limits").status_code)
        org.expire_tokens()
        after = run_together(16, lambda: sf.get("limits").status_code)
    assert first == after == [200] * 16
    assert org.token_requests == 2


def test_token_lifetime_renews_jwt_tokens_whose_answer_has_no_issued_at(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    trusted_org(salesforce_org, salesforce_key_pair)
    auth = salesforce_org.jwt_auth(
        USER, salesforce_key_pair.private_key, token_lifetime=1.0, leeway=0.5
    )
    with SalesforceSession(auth) as sf:
        assert sf.get("limits").status_code == 200
        first = auth.token["access_token"]  # type: ignore[index]
        time.sleep(0.6)  # past the renewal moment (scheduled from arrival, not issued_at)
        assert sf.get("limits").status_code == 200
        wait_for(lambda: auth.token["access_token"] != first)  # type: ignore[index]
    assert salesforce_org.token_requests == 2


def test_a_store_shares_jwt_tokens_per_user_not_per_app(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    org = trusted_org(salesforce_org, salesforce_key_pair)
    other = generate_key_pair()
    org.trust_jwt_key("other@acme.example", other.public_key)
    store = MemoryTokenStore()
    first = org.jwt_auth(USER, salesforce_key_pair.private_key, token_store=store)
    second = org.jwt_auth(USER, salesforce_key_pair.private_key, token_store=store)
    stranger = org.jwt_auth("other@acme.example", other.private_key, token_store=store)
    for auth in (first, second, stranger):
        with SalesforceSession(auth) as sf:
            assert sf.get("limits").status_code == 200
    assert org.token_requests == 2  # one per user
    assert first.token == second.token != stranger.token


def test_a_pickled_jwt_auth_fetches_its_own_token_with_the_same_key(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    auth = working_jwt_auth(salesforce_org, salesforce_key_pair)
    copy = pickle.loads(pickle.dumps(auth))
    assert copy.token is None
    with SalesforceSession(copy) as sf:
        assert sf.get("limits").status_code == 200
    assert salesforce_org.token_requests == 2


def test_revoke_ends_a_jwt_token_and_the_next_request_fetches_another(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair
) -> None:
    auth = working_jwt_auth(salesforce_org, salesforce_key_pair)
    with SalesforceSession(auth) as sf:
        assert auth.revoke() is True
        assert salesforce_org.live_tokens() == []
        assert sf.get("limits").status_code == 200
    assert (salesforce_org.revoke_requests, salesforce_org.token_requests) == (1, 2)


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "audience"),
    [
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("login.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("ACME--UAT.Sandbox.My.Salesforce.com", "https://test.salesforce.com"),
        ("https://fun-dream-1234.scratch.my.salesforce.com", "https://test.salesforce.com"),
        ("test.salesforce.com", "https://test.salesforce.com"),
    ],
)
def test_the_audience_defaults_to_production_and_to_test_for_sandbox_domains(
    salesforce_key_pair: KeyPair, domain: str, audience: str
) -> None:
    auth = SalesforceJWTAuth(domain, "3MVG9app", USER, salesforce_key_pair.private_key)
    assert auth.audience == audience


def test_an_explicit_audience_wins_and_a_bare_host_is_refused(
    salesforce_key_pair: KeyPair,
) -> None:
    site = "https://acme.my.site.com/customers"
    pem = salesforce_key_pair.private_key
    domain = "https://acme--uat.sandbox.my.salesforce.com"
    assert SalesforceJWTAuth(domain, "3MVG9app", USER, pem, audience=site).audience == site
    with pytest.raises(
        ValueError, match=r"audience 'login\.salesforce\.com' must be the https URL"
    ):
        SalesforceJWTAuth(domain, "3MVG9app", USER, pem, audience="login.salesforce.com")


def _encrypted(pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()


def _ec_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        (lambda keys: keys.private_key[:-80] + "garbage\n", "not a PEM private key"),
        (lambda keys: keys.public_key, "not a PEM private key"),
        (lambda keys: _encrypted(keys.private_key), "encrypted with a passphrase"),
        (lambda keys: _ec_key(), "not an RSA key"),
        (lambda keys: 42, "must be PEM text or bytes"),
        (lambda keys: None, "exactly one of them"),
    ],
    ids=["truncated", "public_key", "encrypted", "ec_key", "not_text", "missing"],
)
def test_an_unusable_key_fails_at_construction_quoting_none_of_it(
    salesforce_key_pair: KeyPair, make_key: object, message: str
) -> None:
    key = make_key(salesforce_key_pair)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as excinfo:
        SalesforceJWTAuth("https://acme.my.salesforce.com", "3MVG9app", USER, key)
    if isinstance(key, str):
        body = [line for line in key.splitlines() if "-----" not in line]
        assert body
        assert not any(line in str(excinfo.value) for line in body)


def test_an_unreadable_key_file_fails_at_construction_saying_why(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(ValueError, match=r"private_key_file cannot be read \(No such file"):
        SalesforceJWTAuth("acme.my.salesforce.com", "3MVG9app", USER, private_key_file=missing)


def test_a_key_given_where_its_path_belongs_is_refused_without_quoting_it(
    salesforce_key_pair: KeyPair,
) -> None:
    pem = salesforce_key_pair.private_key
    with pytest.raises(ValueError, match="looks like the key itself") as refused:
        SalesforceJWTAuth("acme.my.salesforce.com", "3MVG9app", USER, private_key_file=pem)
    body = pem.splitlines()[1]
    assert body not in str(refused.value)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"verify_signature": True}, "verify_signature=True checks the answer's HMAC"),
        ({"introspect": True}, "set token_lifetime= to the org's session timeout instead"),
        ({"username": ""}, "username must be a non-empty string"),
    ],
)
def test_options_this_flow_cannot_honour_are_refused_at_construction(
    salesforce_key_pair: KeyPair, option: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"username": USER, **option}
    with pytest.raises(ValueError, match=message):
        SalesforceJWTAuth(
            "acme.my.salesforce.com",
            "3MVG9app",
            private_key=salesforce_key_pair.private_key,
            **args,  # type: ignore[arg-type]
        )


def test_without_the_jwt_extra_the_package_imports_and_construction_names_the_extra() -> None:
    script = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("jwt", "cryptography"):
            raise ImportError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Missing())
import requests_sf_auth
try:
    requests_sf_auth.SalesforceJWTAuth("acme.my.salesforce.com", "id", "user", "pem")
except RuntimeError as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'requests-sf-auth[jwt]'" in result.stdout


# -- secrets -----------------------------------------------------------------------------------


def test_the_key_and_the_assertion_never_appear_in_reprs_errors_logs_or_traceback_locals(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair, sf_log: pytest.LogCaptureFixture
) -> None:
    org = trusted_org(salesforce_org, salesforce_key_pair)
    pem = salesforce_key_pair.private_key
    auth = org.jwt_auth(USER, pem)
    org.fail_token_requests("echo_500")  # a broken proxy quoting the request body
    with SalesforceSession(auth) as sf:
        with pytest.raises(TokenRequestError) as excinfo:
            sf.get("limits")
        assert once_resumed(lambda: sf.get("limits")).status_code == 200
    assertions = sent_assertions(org)
    key_lines = [line for line in pem.splitlines() if "-----" not in line]
    shown = [
        str(excinfo.value),
        sf_log.text,
        repr(auth),
        repr(auth._lifecycle.endpoint),
        repr(pickle.loads(pickle.dumps(auth))),
        *_traceback_locals(excinfo.value),
    ]
    for text in shown:
        assert not any(a in text for a in assertions)
        assert not [line for line in key_lines if line in text], text
        assert "BEGIN PRIVATE KEY" not in text
    assert "***" in str(excinfo.value)  # the echoed assertion was there, masked


def test_a_status_line_echoing_the_form_leaves_the_assertion_out_of_the_error(
    salesforce_key_pair: KeyPair, sf_log: pytest.LogCaptureFixture
) -> None:
    with raw_echo(status_line_echoing_the_form) as (url, received):
        auth = SalesforceJWTAuth(url, "3MVG9app", USER, salesforce_key_pair.private_key)
        with pytest.raises(requests.ConnectionError) as excinfo:
            auth.fetch_token()
    (assertion,) = [dict(parse_qsl(body.decode()))["assertion"] for body in received]
    shown = "".join(traceback.format_exception(excinfo.value)) + sf_log.text
    assert "BadStatusLine" in shown
    assert assertion not in shown
    assert assertion.split(".")[2] not in shown  # not even its signature


def _traceback_locals(error: BaseException) -> list[str]:
    """``repr`` of every local of every frame the error passed through below this test (whose
    own locals hold the key), as an error tracker records them."""
    seen: list[str] = []
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != __file__:
            seen.extend(repr(value) for value in tb.tb_frame.f_locals.values())
        tb = tb.tb_next
    assert seen
    return seen


def test_a_jwt_auth_repr_names_user_and_audience_but_not_the_key(
    salesforce_key_pair: KeyPair,
) -> None:
    auth = SalesforceJWTAuth(
        "acme.my.salesforce.com", "3MVG9app", USER, salesforce_key_pair.private_key
    )
    assert repr(auth) == (
        "SalesforceJWTAuth(domain='https://acme.my.salesforce.com', client_id='3MVG9app', "
        f"username='{USER}', audience='https://login.salesforce.com', api_version='67.0', "
        "token=none)"
    )
    assert repr(salesforce_key_pair) == "<KeyPair RSA, private key redacted>"


def test_requests_without_a_token_session_reach_the_org_only(
    salesforce_org: LocalOrg, salesforce_key_pair: KeyPair, other_host: LocalOrg
) -> None:
    trusted_org(salesforce_org, salesforce_key_pair)
    auth = salesforce_org.jwt_auth(USER, salesforce_key_pair.private_key)
    assert requests.get(salesforce_org.url + "/services/data/v67.0/limits", auth=auth).ok
    assert (
        requests.get(other_host.url + "/services/data/v67.0/limits", auth=auth).status_code == 401
    )
    assert all(r.token is None for r in other_host.received)
