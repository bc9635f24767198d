"""One auth shared by many threads causes one token request at a time, counted at the org."""

from __future__ import annotations

import pytest
import requests

from requests_sf_auth import TokenRequestError
from requests_sf_auth.testing import LocalOrg

from helpers import once_resumed, run_together

THREADS = 24


def test_first_requests_from_24_threads_cause_one_token_request(org: LocalOrg) -> None:
    org.token_delay = 0.2  # keep the fetch in flight while every thread arrives
    with org.session() as sf:
        statuses = run_together(THREADS, lambda: sf.get("limits").status_code)
    assert statuses == [200] * THREADS
    assert org.token_requests == 1


def test_24_threads_rejected_on_the_same_dead_token_cause_one_token_request(
    org: LocalOrg,
) -> None:
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        org.token_delay = 0.2
        responses = run_together(THREADS, lambda: sf.get("limits"))
    assert [r.status_code for r in responses] == [200] * THREADS
    assert org.token_requests == 2
    assert len(org.live_tokens()) == 1


def test_threads_waiting_on_a_failed_fetch_all_get_its_error_and_then_recover(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_delay = 0.2
    org.fail_token_requests("invalid_client")
    auth = org.auth()
    url = org.url + "/services/data/v67.0/limits"
    outcomes = run_together(8, lambda: requests.get(url, auth=auth))
    assert all(isinstance(o, TokenRequestError) for o in outcomes)
    assert org.token_requests < 8  # waiters shared the failing fetch instead of each retrying
    org.token_delay = 0
    assert once_resumed(lambda: requests.get(url, auth=auth)).status_code == 200


def test_sessions_in_many_threads_share_one_auth(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()

    def own_session() -> int:
        with salesforce_org.session(auth) as sf:
            return sum(sf.get("limits").status_code == 200 for _ in range(5))

    assert run_together(8, own_session) == [5] * 8
    assert salesforce_org.token_requests == 1


@pytest.mark.parametrize("threads", [2, 16])
def test_fetch_token_from_many_threads_joins_the_flight_in_progress(
    salesforce_org: LocalOrg, threads: int
) -> None:
    salesforce_org.token_delay = 0.5  # every thread must arrive while the fetch is in flight
    auth = salesforce_org.auth()
    tokens = run_together(threads, auth.fetch_token)
    assert len({t["access_token"] for t in tokens}) == 1
    assert salesforce_org.token_requests == 1
