"""The simple-salesforce recipe from the README, against the real simple-salesforce package and
the local org over HTTPS (simple-salesforce always builds https URLs): the plugin on the
requests.Session simple-salesforce is given supplies, renews and shares the token."""

from __future__ import annotations

import csv
import io
from typing import Any

import requests
from simple_salesforce import Salesforce

from requests_sf_auth import SalesforceAuth
from requests_sf_auth.testing import LocalOrg

from helpers import run_together

SOQL = "SELECT Id FROM User LIMIT 1"
JOB_ID = "7505g000001AbCdAAK"
ACCOUNTS = [{"Name": "Acme, Inc."}, {"Name": "Globex"}]
ACCOUNTS_CSV = b'Name\n"Acme, Inc."\nGlobex\n'


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


def bulk2_ingest_job(org: LocalOrg, job_id: str, names: list[str]) -> None:
    """Canned answers for one Bulk 2.0 job inserting Accounts named ``names``, shaped as
    Salesforce's: create (``Open``), upload (201, no body), close (``UploadComplete``), state
    (``JobComplete``, all processed) and the successful results as CSV. Each still needs a
    live token."""
    job: dict[str, Any] = {
        "id": job_id,
        "operation": "insert",
        "object": "Account",
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    org.add_response("POST", "jobs/ingest", json={**job, "state": "Open"})
    org.add_response("PUT", f"jobs/ingest/{job_id}/batches", status=201)
    org.add_response("PATCH", f"jobs/ingest/{job_id}", json={**job, "state": "UploadComplete"})
    done = {"state": "JobComplete", "numberRecordsProcessed": len(names), "numberRecordsFailed": 0}
    org.add_response("GET", f"jobs/ingest/{job_id}", json={**job, **done})
    results = io.StringIO()
    writer = csv.writer(results, lineterminator="\n")
    writer.writerow(["sf__Id", "sf__Created", "Name"])
    writer.writerows([f"0015g00000{n:08d}", "true", name] for n, name in enumerate(names))
    org.add_response(
        "GET",
        f"jobs/ingest/{job_id}/successfulResults",
        body=results.getvalue(),
        headers={"Content-Type": "text/csv"},
    )


def test_simple_salesforce_bulk2_ingest_runs_on_the_plugins_token_across_an_expiry(
    salesforce_org_https: LocalOrg,
) -> None:
    org = salesforce_org_https
    sf = simple_salesforce(org, org.auth())
    bulk2_ingest_job(org, JOB_ID, [account["Name"] for account in ACCOUNTS])

    def expire_once_the_job_is_open(r: requests.Response, **_: Any) -> None:
        # The session ends between two requests of one job, so the CSV upload is the
        # request that meets the dead token and must be resent whole.
        if r.request.method == "POST" and (r.request.url or "").endswith("/jobs/ingest"):
            org.expire_tokens()

    sf.session.hooks["response"].append(expire_once_the_job_is_open)
    inserted = sf.bulk2.Account.insert(records=ACCOUNTS, wait=0)
    successful = sf.bulk2.Account.get_successful_records(JOB_ID)

    assert inserted == [
        {
            "numberRecordsFailed": 0,
            "numberRecordsProcessed": 2,
            "numberRecordsTotal": 2,
            "job_id": JOB_ID,
        }
    ]
    rows = list(csv.DictReader(successful.splitlines()))
    assert [(row["Name"], row["sf__Created"]) for row in rows] == [
        ("Acme, Inc.", "true"),
        ("Globex", "true"),
    ]
    bulk = [r for r in org.received if "/jobs/ingest" in r.path]
    assert [(r.method, r.path[r.path.index("/jobs/") :], r.status) for r in bulk] == [
        ("POST", "/jobs/ingest", 200),
        ("PUT", f"/jobs/ingest/{JOB_ID}/batches", 401),  # the token expired after the create
        ("PUT", f"/jobs/ingest/{JOB_ID}/batches", 201),  # resent on the renewed token
        ("PATCH", f"/jobs/ingest/{JOB_ID}", 200),
        ("GET", f"/jobs/ingest/{JOB_ID}", 200),  # the state poll
        ("GET", f"/jobs/ingest/{JOB_ID}", 200),  # the final counts
        ("GET", f"/jobs/ingest/{JOB_ID}/successfulResults", 200),
    ]
    first, renewed = bulk[0].token, bulk[-1].token
    assert first != renewed
    assert [r.token for r in bulk] == [first, first] + [renewed] * 5
    # Both issued by the org to the plugin: simple-salesforce's placeholder never went out.
    assert all(t is not None and org.token_issued_at(t) is not None for t in (first, renewed))
    assert org.live_tokens() == [renewed]
    uploads = [r for r in bulk if r.method == "PUT"]
    assert [r.body for r in uploads] == [ACCOUNTS_CSV, ACCOUNTS_CSV]
    assert {r.headers["Content-Type"] for r in uploads} == {"text/csv; charset=UTF-8"}
    assert org.token_requests == 2  # one token, and one renewal for the rejected upload
    assert org.rejected_requests == 1
