"""``auth.api_usage``: the org's API calls against its daily limit, from the last
``Sforce-Limit-Info`` header, kept current for free on every answer."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator

import pytest
import requests_cache

from requests_sf_auth import ApiUsage, SalesforceURLMixin
from requests_sf_auth.testing import LocalOrg

from helpers import run_together


def test_api_usage_is_none_until_an_answer_reports_it_and_reading_it_fetches_nothing(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth()
    assert auth.api_usage is None
    assert salesforce_org.token_requests == 0
    auth.instance_url  # a token answer carries no usage
    assert auth.api_usage is None


def test_api_usage_follows_the_header_as_the_org_counts_calls(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    with org.session() as sf:
        seen = []
        for _ in range(3):
            sf.get("limits")
            seen.append(sf.auth.api_usage)
    assert seen == [ApiUsage(1, 15000), ApiUsage(2, 15000), ApiUsage(3, 15000)]
    assert seen[-1] is not None
    assert seen[-1].used == org.api_usage


def test_an_answer_without_the_header_leaves_the_last_reported_usage(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    with org.session() as sf:
        sf.get("limits")
        reported = sf.auth.api_usage
        versions = sf.get(org.url + "/services/data/")  # outside vNN.N: no usage header
        after_versions = sf.auth.api_usage
        sf.get("limits")
        after_next_call = sf.auth.api_usage
    assert "Sforce-Limit-Info" not in versions.headers
    assert reported == after_versions == ApiUsage(1, 15000)
    assert after_next_call == ApiUsage(2, 15000)


def test_api_usage_counts_the_answer_to_a_resend_after_an_expiry(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        response = sf.get("limits")
        usage = sf.auth.api_usage
    assert [r.status_code for r in response.history] == [401]
    assert usage == ApiUsage(org.api_usage, 15000)
    assert usage.used == 2  # the 401 is not a call served


def test_api_usage_is_safe_to_read_and_update_from_many_threads(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    with org.session() as sf:
        sf.get("limits")

        def calls() -> list[ApiUsage | None]:
            statuses, seen = [], []
            for _ in range(10):
                statuses.append(sf.get("limits").status_code)
                seen.append(sf.auth.api_usage)
            assert statuses == [200] * 10
            return seen

        seen = [usage for batch in run_together(16, calls) for usage in batch]
    usages = [u for u in seen if isinstance(u, ApiUsage)]
    assert len(usages) == len(seen) == 160
    assert {u.limit for u in usages} == {15000}
    assert all(1 <= u.used <= org.api_usage for u in usages)
    assert org.api_usage == 1 + 16 * 10


@pytest.fixture
def warnings_logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """Captures warnings, the package's at least, for the whole test; call it for their
    messages so far."""
    with caplog.at_level(logging.WARNING, logger="requests_sf_auth"):
        yield lambda: [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_one_warning_once_the_org_passes_ninety_percent_of_its_limit(
    warnings_logged: Callable[[], list[str]],
) -> None:
    # The header is parsed when usage is read, or at most once a second: the warning comes
    # with the first parse that finds the org past 90%.
    with LocalOrg(api_limit=10) as org, org.session() as sf:
        readings = []
        for _ in range(10):
            sf.get("limits")
            readings.append(sf.auth.api_usage)
    assert readings[-1] == ApiUsage(10, 10)
    assert warnings_logged() == [
        "the org has used 9 of its 10 daily API calls (90%); requests fail once the limit is "
        "reached"
    ]


def _report(org: LocalOrg, used: int, limit: int = 10_000) -> None:
    org.add_response(
        "GET", "limits", json={}, headers={"Sforce-Limit-Info": f"api-usage={used}/{limit}"}
    )


def test_near_the_limit_the_answer_that_crosses_it_warns_though_nobody_reads_api_usage(
    salesforce_org: LocalOrg, warnings_logged: Callable[[], list[str]]
) -> None:
    org = salesforce_org
    with org.session() as sf:
        _report(org, 8_500)
        sf.get("limits")  # parsed as the first answer: 85%, near the limit
        _report(org, 9_100)
        sf.get("limits")  # within the same second
        warned_at_once = warnings_logged()
        for _ in range(3):  # answers without the header do not wipe the crossing
            sf.get(org.url + "/services/data/")
    assert warned_at_once == [
        "the org has used 9100 of its 10000 daily API calls (91%); requests fail once the "
        "limit is reached"
    ]
    assert len(warnings_logged()) == 1


def test_the_warning_comes_again_only_after_usage_falls_below_eighty_percent(
    salesforce_org: LocalOrg, warnings_logged: Callable[[], list[str]]
) -> None:
    org = salesforce_org
    readings = []
    with org.session() as sf:
        for used in (9_100, 8_900, 9_200, 9_050, 7_000, 9_300):
            _report(org, used)
            sf.get("limits")
            readings.append(sf.auth.api_usage)
    assert [u.used for u in readings if u is not None] == [9_100, 8_900, 9_200, 9_050, 7_000, 9_300]
    assert [w.split(" of its")[0] for w in warnings_logged()] == [
        "the org has used 9100",
        "the org has used 9300",
    ]


def test_sixteen_threads_crossing_ninety_percent_together_log_one_warning(
    warnings_logged: Callable[[], list[str]],
) -> None:
    # Answers land out of order across threads, so readings near 90% go up and down by a
    # few calls; only a fall below 80% may warn again.
    with LocalOrg(api_limit=1_000) as org, org.session() as sf:

        def calls() -> None:
            for _ in range(60):
                assert sf.get("limits").status_code == 200
                sf.auth.api_usage  # every reading parses, racing the others

        run_together(16, calls)
        assert org.api_usage == 960
    # 16 threads on a pool of 10 also bring urllib3's "Connection pool is full".
    assert len([w for w in warnings_logged() if "daily API calls" in w]) == 1


def test_an_answer_from_a_cache_leaves_api_usage_at_the_orgs_latest_word(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org

    class CachedSalesforceSession(SalesforceURLMixin, requests_cache.CachedSession):
        pass

    with CachedSalesforceSession(backend="memory") as sf:
        sf.auth = org.auth()
        sf.get("sobjects/Account/describe")  # api-usage=1
        sf.get("limits")  # api-usage=2
        cached = sf.get("sobjects/Account/describe")  # stored when usage was 1
        usage = sf.auth.api_usage
    assert cached.from_cache
    assert cached.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    assert usage == ApiUsage(2, 15000)


def test_a_pickled_auth_parses_the_first_answer_it_gets_on_any_clock(
    salesforce_org: LocalOrg, warnings_logged: Callable[[], list[str]]
) -> None:
    org = salesforce_org
    with org.session() as sf:
        _report(org, 100)
        sf.get("limits")  # parsed: the next parse is due a second from now, on this clock
        clone = pickle.loads(pickle.dumps(sf))
        _report(org, 9_500)
        with clone:
            clone.get("limits")
            warned = warnings_logged()
    assert len(warned) == 1
    assert "9500 of its 10000" in warned[0]


def test_a_usage_header_no_number_type_can_hold_is_ignored_not_raised(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.add_response(
        "GET", "limits", json={}, headers={"Sforce-Limit-Info": f"api-usage={'9' * 5000}/15000"}
    )
    with org.session() as sf:
        response = sf.get("limits")
        usage = sf.auth.api_usage
    assert response.status_code == 200
    assert usage is None


def test_usage_reported_by_another_host_a_redirect_led_to_is_not_taken(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    with LocalOrg(api_limit=7) as stranger, org.session() as sf:
        sf.get("limits")
        hop = {"to": stranger.url + "/services/data/v67.0/limits"}
        response = sf.get("test/redirect", params=hop)
        usage = sf.auth.api_usage
    assert response.headers["Sforce-Limit-Info"] == "api-usage=0/7"  # the stranger's word
    assert usage == ApiUsage(2, 15000)  # the org's, from the redirect it answered
