"""One auth shared by many threads, or several auths sharing one token store, cause one token
request at a time, counted at the org."""

from __future__ import annotations

import time

import pytest
import requests

from requests_sf_auth import MemoryTokenStore, TokenRequestError
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
    assert org.token_requests == 1  # waiters shared the failing fetch instead of each retrying
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


def test_threads_that_look_for_a_fetch_at_the_same_moment_start_only_one(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth()
    # The pause check between "no fetch in flight" and "start one" reads this clock. Made to
    # hand the interpreter to the other threads there, it lets all of them reach that point
    # together: only the lifecycle's lock keeps them from each starting a fetch.
    backoff = auth._lifecycle._backoff
    clock = backoff.clock

    def yielding_clock() -> float:
        time.sleep(0.05)
        return clock()

    backoff.clock = yielding_clock
    outcomes = run_together(THREADS, lambda: auth.instance_url)
    assert outcomes == [salesforce_org.url] * THREADS
    assert salesforce_org.token_requests == 1


def test_auths_sharing_a_memory_store_cause_one_token_request_from_many_threads(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    store = MemoryTokenStore()
    auths = [org.auth(token_store=store) for _ in range(8)]
    url = org.url + "/services/data/v67.0/limits"
    org.token_delay = 0.2  # keeps each fetch in flight while the other auths ask

    def each_auth_once() -> list[int]:
        unused = list(auths)  # list.pop is atomic: each thread takes an auth of its own
        return run_together(len(auths), lambda: requests.get(url, auth=unused.pop()).status_code)

    assert each_auth_once() == [200] * 8
    assert org.token_requests == 1  # the first fetcher published; the others took its token
    org.expire_tokens()
    assert each_auth_once() == [200] * 8
    assert org.token_requests == 2  # one renewal for all eight
    assert len(org.live_tokens()) == 1
