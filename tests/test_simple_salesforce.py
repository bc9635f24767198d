"""The simple-salesforce recipe from the README, against the real simple-salesforce package and
the local org over HTTPS (simple-salesforce always builds https URLs): the plugin on the
requests.Session simple-salesforce is given supplies, renews and shares the token."""

from __future__ import annotations

import requests
from simple_salesforce import Salesforce

from requests_sf_auth import SalesforceAuth
from requests_sf_auth.testing import LocalOrg

from helpers import run_together

SOQL = "SELECT Id FROM User LIMIT 1"


def simple_salesforce(org: LocalOrg, auth: SalesforceAuth) -> Salesforce:
    """The recipe: the auth on a session, the session and the instance URL to simple-salesforce.
    The session id is a placeholder the plugin's Authorization header replaces. The org
    answers :data:`SOQL` with one record."""
    record = {"attributes": {"type": "User"}, "Id": "0055g000001WXYZAAA"}
    org.add_response(
        "GET", f"query?q={SOQL}", json={"totalSize": 1, "done": True, "records": [record]}
    )
    session = requests.Session()
    session.auth = auth
    session.verify = org.ca_bundle or True
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the org's own CA
    return Salesforce(
        instance_url=auth.instance_url,
        session_id="set-by-requests-sf-auth",
        session=session,
        version=auth.api_version,
    )


def test_simple_salesforce_query_survives_an_expiry_with_one_token_request(
    salesforce_org_https: LocalOrg,
) -> None:
    org = salesforce_org_https
    sf = simple_salesforce(org, org.auth())
    first = sf.query(SOQL)
    org.expire_tokens()
    second = sf.query(SOQL)
    assert first["records"] == second["records"]
    assert second["totalSize"] == 1
    assert org.token_requests == 2
    assert org.rejected_requests == 1  # the query after the expiry, resent once
    sent = [r.token for r in org.received if r.path.endswith("/query/")]
    assert len(sent) == 3
    assert all(token is not None and token != "set-by-requests-sf-auth" for token in sent)


def test_simple_salesforce_from_16_threads_takes_one_token_request_per_expiry(
    salesforce_org_https: LocalOrg,
) -> None:
    org = salesforce_org_https
    sf = simple_salesforce(org, org.auth())
    org.token_delay = 0.2  # keep the renewal in flight while every thread is rejected
    first = run_together(16, lambda: sf.query(SOQL)["totalSize"])
    org.expire_tokens()
    after = run_together(16, lambda: sf.query(SOQL)["totalSize"])
    assert first == after == [1] * 16
    assert org.token_requests == 2


def test_simple_salesforce_runs_on_a_jwt_token(salesforce_org_https: LocalOrg) -> None:
    from requests_sf_auth.testing import generate_key_pair

    org = salesforce_org_https
    keys = generate_key_pair()
    org.trust_jwt_key("integration@acme.example", keys.public_key)
    sf = simple_salesforce(org, org.jwt_auth("integration@acme.example", keys.private_key))
    assert sf.query(SOQL)["totalSize"] == 1
    org.expire_tokens()
    assert sf.query(SOQL)["totalSize"] == 1
    assert org.token_requests == 2


def test_simple_salesforce_crud_runs_on_the_plugins_token_across_an_expiry(
    salesforce_org_https: LocalOrg,
) -> None:
    org = salesforce_org_https
    sf = simple_salesforce(org, org.auth())
    created = sf.Account.create({"Name": "Acme"})
    record_id = created["id"]
    org.expire_tokens()
    assert sf.Account.update(record_id, {"Name": "Acme Corp"}) == 204
    assert sf.Account.get(record_id)["Name"] == "Acme Corp"
    assert sf.Account.delete(record_id) == 204
    assert created["success"] is True
    assert org.token_requests == 2  # one token, and one renewal for the update after expiry
    assert org.rejected_requests == 1
