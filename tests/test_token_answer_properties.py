"""Whatever the token endpoint answers (any JSON value in any field, a body that is not JSON or
not an object, a status other than 200, a body too big to read), a request through a session
either succeeds with the token against the org or raises a ``SalesforceAuthError``: never
another exception, never a request that goes on with an unusable token. And no message, repr,
log record or warning holds the client secret or the token, however the answer quotes them.

One org serves every example; each example sets the answer it gives (``answer_fields``,
``token_factory`` or ``token_answer``, each replaced whole, never changed in place) and uses a
fresh ``SalesforceAuth``.
"""

from __future__ import annotations

import json
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from requests_sf_auth import SalesforceAuth, SalesforceAuthError, SalesforceSession
from requests_sf_auth.testing import LocalOrg

# Stand-ins for the example's secret, token and org, put in place once they are known: an
# answer may quote them anywhere, as broken servers and proxies do.
SECRET, TOKEN, ORG, ORG_HOST, ORG_PORT = (
    "<<SECRET>>",
    "<<TOKEN>>",
    "<<ORG>>",
    "<<ORG_HOST>>",
    "<<ORG_PORT>>",
)

# Characters that end a value for a naive scanner (quotes, separators, escapes), around parts
# no message can contain by chance, so that a partial leak shows too. A token may hold the
# ones a header can carry; with white space, non-ASCII or a lone surrogate it must be refused.
# (A secret that cannot be sent at all is refused at construction: test_quoted_answers.py.)
HEADER_SAFE_AWKWARD = "\"'\\,&}{=:;%+/<>"
UNUSABLE = " \r\n\té\u2028"
CORE = st.uuids().map(lambda u: "k" + u.hex)


@dataclass(frozen=True)
class Credential:
    value: str
    cores: tuple[str, str]

    def forms(self) -> set[str]:
        """Every spelling of it a message could carry: as is, URL-encoded, JSON-escaped, and
        each of its cores alone."""
        v = self.value
        return {
            v,
            quote_plus(v, errors="surrogatepass"),
            quote(v, safe="", errors="surrogatepass"),
            json.dumps(v)[1:-1],
            json.dumps(v, ensure_ascii=False)[1:-1],
            *self.cores,
        }


@st.composite
def credentials(draw: st.DrawFn, *, token: bool) -> Credential:
    unusable = UNUSABLE + "\ud800" if token else UNUSABLE
    alphabet = draw(st.sampled_from([HEADER_SAFE_AWKWARD, HEADER_SAFE_AWKWARD + unusable]))
    awkward = st.text(alphabet=alphabet, max_size=3)
    a, b = draw(CORE), draw(CORE)
    value = draw(awkward) + a + draw(awkward) + b + draw(awkward)
    # A client secret with white space around it is refused at construction, by design.
    return Credential(value if token else value.strip(), (a, b))


STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from([SECRET, TOKEN, ORG, f"http://{ORG_HOST}", "Bearer", "api"]),
    st.tuples(st.text(max_size=3), st.sampled_from([SECRET, TOKEN]), st.text(max_size=3)).map(
        "".join
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | STRINGS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STRINGS, inner, max_size=3),
    max_leaves=6,
)
INSTANCE_URLS = st.sampled_from(
    [
        ORG,
        ORG + "/",
        ORG + "/x",
        ORG + "?x=1",
        ORG + "#x",
        f"{ORG}/{TOKEN}",
        f"http://{TOKEN}@{ORG_HOST}",
        f"http://user:{SECRET}@{ORG_HOST}",
        f"HTTP://{ORG_HOST}",
        f"http://{ORG_HOST}.",
        f"https://{ORG_HOST}",
        f"http://localhost:{ORG_PORT}",
        f"http://{ORG_HOST}\\@127.0.0.2",
        f" {ORG}",
    ]
)
FIELD_NAMES = st.sampled_from(
    [
        "instance_url",
        "id",
        "issued_at",
        "signature",
        "token_type",
        "scope",
        "expires_in",
        "token_format",
        "api_instance_url",
        "refresh_token",
        "error",
        "error_description",
    ]
) | st.text(max_size=8)
FIELD_VALUES = JSON | INSTANCE_URLS
STATUSES = st.sampled_from([201, 204, 301, 302, 307, 400, 401, 403, 404, 429, 500, 502, 503])


@dataclass(frozen=True)
class Answer:
    """How the org answers this example's token requests."""

    kind: str  # what the example exercises, for the statistics
    fields: dict[str, Any]  # answer_fields, over a real token answer
    names_token: bool  # whether the answer gives the token as its access_token
    raw: tuple[int, str, Any] | None = None  # token_answer instead: status, type, body


SCALARS = st.none() | st.booleans() | st.integers() | st.floats()
NOT_AN_OBJECT = SCALARS | STRINGS | st.lists(JSON)
NOT_A_STRING = SCALARS | st.lists(JSON) | st.dictionaries(STRINGS, JSON, max_size=3)


def fields_answers() -> st.SearchStrategy[Answer]:
    """A real token answer with fields replaced or added, access_token included, sometimes
    padded past what the client reads."""
    return st.builds(
        lambda fields, token, padding: Answer(
            "huge fields" if padding else "fields",
            {**fields, **({} if token is None else {"access_token": token}), **padding},
            names_token=token is None,
        ),
        st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=4),
        st.none() | NOT_A_STRING,  # a string stands for the token the org issues
        st.sampled_from([0, 0, 0, 70_000, 300_000]).map(
            lambda n: {"padding": "x" * n} if n else {}
        ),
    )


def raw_answers() -> st.SearchStrategy[Answer]:
    """Answers the org sends instead of a token: an OAuth-like object at another status than
    200 (with the token in it or not), JSON that is not an object, bodies that are not JSON,
    and bodies too big to read."""
    any_status = STATUSES | st.just(200)
    return st.one_of(
        st.builds(
            lambda status, fields, with_token: Answer(
                "error status",
                {},
                names_token=with_token,
                raw=(status, "json", {**fields, **({"access_token": TOKEN} if with_token else {})}),
            ),
            STATUSES,
            st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=4),
            st.booleans(),
        ),
        st.builds(
            lambda status, body: Answer("not an object", {}, False, (status, "json", body)),
            any_status,
            NOT_AN_OBJECT,
        ),
        st.builds(
            lambda status, body: Answer("not json", {}, False, (status, "bytes", body)),
            any_status,
            st.tuples(st.binary(max_size=40), st.sampled_from([b"", SECRET.encode()])).map(
                b"".join
            ),
        ),
        st.builds(
            lambda status, fields: Answer(
                "huge", {}, True, (status, "json prefix", {"access_token": TOKEN, **fields})
            ),
            any_status,
            st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=2),
        ),
    )


ANSWERS = st.booleans().flatmap(lambda real: fields_answers() if real else raw_answers())


def put_in_place(value: Any, places: dict[str, str]) -> Any:
    """``value`` with every stand-in replaced, in strings and keys at any depth."""
    if isinstance(value, str):
        for mark, text in places.items():
            value = value.replace(mark, text)
        return value
    if isinstance(value, list):
        return [put_in_place(item, places) for item in value]
    if isinstance(value, dict):
        return {put_in_place(k, places): put_in_place(v, places) for k, v in value.items()}
    return value


def encoded(raw: tuple[int, str, Any], places: dict[str, str]) -> tuple[int, str, bytes]:
    """``Answer.raw`` as the org sends it: ``json`` bodies encoded, ``json prefix`` ones
    encoded and cut open (a long unterminated string follows), ``bytes`` as they are; every
    stand-in replaced."""
    status, kind, body = raw
    if kind == "bytes":
        for mark, text in places.items():
            body = body.replace(mark.encode(), text.encode("utf-8", "surrogatepass"))
        return status, "application/json", body
    text = json.dumps(put_in_place(body, places))
    if kind == "json prefix":
        text = text[:-1] + ', "padding": "' + "x" * 70_000
    return status, "application/json", text.encode()


@pytest.fixture(scope="module")
def org() -> Iterator[LocalOrg]:
    with LocalOrg() as started:
        yield started


# sf_log (caplog, for the package's loggers at DEBUG) is function-scoped, and hypothesis runs
# every example in one call of the test: the test clears it at the start of each example, so
# no example sees another's records.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    answer=ANSWERS,
    pair=st.tuples(credentials(token=False), credentials(token=True)),
    verify_signature=st.booleans(),
)
@example(  # the server echoes the token as the error code
    answer=Answer("error status", {}, True, (500, "json", {"access_token": TOKEN, "error": TOKEN})),
    pair=(
        Credential("s" + "k" * 64, ("k" * 32, "k" * 32)),
        Credential("t" + "q" * 64, ("q" * 32, "q" * 32)),
    ),
    verify_signature=False,
)
@example(  # a quote in the token, which JSON escapes
    answer=Answer("error status", {}, True, (500, "json", {"access_token": TOKEN})),
    pair=(
        Credential("s" + "k" * 64, ("k" * 32, "k" * 32)),
        Credential('"' + "q" * 64, ("q" * 32, "q" * 32)),
    ),
    verify_signature=False,
)
@example(  # the token in a list as the error code: quoted as Python writes a list, \r escaped
    answer=Answer("fields", {"error": [TOKEN]}, True),
    pair=(
        Credential("s" + "k" * 64, ("k" * 32, "k" * 32)),
        Credential("q" * 64 + '"\r', ("q" * 32, "q" * 32)),
    ),
    verify_signature=False,
)
def test_any_token_answer_gives_a_working_token_or_an_auth_error_that_leaks_nothing(
    org: LocalOrg,
    sf_log: pytest.LogCaptureFixture,
    answer: Answer,
    pair: tuple[Credential, Credential],
    verify_signature: bool,
) -> None:
    sf_log.clear()
    secret, token = pair
    places = {
        SECRET: secret.value,
        TOKEN: token.value,
        ORG: org.url,
        ORG_HOST: org.url.split("://", 1)[1],
        ORG_PORT: org.url.rsplit(":", 1)[1],
    }
    org.heal()
    org.client_secret = secret.value
    org.token_factory = lambda: token.value
    org.answer_fields = put_in_place(answer.fields, places)
    org.token_answer = None if answer.raw is None else encoded(answer.raw, places)

    error: SalesforceAuthError | None = None
    texts: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auth = SalesforceAuth(
            org.url, org.client_id, secret.value, verify_signature=verify_signature
        )
        api_before = org.api_requests
        try:
            with SalesforceSession(auth) as sf:
                response = sf.get("limits", timeout=10)
                texts += [repr(sf), str(sf)]
        except SalesforceAuthError as exc:
            error = exc
    texts += [repr(auth), str(auth)]

    if error is None:
        event(f"{answer.kind}: usable token")
        # Usable: the org took the token the auth holds, first time.
        assert response.status_code == 200, response.text
        assert org.api_requests - api_before == 1
        assert auth.token is not None
        assert org.received[-1].token == auth.token["access_token"]
    else:
        event(f"{answer.kind}: {type(error).__name__}")
        texts += [str(error), repr(error), repr(error.args)]
        texts += traceback.format_exception(type(error), error, error.__traceback__)
    texts += [record.getMessage() for record in sf_log.records]
    texts += [sf_log.text, *(str(w.message) for w in caught)]

    for credential in (secret, token) if answer.names_token else (secret,):
        leaks = [t for t in texts if any(form in t for form in credential.forms())]
        assert leaks == []
