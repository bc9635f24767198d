"""Constructing SalesforceAuth validates its arguments and touches no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from requests_sf_auth import FileTokenStore, RedisTokenStore, SalesforceAuth
from requests_sf_auth.testing import LocalOrg

from helpers import run_together

ID, SECRET = "3MVG9client", "s3cr3t-value-123"


@pytest.mark.parametrize(
    ("domain", "token_url"),
    [
        ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com/services/oauth2/token"),
        ("acme.my.salesforce.com", "https://acme.my.salesforce.com/services/oauth2/token"),
        ("https://acme.my.salesforce.com/", "https://acme.my.salesforce.com/services/oauth2/token"),
        (
            "https://acme.my.salesforce.com/services/oauth2/token",
            "https://acme.my.salesforce.com/services/oauth2/token",
        ),
        ("HTTPS://Acme.My.Salesforce.com", "https://acme.my.salesforce.com/services/oauth2/token"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/services/oauth2/token"),
        ("http://127.8.9.10", "http://127.8.9.10/services/oauth2/token"),
        ("http://localhost:9000", "http://localhost:9000/services/oauth2/token"),
        ("http://[::1]:9000", "http://[::1]:9000/services/oauth2/token"),
    ],
)
def test_domain_accepts_my_domain_host_url_or_token_url(domain: str, token_url: str) -> None:
    assert SalesforceAuth(domain, ID, SECRET).token_url == token_url


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("http://acme.my.salesforce.com", "plain http"),
        ("http://10.0.0.5", "plain http"),
        ("", "empty"),
        ("   ", "empty"),
        ("https://acme.my.salesforce.com/services/data", "path"),
        ("https://user:pw@acme.my.salesforce.com", "user info"),
        ("https://acme.my.salesforce.com?x=1", "query"),
        ("https://acme.my.salesforce.com?", "query"),
        ("https://acme.my.salesforce.com/#", "fragment"),
        ("ftp://acme.my.salesforce.com", "not an absolute http"),
        ("acme my.salesforce.com", "white space"),
    ],
)
def test_invalid_domain_fails_at_construction_with_a_clear_value_error(
    domain: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SalesforceAuth(domain, ID, SECRET)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_id": ""}, "client_id must be a non-empty string"),
        ({"client_secret": ""}, "client_secret must be a non-empty string"),
        ({"client_secret": None}, "client_secret must be a non-empty string"),
        ({"client_secret": " padded "}, "white space"),
        ({"timeout": None}, "timeout must be a positive, finite"),
        ({"timeout": 0}, "timeout must be a positive, finite"),
        ({"timeout": float("inf")}, "timeout must be a positive, finite"),
        ({"timeout": (5, None)}, "timeout must be a positive, finite"),
        ({"timeout": 10**400}, "timeout must be a positive, finite"),
        ({"timeout": 1e10}, r"timeout must be at most 86400 seconds \(a day\)"),
        ({"timeout": (5, 86401)}, r"timeout must be at most 86400 seconds \(a day\)"),
        ({"token_lifetime": "7200"}, "token_lifetime must be a positive .*, not '7200'"),
        ({"token_lifetime": 10**400}, "token_lifetime must be a positive"),
        ({"api_version": "latest"}, "api_version"),
        ({"api_version": "\u0666\u0667"}, "api_version '\u0666\u0667' is not a version"),
        ({"allowed_hosts": None}, r"allowed_hosts must be a host name or a list of them"),
        ({"allowed_hosts": 5}, r"allowed_hosts must be a host name or a list of them"),
        ({"allowed_hosts": b"files.example.com"}, r"allowed_hosts must be a host name or"),
        ({"allowed_hosts": ["http://files.example.com"]}, "plain http"),
        ({"allowed_hosts": ["https://files.example.com/path"]}, "has a path"),
        ({"allowed_hosts": ["files.example.com?"]}, "query"),
        ({"allowed_hosts": ["https://files.example.com#"]}, "fragment"),
        ({"allowed_hosts": ["user:pw@files.example.com"]}, "user info"),
        ({"token_session": "not a session"}, "token_session must be a requests.Session"),
        ({"scope": 42}, "scope must be"),
        ({"token_backoff": 5}, r"token_backoff must be an \(initial, maximum\) pair"),
        ({"token_backoff": (0, 60)}, "token_backoff initial must be a positive"),
        ({"token_backoff": (1, float("nan"))}, "token_backoff maximum must be a positive"),
        ({"token_backoff": (10, 5)}, r"initial \(10 s\) must not exceed its maximum \(5 s\)"),
        ({"token_backoff": (1, 1e308)}, "token_backoff maximum must be at most 86400 seconds"),
        ({"verify_signature": "false"}, "verify_signature must be True or False, not 'false'"),
        ({"revoke_on_exit": "false"}, "revoke_on_exit must be True or False"),
        ({"introspect": "no"}, "introspect must be True or False"),
        ({"token_store": FileTokenStore}, "token_store must be a store instance"),
        ({"allowed_hosts": ["*.force.com"]}, "wildcards and comma-separated lists are not read"),
        ({"allowed_hosts": ["a.force.com,b.force.com"]}, "one host per entry"),
    ],
)
def test_invalid_arguments_fail_at_construction_naming_the_argument(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"client_id": ID, "client_secret": SECRET, **kwargs}
    with pytest.raises(ValueError, match=message):
        SalesforceAuth("https://acme.my.salesforce.com", **args)  # type: ignore[arg-type]


def test_timeouts_up_to_a_day_work_from_many_threads_and_longer_ones_are_refused(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    # Waits add up (connect and read, introspection, the store's lock) to what a thread
    # waiting for another's token request waits at most; past a limit, Python's timers raise
    # OverflowError in every request, so the longest is checked at construction.
    store = FileTokenStore(tmp_path / "tokens.json", lock_timeout=86400)
    auth = salesforce_org.auth(timeout=(86400, 86400), introspect=True, token_store=store)
    with salesforce_org.session(auth) as sf:
        assert run_together(6, lambda: sf.get("limits").status_code) == [200] * 6
    assert salesforce_org.token_requests == 1
    with pytest.raises(ValueError, match="timeout must be at most 86400 seconds"):
        salesforce_org.auth(timeout=(86400, 86400.5))
    with pytest.raises(ValueError, match="lock_timeout must be at most 86400 seconds"):
        FileTokenStore(tmp_path / "tokens.json", lock_timeout=86400.5)


def test_secret_is_not_echoed_in_construction_errors() -> None:
    with pytest.raises(ValueError, match="plain http") as excinfo:
        SalesforceAuth("http://acme.my.salesforce.com", ID, SECRET)
    assert SECRET not in str(excinfo.value)


@pytest.mark.parametrize(
    ("given", "normalised"), [("67.0", "67.0"), ("v66.0", "66.0"), ("65", "65.0")]
)
def test_api_version_is_normalised(given: str, normalised: str) -> None:
    assert SalesforceAuth("acme.my.salesforce.com", ID, SECRET, api_version=given).api_version == (
        normalised
    )


def test_constructing_makes_no_request_and_reading_token_never_fetches(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth()
    assert auth.token is None
    assert auth.token is None
    assert salesforce_org.token_requests == 0
    assert len(salesforce_org.received) == 0


def test_instance_url_fetches_once_and_fetch_token_always_fetches(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()
    assert auth.instance_url == salesforce_org.url
    assert auth.instance_url == salesforce_org.url
    assert salesforce_org.token_requests == 1
    first = auth.token
    assert first is not None
    second = auth.fetch_token()
    assert salesforce_org.token_requests == 2
    assert second["access_token"] != first["access_token"]
    assert auth.token == second


def test_token_is_the_response_as_salesforce_sent_it_and_a_copy(salesforce_org: LocalOrg) -> None:
    auth = salesforce_org.auth()
    auth.instance_url
    token = auth.token
    assert token is not None
    assert set(token) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "scope"}
    assert token["scope"] == "api"  # a string, as sent; oauthlib would make it a list
    token["access_token"] = "tampered"
    assert auth.token is not None
    assert auth.token["access_token"] != "tampered"


@pytest.mark.parametrize("given", [None, b"redis://127.0.0.1:6379/0", RedisTokenStore])
def test_a_redis_store_of_something_that_is_no_client_or_url_fails_at_construction(
    given: object,
) -> None:
    with pytest.raises(ValueError, match=r"needs a redis\.Redis client or a redis:// or rediss://"):
        RedisTokenStore(given)


def test_a_redis_store_refuses_an_asyncio_client_at_construction() -> None:
    import redis.asyncio

    with pytest.raises(ValueError, match=r"synchronous redis\.Redis client"):
        RedisTokenStore(redis.asyncio.Redis())
