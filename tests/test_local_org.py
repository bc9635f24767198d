"""LocalOrg as a Salesforce test double: it answers as Salesforce does, so that a mistake in
the code under test shows; canned answers still demand a live token; ``serve`` runs it for
other processes; its HTTPS fixture works where ``REQUESTS_CA_BUNDLE`` is set."""

from __future__ import annotations

import inspect
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from requests_sf_auth import SalesforceAuth, SalesforceSession
from requests_sf_auth.testing import AuthOptions, LocalOrg

NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
QUERY = "SELECT Id, Name FROM Account WHERE Name = 'Acme'"


def usage(response: requests.Response) -> str:
    return response.headers["Sforce-Limit-Info"]


# -- answering like Salesforce ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["sobjects/Account/desribe", "limit", "chatter/users/you"])
def test_an_unknown_resource_answers_404_not_found(org: LocalOrg, path: str) -> None:
    with org.session() as sf:
        response = sf.get(path)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_an_api_version_the_org_does_not_offer_answers_404_not_found(org: LocalOrg) -> None:
    with org.session(api_version="99.0") as sf:
        response = sf.get("limits")
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        assert sf.get("/services/data/v67.0/limits").status_code == 200


def test_creating_a_record_answers_201_with_its_id_and_the_record_reads_back(
    org: LocalOrg,
) -> None:
    with org.session() as sf:
        created = sf.post("sobjects/Account", json={"Name": "Acme"})
        assert created.status_code == 201
        answer = created.json()
        assert answer == {"id": answer["id"], "success": True, "errors": []}
        assert answer["id"].startswith("001")
        assert len(answer["id"]) == 18
        record = sf.get(f"sobjects/Account/{answer['id']}").json()
    assert record["Id"] == answer["id"]
    assert record["Name"] == "Acme"
    assert record["attributes"]["type"] == "Account"


def test_updating_and_deleting_a_record_answer_204_and_a_deleted_record_is_gone(
    org: LocalOrg,
) -> None:
    with org.session() as sf:
        record_id = sf.post("sobjects/Account", json={"Name": "Acme"}).json()["id"]
        updated = sf.patch(f"sobjects/Account/{record_id}", json={"Name": "Globex"})
        assert (updated.status_code, updated.content) == (204, b"")
        assert sf.get(f"sobjects/Account/{record_id}").json()["Name"] == "Globex"
        deleted = sf.delete(f"sobjects/Account/{record_id}")
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert sf.get(f"sobjects/Account/{record_id}").status_code == 404
        assert sf.delete(f"sobjects/Account/{record_id}").status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_record_the_org_never_created_answers_404(salesforce_org: LocalOrg, method: str) -> None:
    with salesforce_org.session() as sf:
        response = sf.request(method, "sobjects/Account/001000000000000AAA", json={"Name": "x"})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"Acme"'])
def test_a_record_body_that_is_not_a_json_object_answers_400_json_parser_error(
    salesforce_org: LocalOrg, body: str
) -> None:
    with salesforce_org.session() as sf:
        response = sf.post(
            "sobjects/Account", data=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    (error,) = response.json()
    assert error["errorCode"] == "JSON_PARSER_ERROR"


def test_a_method_a_resource_does_not_take_answers_405_naming_the_allowed_ones(
    salesforce_org: LocalOrg,
) -> None:
    with salesforce_org.session() as sf:
        response = sf.post("limits", json={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET,HEAD"
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_a_query_without_q_answers_400_malformed_query(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session() as sf:
        assert sf.get("query").json()[0]["errorCode"] == "MALFORMED_QUERY"
        assert sf.get("query", params={"q": QUERY}).json() == {
            "totalSize": 0,
            "done": True,
            "records": [],
        }


def test_every_rest_answer_carries_sforce_limit_info_counting_the_calls_served() -> None:
    org = LocalOrg(api_limit=500)
    with org, org.session() as sf:
        assert usage(sf.get("limits")) == "api-usage=1/500"
        assert usage(sf.get("no/such/resource")) == "api-usage=2/500"  # a 404 counts
        assert sf.get("limits").json()["DailyApiRequests"] == {"Max": 500, "Remaining": 497}
        org.expire_tokens()
        renewed = sf.get("limits")
        # The 401 carries the header too, but only the call served counts.
        assert [usage(r) for r in [*renewed.history, renewed]] == [
            "api-usage=3/500",
            "api-usage=4/500",
        ]
        org.fail_api_requests(503)
        assert usage(sf.get("limits")) == "api-usage=4/500"
        assert usage(sf.post("sobjects/Account", json={"Name": "Acme"})) == "api-usage=5/500"
        assert "Sforce-Limit-Info" not in sf.get("/services/data/").headers
        assert org.api_usage == 5


@pytest.mark.parametrize("limit", [0, -1, 1.5, "15000", True])
def test_an_api_limit_that_is_not_a_positive_whole_number_is_refused(limit: Any) -> None:
    with pytest.raises(ValueError, match="api_limit must be a positive whole number"):
        LocalOrg(api_limit=limit)


def test_the_echo_resource_answers_what_was_sent_without_the_token(org: LocalOrg) -> None:
    with org.session() as sf:
        echoed = sf.put("test/echo/any/path", params={"a": "1"}, data=b"raw").json()
        token = sf.auth.token
    assert token is not None
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/services/data/v67.0/test/echo/any/path"
    assert echoed["query"] == {"a": ["1"]}
    assert echoed["body"] == "raw"
    assert "Authorization" not in echoed["headers"]
    assert token["access_token"] not in str(echoed)


# -- canned answers -------------------------------------------------------------------------


def test_a_canned_answer_is_served_for_its_method_and_path_under_every_version(
    org: LocalOrg,
) -> None:
    org.add_response("GET", "sobjects/Account/001000000000001AAA", json={"Name": "Canned"})
    with org.session() as sf:
        assert sf.get("sobjects/Account/001000000000001AAA").json() == {"Name": "Canned"}
        under_66 = "/services/data/v66.0/sobjects/Account/001000000000001AAA"
        assert sf.get(under_66).json() == {"Name": "Canned"}
        # Another method on the same path is not canned: the org's own answer.
        assert sf.delete("sobjects/Account/001000000000001AAA").status_code == 404


def test_a_canned_answer_for_a_query_matches_that_query_however_it_is_encoded(
    salesforce_org: LocalOrg,
) -> None:
    records = {"totalSize": 1, "done": True, "records": [{"Id": "001000000000001AAA"}]}
    salesforce_org.add_response("GET", f"query?q={QUERY}", json=records)
    salesforce_org.add_response("GET", "query", status=400, json=[{"errorCode": "OTHER"}])
    with salesforce_org.session() as sf:
        assert sf.get("query", params={"q": QUERY}).json() == records
        assert sf.get("query?q=" + QUERY.replace(" ", "+")).json() == records
        other = sf.get("query", params={"q": "SELECT Id FROM Contact"})
    assert (other.status_code, other.json()) == (400, [{"errorCode": "OTHER"}])


def test_a_canned_answer_demands_a_live_token_so_expiry_and_renewal_happen_as_in_production(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.add_response("GET", "query", json={"totalSize": 0, "done": True})
    assert requests.get(salesforce_org.url + "/services/data/v67.0/query").status_code == 401
    with salesforce_org.session() as sf:
        assert sf.get("query").ok
        salesforce_org.expire_tokens()
        renewed = sf.get("query")
    assert [r.status_code for r in renewed.history] == [401]
    assert renewed.json() == {"totalSize": 0, "done": True}
    assert salesforce_org.token_requests == 2


def test_a_canned_body_goes_as_given_with_its_headers_and_the_limit_header_added(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.add_response(
        "post", "/services/data/v67.0/sobjects/Account", status=503, body="<html>down</html>",
        headers={"Content-Type": "text/html", "Retry-After": "7"},
    )  # fmt: skip
    salesforce_org.add_response(
        "GET", "limits", json={}, headers={"Sforce-Limit-Info": "api-usage=14999/15000"}
    )
    with salesforce_org.session() as sf:
        down = sf.post("sobjects/Account", json={"Name": "Acme"})
        near_the_limit = sf.get("limits")
    assert (down.status_code, down.text) == (503, "<html>down</html>")
    assert down.headers["Content-Type"] == "text/html"
    assert down.headers["Retry-After"] == "7"
    assert usage(down) == "api-usage=1/15000"
    assert usage(near_the_limit) == "api-usage=14999/15000"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"method": "FETCH", "path": "limits"}, "method must be one of"),
        ({"method": "GET", "path": "limits", "status": 42}, "status must be an HTTP status"),
        ({"method": "GET", "path": "limits", "json": {}, "body": "x"}, "not both"),
        ({"method": "GET", "path": ""}, "path must be a REST path"),
        ({"method": "GET", "path": "/services/oauth2/token"}, "not under /services/data/"),
    ],
)
def test_add_response_refuses_bad_input_naming_it_and_leaves_the_org_as_it_was(
    salesforce_org: LocalOrg, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        salesforce_org.add_response(**arguments)
    with salesforce_org.session() as sf:
        assert sf.get("limits").json()["DailyApiRequests"]["Max"] == 15000


# -- serve, for other processes ---------------------------------------------------------------


@pytest.fixture
def served(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``python -m requests_sf_auth.testing serve`` in a child process, with the settings it
    printed; killed at the end if the test left it running."""
    args = [sys.executable, "-m", "requests_sf_auth.testing", "serve", *request.param]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    settings: dict[str, str] = {}
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("# serving"):
                break
            name, _, value = line.rstrip("\n").partition("=")
            settings[name] = value
        yield child, settings
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)


@pytest.mark.parametrize("served", [[], ["--tls"]], indirect=True, ids=["http", "https"])
def test_serve_runs_an_org_another_process_can_use_and_ctrl_c_stops_it_cleanly(
    served: tuple[subprocess.Popen[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    child, settings = served
    expected = {"SF_DOMAIN", "SF_CLIENT_ID", "SF_CLIENT_SECRET"}
    if settings["SF_DOMAIN"].startswith("https://"):
        expected.add("REQUESTS_CA_BUNDLE")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", settings["REQUESTS_CA_BUNDLE"])
    assert set(settings) == expected
    auth = SalesforceAuth(
        settings["SF_DOMAIN"], settings["SF_CLIENT_ID"], settings["SF_CLIENT_SECRET"]
    )
    with SalesforceSession(auth) as sf:
        created = sf.post("sobjects/Account", json={"Name": "Acme"})
        assert created.status_code == 201
        assert sf.get(f"sobjects/Account/{created.json()['id']}").json()["Name"] == "Acme"
        assert usage(sf.get("limits")) == "api-usage=3/15000"
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode in (0, 130)
    assert "Traceback" not in stderr


@pytest.mark.parametrize("served", [[]], indirect=True, ids=["http"])
def test_serve_exits_0_on_sigterm_as_a_container_stop_sends(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    child, settings = served
    assert requests.get(settings["SF_DOMAIN"] + "/services/data/").ok
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=30)
    assert (child.returncode, stderr) == (0, "")


def serve_on(port: str) -> subprocess.CompletedProcess[str]:
    """``serve --port PORT`` run to its end (it ends at once when it cannot serve)."""
    return subprocess.run(
        [sys.executable, "-m", "requests_sf_auth.testing", "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("port", ["http", "70000", "-1"])
def test_serve_refuses_a_port_that_is_not_one_naming_the_range(port: str) -> None:
    result = serve_on(port)
    assert result.returncode == 2
    assert "give a number from 0 to 65535" in result.stderr


def test_serve_on_a_port_in_use_exits_2_naming_the_cause() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = serve_on(str(taken.getsockname()[1]))
    assert result.returncode == 2
    assert "cannot start" in result.stderr
    assert "Address already in use" in result.stderr
    assert result.stdout == ""


# -- HTTPS under REQUESTS_CA_BUNDLE -------------------------------------------------------------


@pytest.fixture
def ci_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> str:
    """REQUESTS_CA_BUNDLE set, as on many CI images, to a bundle that does not hold the
    org's CA. Requested before ``salesforce_org_https``, so that the org starts under it."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or requests.certs.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    return bundle


def test_under_requests_ca_bundle_the_https_fixture_trusts_the_org_for_verify_and_tokens(
    ci_ca_bundle: str, salesforce_org_https: LocalOrg
) -> None:
    org = salesforce_org_https
    auth = SalesforceAuth(org.url, org.client_id, org.client_secret)  # no token_session
    with SalesforceSession(auth) as sf:
        sf.verify = org.ca_bundle
        assert sf.get("limits").status_code == 200
    assert requests.get(org.url + "/services/data/").ok
    assert org.token_requests == 1


def test_the_trust_bundle_adds_the_org_ca_to_what_was_trusted_and_takes_nothing_away(
    ci_ca_bundle: str, salesforce_org_https: LocalOrg
) -> None:
    assert salesforce_org_https.trust_bundle is not None
    assert salesforce_org_https.ca_bundle is not None
    assert os.environ["REQUESTS_CA_BUNDLE"] == salesforce_org_https.trust_bundle
    trusted = Path(salesforce_org_https.trust_bundle).read_bytes()
    assert Path(salesforce_org_https.ca_bundle).read_bytes() in trusted
    assert Path(ci_ca_bundle).read_bytes() in trusted


def test_org_session_verifies_the_org_ca_whatever_requests_ca_bundle_says(
    salesforce_org_https: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())  # the org's CA is not in it
    with salesforce_org_https.session() as sf:
        assert sf.get("limits").status_code == 200


def test_auth_options_name_every_keyword_argument_of_salesforce_auth() -> None:
    parameters = inspect.signature(SalesforceAuth).parameters.values()
    keyword_only = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(AuthOptions.__annotations__) == keyword_only
