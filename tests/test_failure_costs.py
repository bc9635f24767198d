"""What failure costs: refused tokens, a failing token endpoint, a login rate limit, a skewed
clock, a short session timeout, scheduled renewals and quick expiries, each counted at the org.
The cost of a failure must grow with time, never with traffic. Counts are asserted, never
durations; loops run for a bounded time so that traffic is as high as the machine allows."""

from __future__ import annotations

import logging
import os
import pickle
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_sf_auth import (
    MAX_SENDS,
    SalesforceAuth,
    SalesforceAuthError,
    SalesforceSession,
    TokenRequestError,
)
from requests_sf_auth._backoff import RENEWAL_BURST
from requests_sf_auth.testing import LocalOrg

from helpers import logger_at_debug, once_resumed, repeating, run_together, wait_for

API = "/services/data/v67.0/limits"
FAST_BACKOFF = (0.5, 2.0)


def hammer(threads: int, seconds: float, call: Callable[[], Any]) -> list[Any]:
    """``threads`` threads each calling ``call`` in a loop for ``seconds``; every result or
    exception, in the order each thread saw them."""
    stop = time.monotonic() + seconds

    def loop() -> list[Any]:
        outcomes: list[Any] = []
        while time.monotonic() < stop:
            try:
                outcomes.append(call())
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    with ThreadPoolExecutor(threads) as pool:
        return [o for outcomes in pool.map(lambda _: loop(), range(threads)) for o in outcomes]


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="requests_sf_auth")
    return caplog


# -- tokens the API refuses ------------------------------------------------------------------


def test_tokens_the_api_refuses_cost_two_logins_then_one_per_pause(
    salesforce_org: LocalOrg, warnings_log: pytest.LogCaptureFixture
) -> None:
    org = salesforce_org
    org.reject_api_with = "Session expired or invalid"  # say, the app lacks the api scope
    with org.session(token_backoff=(30, 60)) as sf:
        responses = [sf.get("limits") for _ in range(50)]
    assert [r.status_code for r in responses] == [401] * 50
    # The first token is refused and renewed once; the second's refusal opens a pause.
    assert org.token_requests == 2
    assert [len(r.history) for r in responses] == [1] + [0] * 49  # returned as they are
    refusals = [r for r in warnings_log.records if "refused 2 fresh tokens" in r.message]
    assert len(refusals) == 1  # one warning per pause, not per request
    assert "'api' OAuth scope" in refusals[0].message
    assert "API Enabled" in refusals[0].message


def test_eight_threads_for_three_seconds_against_refused_tokens_make_at_most_six_logins(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.reject_api_with = "Session expired or invalid"
    with org.session(token_backoff=FAST_BACKOFF) as sf:
        outcomes = hammer(8, 3.0, lambda: sf.get("limits").status_code)
        assert set(outcomes) == {401}  # every caller got its answer
        # 2 at once, then one after each pause of 0.5, 1 and 2 s: the pause, not the
        # traffic, sets the count.
        assert 3 <= org.token_requests <= 6
        org.heal()
        assert once_resumed(lambda: sf.get("limits")).status_code == 200


def test_a_token_that_was_accepted_and_then_rejected_is_renewed_at_once(
    salesforce_org: LocalOrg,
) -> None:
    with salesforce_org.session(token_backoff=(30, 60)) as sf:
        for _ in range(5):
            assert sf.get("limits").status_code == 200
            salesforce_org.expire_tokens()
    assert salesforce_org.token_requests == 5  # each expiry, one renewal: no pause


def test_accepted_tokens_rejected_request_after_request_cost_the_expiry_burst_then_their_401s(
    salesforce_org: LocalOrg, warnings_log: pytest.LogCaptureFixture
) -> None:
    org = salesforce_org  # an org that ends every session after its first use
    with org.session() as sf:
        responses = []
        for _ in range(60):
            responses.append(sf.get("limits"))
            org.expire_tokens()
    assert [r.status_code for r in responses] == [200] * (1 + RENEWAL_BURST) + [401] * (
        59 - RENEWAL_BURST
    )
    assert org.token_requests == 1 + RENEWAL_BURST  # the first token, then the burst
    assert all(r.history == [] for r in responses[1 + RENEWAL_BURST :])  # returned as they are
    spent = [r for r in warnings_log.records if "renewals in quick succession" in r.message]
    assert len(spent) == 1  # once when the allowance runs out, not per request


def test_an_api_answering_401_to_live_tokens_now_and_then_costs_the_burst_not_a_login_each(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org  # say, a flaky instance or load balancer
    with org.session() as sf:
        statuses = []
        for call in range(300):
            if call % 3 == 1:
                org.fail_api_requests(401)
            statuses.append(sf.get("limits").status_code)
    assert org.token_requests == 1 + RENEWAL_BURST
    # The first 20 spurious 401s were renewed and resent; the other 80 come back.
    assert statuses.count(401) == 100 - RENEWAL_BURST
    assert statuses.count(200) == 200 + RENEWAL_BURST


def test_eight_threads_under_sessions_ending_fifty_times_a_second_cost_at_most_the_burst(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    with org.session() as sf:
        sf.get("limits")
        with repeating(0.02, org.expire_tokens):
            outcomes = hammer(8, 2.0, lambda: sf.get("limits"))
    assert len(outcomes) > 100
    assert all(isinstance(o, requests.Response) for o in outcomes)  # 401s, never errors
    # However many sessions ended and however many threads saw each end: each expiry renews
    # once, while the allowance lasts.
    assert org.token_requests <= 1 + RENEWAL_BURST


def test_a_fresh_token_rejected_once_after_an_expiry_costs_no_login_beyond_the_burst(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org  # spurious 401s in pairs: the fresh token's first use is refused too
    with org.session() as sf:
        for _ in range(60):
            sf.get("limits")
            org.fail_api_requests(401, times=2)
            sf.get("limits")
    # The refusal's renewal spends the allowance as the expiry's does.
    assert org.token_requests == 1 + RENEWAL_BURST


def test_expiries_a_quarter_of_an_hour_apart_never_wait_for_the_allowance(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    now = [time.monotonic()]
    # A day of a job every 20 minutes, each after the org's idle timeout: the backoff's clock is
    # the one thing simulated. The longest pause, an hour, must not slow ordinary renewals.
    auth = org.auth(token_backoff=(1.0, 3600.0))
    auth._lifecycle._backoff.clock = lambda: now[0]
    with org.session(auth) as sf:
        statuses = []
        for _ in range(72):
            now[0] += 20 * 60
            org.expire_tokens()
            statuses.append(sf.get("limits").status_code)
    assert statuses == [200] * 72
    assert org.token_requests == 72


def test_the_renewal_allowance_comes_back_with_time(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    with org.session(token_backoff=(0.1, 0.5)) as sf:  # one renewal earned back each 0.5 s
        for _ in range(1 + RENEWAL_BURST):
            assert sf.get("limits").status_code == 200
            org.expire_tokens()
        assert sf.get("limits").status_code == 401  # the allowance is spent
        spent = org.token_requests
        wait_for(lambda: sf.get("limits").status_code == 200)
    assert org.token_requests == spent + 1  # one renewal, once it was earned


def test_a_path_that_always_answers_401_costs_logins_by_the_pause_not_by_the_call(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    with org.session(token_backoff=(30, 60)) as sf:
        sf.get("limits")

        def forbidden_then_allowed() -> tuple[int, int]:
            # A resource whose 401 no token fixes, between calls that work.
            org.reject_api_with = "This session is not valid for use with the REST API"
            forbidden = sf.get("limits").status_code
            org.reject_api_with = None
            return forbidden, sf.get("limits").status_code

        outcomes = [forbidden_then_allowed() for _ in range(20)]
    assert set(outcomes) == {(401, 200)}
    # The first call renews twice (an expiry, then one refusal); the second opens the pause.
    assert org.token_requests <= 4


def test_a_redirect_hop_resent_with_the_held_token_does_not_end_the_pause(
    salesforce_org: LocalOrg,
) -> None:
    # The same org under a second name is another of our origins: requests strips the token
    # on the hop, whose 401 is answered by resending it with the held token. That resend
    # renews nothing, so its success must not count as a renewal that ended the refusals.
    org = salesforce_org
    alias = org.url.replace("127.0.0.1", "localhost")
    with org.session(token_backoff=(30, 60), allowed_hosts=[alias]) as sf:
        sf.get("limits")

        def forbidden_then_redirected() -> tuple[int, int]:
            org.reject_api_with = "This session is not valid for use with the REST API"
            forbidden = sf.get("limits").status_code
            org.reject_api_with = None
            hop = {"to": alias + "/services/data/v67.0/limits"}
            return forbidden, sf.get("test/redirect", params=hop).status_code

        outcomes = [forbidden_then_redirected() for _ in range(20)]
    assert set(outcomes) == {(401, 200)}
    assert org.token_requests <= 4  # as without the redirects, not two per call


@pytest.mark.parametrize("answer", ["redirect", "not modified", "multiple choices"])
def test_renewals_the_api_answers_with_a_3xx_are_not_taken_for_refused_tokens(
    salesforce_org: LocalOrg, warnings_log: pytest.LogCaptureFixture, answer: str
) -> None:
    # Salesforce checks the session before anything else on its APIs, so a 3xx from them
    # proves the token as a 200 does. A workload of nothing else (file downloads that
    # redirect, conditional GETs) must not read as an org refusing fresh tokens.
    org = salesforce_org
    path = "sobjects/ContentVersion/068000000000001/VersionData"
    with LocalOrg() as files:
        canned: dict[str, Any] = {
            "redirect": {"status": 302, "headers": {"Location": files.url + "/services/data/"}},
            "not modified": {"status": 304, "body": b""},
            "multiple choices": {"status": 300, "json": ["/services/data/v67.0/sobjects/X/1"]},
        }[answer]
        org.add_response("GET", path, **canned)
        with org.session(token_backoff=(30, 60)) as sf:
            statuses = []
            for expiry in range(4):
                if expiry:
                    org.expire_tokens()
                statuses.append(sf.get(path).status_code)
            assert sf.get("limits").status_code == 200
    expected = {"redirect": 200, "not modified": 304, "multiple choices": 300}[answer]
    assert statuses == [expected] * 4
    assert org.token_requests == 4  # the first token, then one renewal per expiry
    assert [r.getMessage() for r in warnings_log.records] == []


# -- a failing token endpoint ----------------------------------------------------------------


@pytest.mark.parametrize("failure", ["invalid_client", "html_503", "login_domain"])
def test_a_refusing_token_endpoint_costs_one_request_per_pause_however_many_threads_call(
    salesforce_org: LocalOrg, failure: str
) -> None:
    org = salesforce_org
    org.fail_token_requests(failure, times=None)
    auth = org.auth(token_backoff=FAST_BACKOFF)
    outcomes = hammer(8, 3.0, lambda: requests.get(org.url + API, auth=auth))
    assert outcomes
    assert all(isinstance(o, TokenRequestError) for o in outcomes)
    # Attempts at 0, 0.5, 1.5 s (and 3.5 s): the rest failed fast, with when to try again.
    assert org.token_requests <= 6
    paused = [o for o in outcomes if o.retry_after is not None]
    assert len(paused) >= len(outcomes) - org.token_requests * 8
    assert all("next attempt is in" in str(o) for o in paused)
    org.heal()
    assert once_resumed(lambda: requests.get(org.url + API, auth=auth)).status_code == 200


def test_a_refused_connection_to_the_token_endpoint_is_paused_too_and_recovers() -> None:
    stopped = LocalOrg().start()
    port, client_id, secret = int(stopped.url.rsplit(":", 1)[1]), "3MVG9id", "s3cr3t-value"
    stopped.stop()
    auth = SalesforceAuth(f"http://127.0.0.1:{port}", client_id, secret, token_backoff=(0.5, 2))
    outcomes = hammer(8, 1.0, lambda: auth.instance_url)
    assert all(isinstance(o, requests.ConnectionError) for o in outcomes)
    attempts = [o for o in outcomes if getattr(o, "retry_after", None) is None]
    assert 1 <= len(attempts) <= 3 * 8  # at most the callers of 2 or 3 attempts waited on one
    assert len(outcomes) > len(attempts)  # the rest failed fast
    with LocalOrg(port=port, client_id=client_id, client_secret=secret) as revived:
        assert once_resumed(lambda: requests.get(revived.url + API, auth=auth)).ok
        assert revived.token_requests == 1


def test_the_pause_doubles_with_each_failure_and_a_success_resets_it(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    auth = org.auth(token_backoff=(0.2, 0.8))
    org.fail_token_requests("html_503", times=3)
    pauses = []
    for _ in range(3):
        with pytest.raises(TokenRequestError):
            auth.instance_url  # an attempt, failing
        with pytest.raises(TokenRequestError) as paused:
            auth.instance_url  # failing fast
        assert paused.value.retry_after is not None
        pauses.append(paused.value.retry_after)
        time.sleep(paused.value.retry_after)
    assert org.token_requests == 3
    assert pauses[0] <= 0.2 < pauses[1] <= 0.4 < pauses[2] <= 0.8
    assert auth.instance_url == org.url  # the fourth attempt succeeds
    org.fail_token_requests("html_503")
    auth.revoke()
    with pytest.raises(TokenRequestError):
        auth.instance_url
    with pytest.raises(TokenRequestError) as after_success:
        auth.instance_url
    assert after_success.value.retry_after is not None
    assert after_success.value.retry_after <= 0.2  # back to the initial pause


def test_a_login_rate_limit_pauses_for_the_maximum_at_once(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    org.fail_token_requests("login_rate_exceeded")
    auth = org.auth(token_backoff=(0.1, 30))
    with pytest.raises(TokenRequestError, match="login rate exceeded"):
        auth.instance_url
    for _ in range(20):
        with pytest.raises(TokenRequestError, match="login rate exceeded") as paused:
            requests.get(org.url + API, auth=auth)
        assert paused.value.retry_after is not None
        assert paused.value.retry_after > 0.1 * 2**5  # far past what doubling would give
    assert org.token_requests == 1


def test_fetch_token_asks_the_endpoint_even_during_a_pause(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    org.fail_token_requests("invalid_client")
    auth = org.auth(token_backoff=(30, 60))
    with pytest.raises(TokenRequestError):
        auth.instance_url
    assert auth.fetch_token()["instance_url"] == org.url
    assert org.token_requests == 2
    assert requests.get(org.url + API, auth=auth).ok


# -- clocks and lifetimes --------------------------------------------------------------------


def test_a_local_clock_hours_ahead_of_the_org_costs_no_extra_login(
    salesforce_org: LocalOrg, warnings_log: pytest.LogCaptureFixture
) -> None:
    org = salesforce_org
    org.clock_skew = -3 * 3600  # the org's clock is 3 h behind this machine's
    with org.session(token_lifetime=7200) as sf:
        statuses = [sf.get("limits").status_code for _ in range(20)]
        assert sf.auth.token is not None
    assert statuses == [200] * 20
    assert org.token_requests == 1
    skew = [r for r in warnings_log.records if "differs from Salesforce's" in r.message]
    assert len(skew) == 1
    assert "+10800 s" in skew[0].message


def test_a_leeway_longer_than_the_introspected_lifetime_is_cut_and_warned_once(
    warnings_log: pytest.LogCaptureFixture,
) -> None:
    with LocalOrg(session_timeout=30) as org:
        with org.session(introspect=True, leeway=60) as sf:
            statuses = [sf.get("limits").status_code for _ in range(20)]
        assert statuses == [200] * 20
        assert org.token_requests == 1
        assert org.introspect_requests == 1
    leeway = [r for r in warnings_log.records if "leeway (60 s)" in r.message]
    assert len(leeway) == 1


def test_an_introspected_exp_on_a_skewed_org_clock_is_measured_on_the_org_clock(
    warnings_log: pytest.LogCaptureFixture,
) -> None:
    with LocalOrg(session_timeout=3600) as org:
        org.clock_skew = 2 * 3600  # the org is 2 h ahead: its exp looks 3 h away locally
        auth = org.auth(introspect=True, leeway=60)
        auth.instance_url
        held = auth._lifecycle.token
        assert held is not None
        assert held.renew_at is not None
        left = held.renew_at - time.monotonic()
        assert 3600 - 60 - 5 < left <= 3600 - 60  # an hour less the leeway, not three


# -- renewal off the request path ------------------------------------------------------------


def test_scheduled_renewals_keep_every_thread_going_with_the_current_token(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_delay = 0.3  # each renewal is in flight for 0.3 s
    auth = org.auth(token_lifetime=1.0, leeway=0.5)
    auth.instance_url
    waited: list[requests.Response] = []
    lock = threading.Lock()

    def call() -> int:
        started = time.time()
        response = requests.get(org.url + API, auth=auth)
        sent = str(response.request.headers["Authorization"]).removeprefix("Bearer ")
        issued = org.token_issued_at(sent)
        # The token was issued after this request started, with no rejection on the way:
        # the request waited for the renewal.
        if issued is not None and issued > started and not response.history:
            with lock:
                waited.append(response)
        return response.status_code

    statuses = hammer(8, 3.0, call)
    assert set(statuses) == {200}
    assert org.rejected_requests == 0
    assert 3 <= org.token_requests <= 7  # one renewal each time the token came due
    assert waited == []


def due_token_whose_renewal_fails(org: LocalOrg) -> tuple[SalesforceAuth, list[int]]:
    """An auth whose token is due while the token endpoint answers 503; the statuses of 50
    requests made as the background renewal starts and fails."""
    auth = org.auth(token_lifetime=1.0, leeway=0.5, token_backoff=(30, 60))
    auth.instance_url
    time.sleep(0.55)
    org.fail_token_requests("html_503", times=None)
    statuses = [requests.get(org.url + API, auth=auth).status_code for _ in range(50)]
    wait_for(lambda: org.token_requests == 2)
    return auth, statuses


def test_a_background_renewal_that_fails_keeps_the_current_token_and_pauses(
    salesforce_org: LocalOrg,
) -> None:
    auth, statuses = due_token_whose_renewal_fails(salesforce_org)
    statuses += [requests.get(salesforce_org.url + API, auth=auth).status_code for _ in range(50)]
    assert statuses == [200] * 100
    assert salesforce_org.token_requests == 2  # one renewal attempt, then the pause


# -- quick expiries --------------------------------------------------------------------------


def test_sixty_four_threads_through_expiries_half_a_second_apart_lose_no_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The org runs in a process of its own, as a real one does: in this process its handler
    # threads would share one interpreter lock with the 64 callers, and a single send could
    # take as long as the time between two expiries.
    from benchmarks.bench_overhead import OrgProcess

    org = OrgProcess("http")
    expiries: list[float] = []

    def expire() -> None:
        if len(expiries) < RENEWAL_BURST - 2:  # within the renewal allowance, as in real orgs
            org.command("expire")
            expiries.append(time.time())

    auth = SalesforceAuth(org.url, org.client_id, org.client_secret)
    with SalesforceSession(auth) as sf:
        sf.mount(org.url, HTTPAdapter(pool_connections=1, pool_maxsize=64))
        sf.get("limits")
        try:
            with repeating(0.5, expire):
                responses = hammer(64, 6.0, lambda: sf.get("limits"))
        finally:
            token_requests = org.command("stats")["token_requests"]
            org.stop()
    failed = [r for r in responses if not isinstance(r, requests.Response) or r.status_code != 200]
    resent_twice = [r for r in responses if len(r.history) == MAX_SENDS - 1]
    with capsys.disabled():
        print(
            f"\nquick expiries: {len(responses)} requests, {len(expiries)} expiries, "
            f"{token_requests} token requests, {len(resent_twice)} sent {MAX_SENDS} times, "
            f"{len(failed)} failed"
        )
    assert len(expiries) >= 8  # about 11: each expiry is a round trip to the org process
    assert len(responses) > 1000
    assert failed == []
    assert token_requests <= len(expiries) + 2


# -- nobody hangs or wedges ------------------------------------------------------------------


def test_an_answer_that_trickles_one_byte_at_a_time_ends_at_the_overall_deadline(
    org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    org.fail_token_requests("trickle")
    if org.ca_bundle:  # so that the plugin's own token session is used, not one of ours
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_bundle)
    # Each byte comes within the 0.5 s read timeout; 1.5 s in all.
    auth = SalesforceAuth(org.url, org.client_id, org.client_secret, timeout=(1, 0.5))
    with pytest.raises(requests.Timeout, match=r"no complete answer within 1\.5 s"):
        auth.instance_url
    assert auth.token is None


def test_a_trickle_through_a_users_token_session_ends_at_the_overall_deadline_too(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.fail_token_requests("trickle")
    token_session = requests.Session()
    token_session.mount("http://", HTTPAdapter(pool_maxsize=3))  # the user's settings
    auth = salesforce_org.auth(timeout=(1, 0.5), token_session=token_session)
    with pytest.raises(requests.Timeout, match=r"no complete answer within 1\.5 s"):
        auth.instance_url
    assert type(token_session.get_adapter(salesforce_org.url)) is HTTPAdapter  # left alone


def test_a_huge_error_body_is_cut_off_and_quoted_briefly(salesforce_org: LocalOrg) -> None:
    salesforce_org.fail_token_requests("huge_500")
    auth = salesforce_org.auth()
    with pytest.raises(TokenRequestError, match="HTTP 500 with a body over 64 KiB") as info:
        auth.instance_url
    assert len(str(info.value)) < 1000


def test_waiters_for_a_fetch_that_never_answers_give_up_by_its_deadline(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.fail_token_requests("hang")
    auth = org.auth(timeout=(0.5, 0.5))
    outcomes = run_together(6, lambda: auth.instance_url)
    assert all(isinstance(o, requests.RequestException) for o in outcomes)
    assert org.token_requests == 1


def test_an_interrupt_in_the_fetching_thread_reaches_waiters_as_an_ordinary_error(
    salesforce_org: LocalOrg,
) -> None:
    started = threading.Event()

    class InterruptedAdapter(HTTPAdapter):
        def send(self, *args: Any, **kwargs: Any) -> requests.Response:
            started.set()
            time.sleep(0.3)  # let the waiters gather
            raise KeyboardInterrupt

    token_session = requests.Session()
    token_session.mount("http://", InterruptedAdapter())
    auth = salesforce_org.auth(token_session=token_session, token_backoff=(30, 60))
    leader_saw: list[BaseException] = []

    def lead() -> None:
        try:
            auth.instance_url
        except BaseException as exc:
            leader_saw.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    started.wait(5)
    waiters = run_together(4, lambda: auth.instance_url)
    leader.join()
    assert [type(e) for e in leader_saw] == [KeyboardInterrupt]
    assert all(type(w) is SalesforceAuthError for w in waiters)
    assert all("interrupted" in str(w) for w in waiters)
    token_session.mount("http://", HTTPAdapter())
    assert auth.instance_url == salesforce_org.url  # an interrupt is no failure: no pause


class _Raising(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("broken log handler")


class _CallingTheOrg(logging.Handler):
    """A handler that ships each record to an API on the same org, with the same auth, and
    no guard against its own calls logging again."""

    def __init__(self, auth: SalesforceAuth, url: str) -> None:
        super().__init__()
        self.auth, self.url, self.statuses = auth, url, list[int]()

    def emit(self, record: logging.LogRecord) -> None:
        self.statuses.append(requests.get(self.url, auth=self.auth).status_code)


@pytest.fixture
def library_logger() -> Iterator[logging.Logger]:
    with logger_at_debug("requests_sf_auth") as logger:
        yield logger


def test_a_raising_log_handler_does_not_wedge_the_auth(
    salesforce_org: LocalOrg, library_logger: logging.Logger
) -> None:
    org = salesforce_org
    raising = _Raising()
    library_logger.addHandler(raising)
    auth = org.auth()
    # The handler's error reaches the callers whose requests logged, after the fetch settled.
    first = run_together(8, lambda: requests.get(org.url + API, auth=auth))
    assert {type(o) for o in first} <= {requests.Response, RuntimeError}
    assert auth.token is not None
    org.expire_tokens()
    rejected = run_together(8, lambda: requests.get(org.url + API, auth=auth))
    assert {type(o) for o in rejected} <= {requests.Response, RuntimeError}
    library_logger.removeHandler(raising)
    after = run_together(8, lambda: requests.get(org.url + API, auth=auth))
    assert [r.status_code for r in after] == [200] * 8
    assert org.token_requests <= 3


def test_a_log_handler_that_calls_the_org_with_the_same_auth_does_not_deadlock(
    salesforce_org: LocalOrg, library_logger: logging.Logger
) -> None:
    auth = salesforce_org.auth()
    handler = _CallingTheOrg(auth, salesforce_org.url + API)
    library_logger.addHandler(handler)
    results = run_together(4, lambda: requests.get(salesforce_org.url + API, auth=auth))
    salesforce_org.expire_tokens()
    results += run_together(4, lambda: requests.get(salesforce_org.url + API, auth=auth))
    assert [r.status_code for r in results] == [200] * 8
    assert handler.statuses
    assert set(handler.statuses) == {200}
    assert salesforce_org.token_requests == 2


def test_waiters_give_up_at_the_deadline_even_when_the_fetching_thread_overruns_it(
    salesforce_org: LocalOrg,
) -> None:
    class StuckAdapter(HTTPAdapter):
        """A user's adapter that ignores timeouts: the fetch outlives its own deadline."""

        def send(self, *args: Any, **kwargs: Any) -> requests.Response:
            time.sleep(4)
            return super().send(*args, **kwargs)

    token_session = requests.Session()
    token_session.mount("http://", StuckAdapter())
    auth = salesforce_org.auth(timeout=(0.5, 0.5), token_session=token_session)
    leader_saw: list[BaseException] = []

    def lead() -> None:
        try:
            auth.instance_url
        except requests.RequestException as exc:
            leader_saw.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    wait_for(lambda: salesforce_org.token_requests == 0 and leader.is_alive())
    time.sleep(0.1)  # the leader is inside its fetch
    waiters = run_together(4, lambda: auth.instance_url)
    assert all(isinstance(w, TokenRequestError) for w in waiters)
    assert all("gave up waiting" in str(w) for w in waiters)
    assert leader.is_alive()  # they gave up before the stuck fetch ended
    leader.join()
    # The answer came after the deadline: the watchdog cut it off as it began.
    assert [type(e) for e in leader_saw] == [requests.Timeout]


def start_script(path: Any, source: str, org: LocalOrg) -> subprocess.Popen[str]:
    """Run ``source`` as a Python script in a process of its own, given the org's URL and
    credentials as arguments, with pipes for its standard streams."""
    path.write_text(source)
    return subprocess.Popen(
        [sys.executable, str(path), org.url, org.client_id, org.client_secret],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EXIT_DURING_RENEWAL = """
import atexit, sys, threading, time
import requests
from requests_sf_auth import SalesforceAuth

url, client_id, secret = sys.argv[1:4]
auth = SalesforceAuth(url, client_id, secret, token_lifetime=1.0, leeway=0.5)
auth.instance_url
time.sleep(0.6)
print(requests.get(url + "/services/data/v67.0/limits", auth=auth).status_code, flush=True)
sys.stdin.readline()  # the test says when the renewal has reached the org
# atexit handlers run after the interpreter joined its threads: list what is still running.
atexit.register(lambda: print(sorted(t.name for t in threading.enumerate() if t.is_alive())))
"""


def test_the_interpreter_exits_cleanly_during_a_background_renewal(
    salesforce_org: LocalOrg, tmp_path: Any
) -> None:
    org = salesforce_org
    org.token_delay = 0.5  # the renewal is in flight when the script ends
    process = start_script(tmp_path / "exit_during_renewal.py", EXIT_DURING_RENEWAL, org)
    wait_for(lambda: org.token_requests == 2)  # the renewal is in flight
    out, err = process.communicate("go\n", timeout=60)
    assert process.returncode == 0, err
    assert err == ""
    assert out.splitlines() == ["200", "[]"]  # no thread left, the main one ended


def test_pickling_and_forking_during_a_background_renewal(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    auth = org.auth(token_lifetime=1.0, leeway=0.5)
    auth.instance_url
    due = auth.token["access_token"]  # type: ignore[index]
    time.sleep(0.55)
    org.token_delay = 1.0
    assert requests.get(org.url + API, auth=auth).ok  # starts the background renewal
    wait_for(lambda: org.token_requests == 2)  # which has reached the org
    forked_at = time.time()
    if hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            ok = requests.get(org.url + API, auth=auth).ok
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    pickled_at = time.time()
    copy = pickle.loads(pickle.dumps(auth))
    assert copy.token is None
    wait_for(lambda: auth.token["access_token"] != due)  # type: ignore[index]
    # The renewal's token was issued after the fork and the pickling: it was in flight then.
    renewed = org.token_issued_at(auth.token["access_token"])  # type: ignore[index]
    assert renewed is not None
    assert renewed > pickled_at >= forked_at
    org.token_delay = 0
    assert copy.instance_url == org.url  # fetches its own


# -- what an adversarial review found --------------------------------------------------------


def test_a_5xx_answer_to_a_resend_does_not_end_a_refusal_streak(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    org.reject_api_with = "Session expired or invalid"
    sends = iter(range(10**6))

    class OverloadedEverySecondSend(HTTPAdapter):
        def send(self, *args: Any, **kwargs: Any) -> requests.Response:
            if next(sends) % 2:
                org.fail_api_requests(503)  # this send meets an overloaded instance
            return super().send(*args, **kwargs)

    with org.session(token_backoff=(30, 60)) as sf:
        sf.mount(org.url, OverloadedEverySecondSend())
        statuses = {sf.get("limits").status_code for _ in range(50)}
    assert statuses <= {401, 503}
    assert org.token_requests <= 3  # a 503 proves nothing about the token


def test_a_token_that_expires_during_an_outage_pause_fails_fast_with_retry_after(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    auth, _ = due_token_whose_renewal_fails(org)
    org.expire_tokens()
    for _ in range(5):
        with pytest.raises(TokenRequestError, match="HTTP 503") as paused:
            requests.get(org.url + API, auth=auth)
        assert paused.value.retry_after is not None
    assert org.token_requests == 2


def test_a_skew_just_under_a_minute_with_a_long_leeway_costs_no_extra_login(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.clock_skew = -55.99  # not enough to be called skew, enough to eat the interval
    auth = org.auth(token_lifetime=116, leeway=60)
    statuses = [requests.get(org.url + API, auth=auth).status_code for _ in range(50)]
    assert statuses == [200] * 50
    assert org.token_requests == 1


def test_threads_that_shared_a_failed_fetch_are_told_when_to_retry(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_delay = 0.3
    org.fail_token_requests("invalid_client")
    auth = org.auth(token_backoff=(5, 10))
    outcomes = run_together(6, lambda: auth.instance_url)
    assert all(isinstance(o, TokenRequestError) for o in outcomes)
    assert org.token_requests == 1
    told = [o for o in outcomes if o.retry_after is not None]
    assert len(told) >= 5  # every waiter; the thread that asked got the answer itself


def test_an_interrupt_before_the_fetch_began_leaves_no_flight_behind(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from requests_sf_auth._lifecycle import TokenLifecycle

    auth = salesforce_org.auth()
    lead = TokenLifecycle._lead

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # as Ctrl-C landing between two bytecodes

    monkeypatch.setattr(TokenLifecycle, "_lead", interrupted)
    with pytest.raises(KeyboardInterrupt):
        auth.instance_url
    monkeypatch.setattr(TokenLifecycle, "_lead", lead)
    assert run_together(4, lambda: auth.instance_url) == [salesforce_org.url] * 4
    assert salesforce_org.token_requests == 1


def test_an_interrupt_while_starting_the_renewal_thread_leaves_no_flight_behind(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests_sf_auth._lifecycle as lifecycle

    org = salesforce_org
    auth = org.auth(token_lifetime=1.0, leeway=0.5)
    auth.instance_url
    time.sleep(0.55)

    class InterruptedThread:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle.threading, "Thread", InterruptedThread)
    with pytest.raises(KeyboardInterrupt):
        requests.get(org.url + API, auth=auth)
    monkeypatch.undo()
    assert requests.get(org.url + API, auth=auth).ok  # starts the renewal this time
    wait_for(lambda: org.token_requests == 2)


def shown_with_locals(error: BaseException) -> str:
    """What an error tracker that captures locals records of ``error``: its traceback with
    the repr of every local, through its whole chain of causes and contexts, from the frame
    below the test's own (which holds the secret it checks for)."""
    below = error.__traceback__.tb_next if error.__traceback__ is not None else None
    shown = traceback.TracebackException(type(error), error, below, capture_locals=True)
    return "".join(shown.format())


@pytest.mark.parametrize(
    "failure", ["echo_500", "http_instance_url", "missing_instance_url", "tampered_signature"]
)
def test_no_secret_or_issued_token_is_in_the_locals_of_an_unusable_answer(
    salesforce_org: LocalOrg, failure: str
) -> None:
    org = salesforce_org
    org.fail_token_requests(failure)
    auth = org.auth(verify_signature=True)
    with pytest.raises(TokenRequestError) as info:
        auth.instance_url
    shown = shown_with_locals(info.value)
    assert org.client_secret not in shown
    assert all(token not in shown for token in org.live_tokens())


@pytest.mark.parametrize("token", ["00Dx!AR8\r\nX-Injected: 1", "00Dx!AR8 space", "00Dx!AR8é"])
def test_an_access_token_no_header_can_carry_is_refused_without_quoting_it(
    salesforce_org: LocalOrg, token: str
) -> None:
    org = salesforce_org
    org.token_factory = lambda: token
    auth = org.auth(token_backoff=(0.1, 0.1))
    with pytest.raises(TokenRequestError, match="without a usable access_token") as info:
        requests.get(org.url + API, auth=auth)
    assert token not in str(info.value)
    assert auth.token is None
    org.token_factory = None
    assert once_resumed(lambda: requests.get(org.url + API, auth=auth)).ok


def test_no_secret_is_reachable_from_a_token_error(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    stopped = LocalOrg().start()
    closed = stopped.url
    stopped.stop()
    cases = [
        SalesforceAuth(closed, org.client_id, org.client_secret),  # refused connection
        org.auth(timeout=(0.5, 0.5)),  # never answers
        org.auth(),  # wrong client id below
    ]
    org.fail_token_requests("hang")
    for auth in cases:
        with pytest.raises(requests.RequestException) as info:
            auth.instance_url
        assert org.client_secret not in shown_with_locals(info.value)
        chain: BaseException | None = info.value
        while chain is not None:
            request = getattr(chain, "request", None)
            assert request is None or org.client_secret not in str(getattr(request, "body", ""))
            chain = chain.__cause__ or chain.__context__
        org.heal()
        org.fail_token_requests("invalid_client_id")


def test_an_error_no_message_can_rebuild_still_arrives_as_a_requests_exception(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.fail_token_requests("html_503")
    token_session = requests.Session()
    token_session.hooks["response"].append(lambda r, **kwargs: r.json())  # fails on HTML
    auth = salesforce_org.auth(token_session=token_session)
    with pytest.raises(requests.RequestException) as info:
        auth.instance_url
    assert info.value.__context__ is None
    assert getattr(info.value, "request", None) is None


def test_exit_does_not_wait_out_a_renewal_the_org_answers_one_byte_at_a_time(
    salesforce_org: LocalOrg, tmp_path: Any
) -> None:
    org = salesforce_org
    process = start_script(tmp_path / "exit_during_stalled_renewal.py", EXIT_DURING_RENEWAL, org)
    wait_for(lambda: org.token_requests == 1)
    org.fail_token_requests("trickle", times=None)  # the renewal trickles for minutes
    wait_for(lambda: org.token_requests == 2)  # and is in flight now
    # The default deadline is 40 s; the process must end well before, cut short at exit.
    out, err = process.communicate("go\n", timeout=20)
    assert process.returncode == 0, err
    assert out.splitlines() == ["200", "[]"]  # and it left no thread behind
    assert org.token_requests == 2


WORKERS_OUTLIVE_MAIN = """
import sys, threading, time
import requests
from requests_sf_auth import SalesforceAuth

url, client_id, secret = sys.argv[1:4]
auth = SalesforceAuth(url, client_id, secret, token_lifetime=1.0, leeway=0.5)
api = url + "/services/data/v67.0/limits"

def work():
    time.sleep(0.3)  # the main thread has ended, and the interpreter begun to exit
    print(requests.get(api, auth=auth).status_code, flush=True)
    sys.stdin.readline()  # the test ends every session meanwhile
    time.sleep(0.6)  # the token is due, too
    print(requests.get(api, auth=auth).status_code, flush=True)

threading.Thread(target=work).start()
"""


def test_worker_threads_that_outlive_the_main_thread_still_get_and_renew_tokens(
    salesforce_org: LocalOrg, tmp_path: Any
) -> None:
    org = salesforce_org
    process = start_script(tmp_path / "workers_outlive_main.py", WORKERS_OUTLIVE_MAIN, org)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "200"
    org.expire_tokens()
    out, err = process.communicate("go\n", timeout=30)
    assert process.returncode == 0, err
    assert out.splitlines() == ["200"]
    assert org.token_requests == 2  # first use, and the renewal after the rejection


WORKER_JOINS_A_RENEWAL_CUT_AT_EXIT = """
import sys, threading, time
import requests
from requests_sf_auth import SalesforceAuth

url, client_id, secret = sys.argv[1:4]
auth = SalesforceAuth(url, client_id, secret, token_lifetime=1.0, leeway=0.5)
api = url + "/services/data/v67.0/limits"
auth.instance_url
time.sleep(0.6)

def work():
    sys.stdin.readline()  # every session has ended: this request joins the renewal in flight
    print("worker", requests.get(api, auth=auth).status_code, flush=True)

threading.Thread(target=work).start()
print("main", requests.get(api, auth=auth).status_code, flush=True)  # starts the renewal
time.sleep(0.5)  # then the main thread ends, and the renewal is cut short
"""


def test_a_thread_waiting_for_a_renewal_cut_short_at_exit_fetches_for_itself(
    salesforce_org: LocalOrg, tmp_path: Any
) -> None:
    org = salesforce_org
    process = start_script(
        tmp_path / "worker_joins_a_renewal_cut_at_exit.py", WORKER_JOINS_A_RENEWAL_CUT_AT_EXIT, org
    )
    assert process.stdout is not None
    wait_for(lambda: org.token_requests == 1)
    org.token_delay = 1.5  # the renewal stays in flight past the end of the main thread
    assert process.stdout.readline().strip() == "main 200"
    org.expire_tokens()
    out, err = process.communicate("go\n", timeout=30)
    assert process.returncode == 0, err
    assert out.splitlines() == ["worker 200"]
    assert org.token_requests == 3  # first use, the renewal cut short, the worker's own


def test_a_stock_adapter_keeps_its_pool_settings_for_the_token_request(
    salesforce_org_https: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = salesforce_org_https
    assert org.ca_bundle is not None
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    context = ssl.create_default_context(cafile=org.ca_bundle)
    context.check_hostname = False  # urllib3 matches the host itself (1.26 needs this for IPs)
    adapter = HTTPAdapter()
    adapter.init_poolmanager(10, 10, ssl_context=context)
    token_session = requests.Session()
    token_session.mount("https://", adapter)  # the org's CA is trusted only through this
    auth = SalesforceAuth(org.url, org.client_id, org.client_secret, token_session=token_session)
    assert auth.instance_url == org.url
