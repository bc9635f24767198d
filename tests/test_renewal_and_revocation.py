"""Beyond the 401: renewal before expiry (by lifetime or introspection), revocation, the
signature check, the Bulk API 1.0 header, and the on_token hook."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from requests_sf_auth import SalesforceAuth, TokenRequestError, TokenRevocationError
from requests_sf_auth.testing import LocalOrg

from helpers import once_resumed, wait_for

LIMITS = "/services/data/v67.0/limits"


@pytest.fixture
def sf_info_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="requests_sf_auth")
    return caplog


# -- token_lifetime --------------------------------------------------------------------------


def test_token_lifetime_renews_before_the_org_would_reject_the_token(
    sf_info_log: pytest.LogCaptureFixture,
) -> None:
    with LocalOrg(session_timeout=2.5) as org:  # idle sessions die after 2.5 s
        auth = org.auth(token_lifetime=2.5, leeway=1.25)  # due 1.25 s after it was issued
        with org.session(auth) as sf:
            assert sf.get("limits").status_code == 200
            first = auth.token["access_token"]  # type: ignore[index]
            time.sleep(1.3)
            due = sf.get("limits")  # goes out with the due token, still alive at the org
            wait_for(lambda: auth.token["access_token"] != first)  # type: ignore[index]
            # Calls go on until the org's idle timeout ends the first token: none may meet it.
            after = []
            for _ in range(100):
                if first not in org.live_tokens():
                    break
                after.append(sf.get("limits"))
                time.sleep(0.1)
            else:
                raise AssertionError("the first token never ended: it is still in use")
            probe = requests.get(org.url + LIMITS, headers={"Authorization": f"Bearer {first}"})
        assert probe.status_code == 401  # the org rejects the first token now
        assert due.request.headers["Authorization"] == f"Bearer {first}"
        assert after
        assert all(r.request.headers["Authorization"] != f"Bearer {first}" for r in after)
        assert [(r.status_code, r.history) for r in [due, *after]] == [(200, [])] * (1 + len(after))
        assert org.rejected_requests == 1  # the probe's alone
    assert "reason: lifetime" in sf_info_log.text


def test_lifetime_renewal_from_many_threads_is_one_fetch_and_no_request_waits_for_it() -> None:
    with LocalOrg() as org:
        auth = org.auth(token_lifetime=timedelta(seconds=0.4), leeway=timedelta(seconds=0.2))
        auth.instance_url
        old = f"Bearer {auth.token['access_token']}"
        time.sleep(0.25)
        org.token_delay = 0.3  # the renewal stays in flight while every thread calls
        barrier = threading.Barrier(16)
        sent: list[tuple[int, str]] = []

        def call() -> None:
            barrier.wait()
            response = requests.get(org.url + LIMITS, auth=auth)
            sent.append((response.status_code, response.request.headers["Authorization"]))

        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Each call went out with the due token at once: none waited for the new one.
        assert sent == [(200, old)] * 16
        wait_for(lambda: f"Bearer {auth.token['access_token']}" != old)
        assert org.token_requests == 2


def test_without_renewal_options_an_old_token_is_used_until_rejected() -> None:
    with LocalOrg(session_timeout=1.5) as org:  # idle sessions die after 1.5 s
        auth = org.auth()
        auth.instance_url
        old = f"Bearer {auth.token['access_token']}"  # type: ignore[index]
        kept = requests.get(org.url + LIMITS, auth=auth)
        wait_for(lambda: org.live_tokens() == [])  # the org's idle timeout ends the token
        renewed = requests.get(org.url + LIMITS, auth=auth)
    assert kept.history == []
    assert kept.request.headers["Authorization"] == old
    assert renewed.status_code == 200
    assert [r.status_code for r in renewed.history] == [401]  # the old token, rejected
    assert renewed.history[0].request.headers["Authorization"] == old
    assert renewed.request.headers["Authorization"] != old
    assert org.token_requests == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token_lifetime": 0}, "token_lifetime must be a positive"),
        ({"token_lifetime": "2h"}, "token_lifetime must be a positive"),
        ({"token_lifetime": 30}, r"leeway \(60 s\) must be shorter than token_lifetime"),
        ({"leeway": -1}, "leeway must be"),
        ({"on_token": "print"}, "on_token must be callable"),
    ],
)
def test_renewal_options_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SalesforceAuth("acme.my.salesforce.com", "id", "secret", **kwargs)


# -- introspection ---------------------------------------------------------------------------


def test_introspection_sets_the_renewal_moment_from_exp(
    sf_info_log: pytest.LogCaptureFixture,
) -> None:
    with LocalOrg(session_timeout=4) as org:
        auth = org.auth(introspect=True, leeway=1)
        with org.session(auth) as sf:
            sf.get("limits")
            first = auth.token
            assert org.introspect_requests == 1
            # exp is 3 to 4 s away (whole seconds), less 1 s of leeway: due within 3 s.
            time.sleep(3.05)
            response = sf.get("limits")  # the due token, still alive; renewal runs meanwhile
            wait_for(lambda: auth.token != first)
        assert response.history == []
        assert org.token_requests == 2
        assert org.introspect_requests == 2
        assert org.rejected_requests == 0
    assert "reason: introspection" in sf_info_log.text


@pytest.mark.parametrize("answer", ["error", "inactive"])
def test_failed_or_inactive_introspection_falls_back_to_the_401_path(
    answer: str, sf_info_log: pytest.LogCaptureFixture
) -> None:
    with LocalOrg(session_timeout=60) as org:
        org.introspection = answer
        auth = org.auth(introspect=True)
        with org.session(auth) as sf:
            assert sf.get("limits").status_code == 200
            org.expire_tokens()
            response = sf.get("limits")
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]
    assert "introspection failed, relying on 401s to renew" in sf_info_log.text
    assert all(r.levelno <= logging.INFO for r in sf_info_log.records)


def test_introspection_without_exp_leaves_only_the_401_path(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth(introspect=True)  # this org reports no exp: no idle timeout
    auth.instance_url
    assert salesforce_org.introspect_requests == 1
    assert requests.get(salesforce_org.url + LIMITS, auth=auth).history == []
    assert salesforce_org.token_requests == 1


# -- revocation ------------------------------------------------------------------------------


def test_revoke_kills_the_token_at_the_org_and_the_next_call_fetches_a_new_one(
    org: LocalOrg, sf_info_log: pytest.LogCaptureFixture
) -> None:
    with org.session() as sf:
        sf.get("limits")
        old = sf.auth.token["access_token"]
        assert sf.auth.revoke() is True
        assert sf.auth.token is None
        assert old not in org.live_tokens()
        direct = sf.get(
            org.url + LIMITS, auth=lambda r: r, headers={"Authorization": f"Bearer {old}"}
        )
        assert direct.status_code == 401
        after = sf.get("limits")
    assert after.status_code == 200
    assert after.history == []
    assert org.token_requests == 2
    assert "revoked the token" in sf_info_log.text
    assert old not in sf_info_log.text


def test_revoking_twice_or_with_no_token_is_harmless(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()
    assert auth.revoke() is False  # nothing held
    auth.instance_url
    assert auth.revoke() is True
    assert auth.revoke() is False
    assert salesforce_org.revoke_requests == 1


def test_a_token_already_revoked_by_an_admin_is_just_forgotten(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()
    auth.instance_url
    salesforce_org.expire_tokens()
    assert auth.revoke() is False
    assert auth.token is None


def test_revocation_that_cannot_reach_the_org_raises_and_keeps_the_token(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth()
    auth.instance_url
    salesforce_org.stop()
    with pytest.raises(requests.ConnectionError):
        auth.revoke()
    assert auth.token is not None


def test_revocation_errors_name_the_status(salesforce_org: LocalOrg) -> None:
    from requests_sf_auth._token import Token, revoke_token

    auth = salesforce_org.auth()
    auth.instance_url
    held = auth._lifecycle.token
    assert isinstance(held, Token)
    blank = Token("", held.instance_url, held.instance_origin, {}, 0.0)
    with pytest.raises(TokenRevocationError, match="HTTP 400: unsupported_token_type") as info:
        revoke_token(auth._lifecycle.endpoint, requests.Session(), blank)
    assert info.value.status_code == 400


def test_context_manager_revokes_on_exit_when_asked(salesforce_org: LocalOrg) -> None:
    with salesforce_org.auth(revoke_on_exit=True) as auth:
        requests.get(salesforce_org.url + LIMITS, auth=auth)
        assert len(salesforce_org.live_tokens()) == 1
    assert salesforce_org.live_tokens() == []
    assert auth.token is None

    with salesforce_org.auth() as kept:
        kept.instance_url
    assert len(salesforce_org.live_tokens()) == 1


def test_context_manager_does_not_mask_the_error_leaving_the_block(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth(revoke_on_exit=True)
    auth.instance_url

    def leave_block_with_an_error() -> None:
        with auth:
            salesforce_org.stop()  # so revocation on exit fails to connect
            raise KeyError("the user's own error")

    with pytest.raises(KeyError, match="the user's own error"):
        leave_block_with_an_error()


# -- signature -------------------------------------------------------------------------------


def test_a_valid_signature_passes_verification(org: LocalOrg) -> None:
    assert org.auth(verify_signature=True).instance_url == org.url


@pytest.mark.parametrize(
    ("failure", "message"),
    [("tampered_signature", "does not match"), ("missing_signature", "has no signature")],
)
def test_a_tampered_or_missing_signature_is_rejected_and_the_token_not_used(
    salesforce_org: LocalOrg, failure: str, message: str
) -> None:
    salesforce_org.fail_token_requests(failure)
    auth = salesforce_org.auth(verify_signature=True)
    with pytest.raises(TokenRequestError, match=message):
        requests.get(salesforce_org.url + LIMITS, auth=auth)
    assert auth.token is None
    assert salesforce_org.api_requests == 0
    assert once_resumed(lambda: requests.get(salesforce_org.url + LIMITS, auth=auth)).ok


def test_signature_is_not_checked_by_default(salesforce_org: LocalOrg) -> None:
    salesforce_org.fail_token_requests("tampered_signature")
    assert salesforce_org.auth().instance_url == salesforce_org.url


# -- Bulk API 1.0 ----------------------------------------------------------------------------


def test_bulk_api_calls_carry_x_sfdc_session_and_recover_from_invalid_session_id(
    org: LocalOrg,
) -> None:
    with org.session() as sf:
        first = sf.post("/services/async/67.0/job", data=b"<jobInfo/>")
        assert first.status_code == 200
        org.expire_tokens()
        response = sf.post("/services/async/67.0/job", data=b"<jobInfo/>")
        rest = sf.get("limits")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [400]
    assert b"InvalidSessionId" in response.history[0].content
    bulk = [r for r in org.received if r.path.startswith("/services/async/")]
    assert [r.headers.get("X-SFDC-Session") is not None for r in bulk] == [True, True, True]
    assert bulk[2].headers["X-SFDC-Session"] == bulk[2].token
    assert bulk[2].body == bulk[1].body == b"<jobInfo/>"
    assert org.token_requests == 2
    assert "X-SFDC-Session" not in rest.request.headers


def test_a_bulk_400_that_is_not_about_the_session_is_returned(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session() as sf:
        response = sf.get("/services/async/67.0/job/750000000000000AAA")  # no such job
    assert "X-SFDC-Session" in response.request.headers  # a Bulk API call, with a live session
    assert response.status_code == 400
    assert b"<exceptionCode>InvalidJob</exceptionCode>" in response.content
    assert response.history == []  # returned as it is: no renewal, no resend
    assert salesforce_org.token_requests == 1
    assert salesforce_org.api_requests == 1
    assert salesforce_org.rejected_requests == 0


def test_bulk_header_never_follows_a_redirect_to_another_host(
    salesforce_org: LocalOrg, other_host: LocalOrg
) -> None:
    target = other_host.url + "/services/data/"
    with salesforce_org.session() as sf:
        response = sf.get("/services/async/67.0/test/redirect", params={"to": target})
    assert response.url == target
    (seen,) = other_host.received
    assert "X-SFDC-Session" not in seen.headers
    assert "Authorization" not in seen.headers


@pytest.mark.parametrize("status", ["301", "302", "303", "307", "308"])
def test_bulk_header_never_follows_a_redirect_answered_to_the_resend(
    salesforce_org: LocalOrg, other_host: LocalOrg, status: str
) -> None:
    target = other_host.url + "/services/data/"
    with salesforce_org.session() as sf:
        sf.get("limits")
        salesforce_org.expire_tokens()  # the first send is rejected; the resend redirects
        response = sf.get(
            "/services/async/67.0/test/redirect", params={"to": target, "status": status}
        )
    assert response.url == target
    bulk = [r.status for r in salesforce_org.received if r.path.startswith("/services/async/")]
    assert bulk == [400, int(status)]  # rejected, then resent and redirected
    (seen,) = other_host.received
    assert "X-SFDC-Session" not in seen.headers
    assert "Authorization" not in seen.headers


def test_a_same_origin_redirect_answered_to_the_resend_carries_the_new_token(
    salesforce_org: LocalOrg,
) -> None:
    with salesforce_org.session() as sf:
        sf.get("limits")
        salesforce_org.expire_tokens()
        response = sf.get(
            "/services/async/67.0/test/redirect", params={"to": "/services/async/67.0/job"}
        )
        live = sf.auth.token["access_token"]
    assert response.status_code == 200
    bulk = [r.status for r in salesforce_org.received if r.path.startswith("/services/async/")]
    assert bulk == [400, 302, 200]  # no second rejection: the hop carried the new token
    hop = salesforce_org.received[-1]
    assert hop.headers["X-SFDC-Session"] == live
    assert hop.token == live
    assert salesforce_org.token_requests == 2


# -- on_token --------------------------------------------------------------------------------


def test_on_token_receives_metadata_without_the_token(salesforce_org: LocalOrg) -> None:
    seen: list[dict[str, Any]] = []
    with salesforce_org.session(on_token=seen.append) as sf:
        sf.get("limits")
        salesforce_org.expire_tokens()
        sf.get("limits")
        live = salesforce_org.live_tokens()
    assert len(seen) == 2
    assert all("access_token" not in m and "signature" not in m for m in seen)
    assert seen[1]["instance_url"] == salesforce_org.url
    assert all(t not in str(seen) for t in live)


def test_a_failing_on_token_callback_never_breaks_the_request(
    salesforce_org: LocalOrg, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(metadata: dict[str, Any]) -> None:
        raise RuntimeError("observer bug")

    auth = salesforce_org.auth(on_token=broken)
    assert requests.get(salesforce_org.url + LIMITS, auth=auth).ok
    assert "on_token callback raised" in caplog.text
