"""A rejected token is renewed once and the request is sent again, following requests'
``HTTPDigestAuth.handle_401``: history, cookies, bodies and keyword arguments all carry over."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_sf_auth import MAX_SENDS, SalesforceSession
from requests_sf_auth.testing import LocalOrg


def bodies_received(org: LocalOrg, path_suffix: str) -> list[bytes]:
    return [r.body for r in org.received if r.path.endswith(path_suffix)]


def test_expired_session_is_renewed_and_retried_without_the_caller_noticing(
    org: LocalOrg,
) -> None:
    with org.session() as sf:
        assert sf.get("limits").status_code == 200
        org.expire_tokens()
        response = sf.get("limits")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert org.token_requests == 2
    tokens = [r.token for r in org.received if r.path.endswith("/limits")]
    assert tokens[1] == tokens[0]  # the rejected attempt carried the dead token
    assert tokens[2] != tokens[0]  # the retry carried the new one


def test_a_401_no_token_fixes_goes_back_to_the_caller_after_max_sends(org: LocalOrg) -> None:
    with org.session() as sf:
        sf.get("limits")
        org.reject_api_with = "This session is not valid for use with the REST API"
        response = sf.get("limits")
        again = sf.get("limits")
    assert response.status_code == 401
    assert response.json()[0]["message"] == "This session is not valid for use with the REST API"
    # The accepted token's 401 renews it; the new token's 401 is a refusal, which gets one
    # renewal; MAX_SENDS then ends it.
    assert [r.status_code for r in response.history] == [401] * (MAX_SENDS - 1)
    assert org.token_requests == 3
    # The next token's refusal opens a pause: its 401 comes back with no login and no resend.
    assert again.status_code == 401
    assert again.history == []
    assert org.token_requests == 3
    assert org.api_requests == 1 + MAX_SENDS + 1


def test_a_request_whose_every_new_token_dies_on_the_way_is_sent_max_sends_times(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    auth = org.auth()
    limits = org.url + "/services/data/v67.0/limits"

    class EndingEverySessionOnTheWay(HTTPAdapter):
        """Each send to the doomed path finds the token it carries accepted by another call
        and then ended, as when sessions end faster than a request can be resent."""

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            if (request.url or "").endswith("/Doomed"):
                assert requests.get(limits, auth=auth).status_code == 200
                org.expire_tokens()
            return super().send(request, **kwargs)

    with org.session(auth) as sf:
        sf.mount(org.url, EndingEverySessionOnTheWay())
        sf.get("limits")
        response = sf.get("sobjects/Doomed")
    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [401] * (MAX_SENDS - 1)
    sent = [r.token for r in org.received if r.path.endswith("/Doomed")]
    assert len(sent) == MAX_SENDS
    assert len(set(sent)) == MAX_SENDS  # each send with a token renewed for it
    assert org.token_requests == MAX_SENDS  # the first token, and one renewal per resend


class RecordingAdapter(HTTPAdapter):
    """requests' own adapter, noting the keyword arguments of every send."""

    def __init__(self) -> None:
        super().__init__()
        self.sends: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sends.append(kwargs)
        return super().send(request, **kwargs)


def test_the_resend_goes_through_the_same_adapter_with_the_same_keyword_arguments(
    org: LocalOrg,
) -> None:
    adapter = RecordingAdapter()
    with org.session() as sf:
        sf.mount(org.url, adapter)
        sf.get("limits")
        org.expire_tokens()
        adapter.sends.clear()
        response = sf.get("test/echo", stream=True, timeout=(3.5, 7.5))
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]
        assert json.loads(b"".join(response.iter_content(16)))["path"].endswith("/test/echo")
    rejected, resent = adapter.sends
    assert resent == rejected
    assert resent["stream"] is True
    assert resent["timeout"] == (3.5, 7.5)


def test_cookies_set_by_the_rejection_are_carried_to_the_retry(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        org.api_cookies = {"BrowserId": "b7x"}
        response = sf.get("test/echo")
    assert response.history[0].cookies.get("BrowserId") == "b7x"
    assert "Cookie" not in response.history[0].request.headers
    assert response.json()["headers"]["Cookie"] == "BrowserId=b7x"


def test_per_request_auth_and_session_response_hooks_see_the_final_response(
    org: LocalOrg,
) -> None:
    auth = org.auth()
    seen: list[int] = []
    session = requests.Session()
    session.trust_env = False
    session.verify = org.ca_bundle or True
    session.hooks["response"].append(lambda r, **kw: seen.append(r.status_code))
    url = org.url + "/services/data/v67.0/limits"
    assert session.get(url, auth=auth).status_code == 200
    org.expire_tokens()
    assert session.get(url, auth=auth).status_code == 200
    assert seen == [200, 200]


# -- request bodies ------------------------------------------------------------------------


def _post_after_expiry(org: LocalOrg, **kwargs: object) -> requests.Response:
    with org.session() as sf:
        sf.get("limits")
        org.expire_tokens()
        return sf.post("test/echo/Thing", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"data": b"\x00raw bytes\xff"}, id="bytes"),
        pytest.param({"data": "plain text \u00e9"}, id="str"),
        pytest.param({"data": {"Name": "Acme", "Tier": "1"}}, id="form-dict"),
        pytest.param({"json": {"Name": "Acme", "nested": [1, 2, {"x": None}]}}, id="json"),
        pytest.param(
            {
                "files": {
                    "a": ("a.txt", b"first file"),
                    "b": ("b.bin", bytes(range(256)) * 4, "application/octet-stream"),
                },
                "data": {"field": "value"},
            },
            id="multipart",
        ),
        pytest.param({"data": b"x" * (10 * 1024 * 1024)}, id="10MB"),
    ],
)
def test_replayable_bodies_arrive_identical_on_both_attempts(
    salesforce_org: LocalOrg, kwargs: dict[str, object]
) -> None:
    response = _post_after_expiry(salesforce_org, **kwargs)
    assert response.status_code == 200
    rejected, retried = bodies_received(salesforce_org, "/test/echo/Thing")
    assert rejected == retried
    assert len(retried) > 0


def test_seekable_file_is_rewound_to_where_it_started_not_to_zero(
    salesforce_org: LocalOrg,
) -> None:
    stream = io.BytesIO(b"HEADER-SKIPPED|payload that matters")
    stream.seek(len(b"HEADER-SKIPPED|"))
    response = _post_after_expiry(salesforce_org, data=stream)
    assert response.status_code == 200
    assert bodies_received(salesforce_org, "/test/echo/Thing") == [b"payload that matters"] * 2


def test_a_generator_body_is_not_replayed_but_the_token_is_renewed(
    salesforce_org: LocalOrg, sf_log: pytest.LogCaptureFixture
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"part one,"
        yield b"part two"

    with salesforce_org.session() as sf:
        sf.get("limits")
        salesforce_org.expire_tokens()
        response = sf.post("test/echo/Thing", data=chunks())
        assert response.status_code == 401
        assert response.history == []
        assert bodies_received(salesforce_org, "/test/echo/Thing") == [b"part one,part two"]
        assert salesforce_org.token_requests == 2
        assert "cannot be rewound" in sf_log.text
        # The next request already carries the new token: no 401 at all.
        after = sf.get("limits")
    assert after.status_code == 200
    assert after.history == []


def test_an_iterator_body_is_not_replayed(salesforce_org: LocalOrg) -> None:
    response = _post_after_expiry(salesforce_org, data=iter([b"a", b"b"]))
    assert response.status_code == 401
    assert len(bodies_received(salesforce_org, "/test/echo/Thing")) == 1


# -- redirects -----------------------------------------------------------------------------


def test_same_host_redirect_chain_with_a_401_in_the_middle_ends_with_the_new_token(
    org: LocalOrg,
) -> None:
    with org.session() as sf:
        sf.get("limits")
        first_token = sf.auth.token["access_token"]
        org.expire_tokens()
        response = sf.get("test/redirect", params={"to": "/services/data/v67.0/limits"})
    assert response.status_code == 200
    final = [r for r in org.received if r.path.endswith("/limits")][-1]
    assert final.token not in (None, first_token)
    assert org.token_requests == 2


def test_session_is_a_plain_requests_session_otherwise(salesforce_org: LocalOrg) -> None:
    with salesforce_org.session() as sf:
        assert isinstance(sf, requests.Session)
        assert isinstance(sf, SalesforceSession)
        assert sf.get(salesforce_org.url + "/services/data/").status_code == 200
