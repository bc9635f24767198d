"""A refused token answer is quoted in the error, and the quote never carries the token or
the secret, however the answer spells them; an ``instance_url`` that is more than an origin
is refused, and so is a credential that cannot be sent. (``test_token_answer_properties.py``
searches the same ground at random; these are the cases it found, kept as plain
specifications.)"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest
import requests

from requests_sf_auth import SalesforceAuth, TokenRequestError
from requests_sf_auth.testing import LocalOrg

API = "/services/data/v67.0/limits"
TOKEN = "00D5g000004ABCD!AR8AQ" + "t" * 60


def refusal(org: LocalOrg, status: int, answer: object) -> str:
    """The message of the error a request raises when every token request gets ``answer``
    (bytes as they are, anything else as JSON)."""
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    org.token_answer = (status, "application/json", body)
    with pytest.raises(TokenRequestError) as info:
        requests.get(org.url + API, auth=org.auth())
    return str(info.value)


@pytest.mark.parametrize(
    "token", [f'"{TOKEN}', f"{TOKEN}\\{TOKEN}", f"{TOKEN}\u00e9"], ids=["quote", "backslash", "é"]
)
def test_a_token_json_escapes_is_masked_whole_in_a_quoted_answer(
    salesforce_org: LocalOrg, token: str
) -> None:
    shown = refusal(salesforce_org, 500, {"access_token": token, "instance_url": "x"})
    assert "HTTP 500" in shown
    assert '"access_token": ***' in shown
    assert "tttttttt" not in shown


@pytest.mark.parametrize("field", ["error", "error_description", "id"])
def test_the_token_is_masked_wherever_else_the_answer_repeats_it(
    salesforce_org: LocalOrg, field: str
) -> None:
    shown = refusal(salesforce_org, 400, {"access_token": TOKEN, field: f"bad token {TOKEN}"})
    assert "bad token ***" in shown
    assert TOKEN not in shown


def test_the_secret_is_masked_when_the_answer_echoes_it_json_escaped(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.client_secret = 'S3cr3t"with\\escapes\u00e9' + "s" * 20
    echo = json.dumps({"form": org.client_secret})  # a gateway quoting what it got, as JSON
    shown = refusal(org, 502, f"<html><p>Bad gateway: {echo}</p></html>".encode())
    assert "***" in shown
    assert "ssssssss" not in shown


def test_an_error_page_in_utf16_echoing_the_secret_shows_it_in_no_spelling(
    salesforce_org: LocalOrg,
) -> None:
    # UTF-16 read as UTF-8: a NUL beside each character, which repr() shows as \x00.
    org = salesforce_org
    page = f"<html><p>Bad request: client_secret {org.client_secret}</p></html>"
    shown = refusal(org, 500, page.encode("utf-16-le"))
    assert "HTTP 500" in shown
    assert "***" in shown
    assert org.client_secret[:16] not in shown.replace("\\x00", "")


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_an_error_page_echoing_the_form_in_base64_shows_no_secret(
    salesforce_org: LocalOrg, offset: int
) -> None:
    # As an API gateway's debug page shows a request body: base64, the secret at any offset.
    org = salesforce_org
    form = "x" * offset + f"client_secret={org.client_secret}"
    encoded = base64.b64encode(form.encode()).decode()
    shown = refusal(org, 502, f"<pre>body: {encoded}</pre>".encode())
    assert "body: " in shown
    decoded = " ".join(map(_decoded, re.findall(r"[A-Za-z0-9+/]{8,}={0,2}", shown)))
    secret = org.client_secret
    assert not any(secret[i : i + 8] in decoded for i in range(len(secret) - 8))


def test_an_error_page_quoting_the_form_as_python_bytes_shows_no_non_ascii_secret(
    salesforce_org: LocalOrg,
) -> None:
    # A Python gateway's page printing the body it got: repr() of bytes, \\x for each byte
    # above ASCII, where repr() of a str would show the character.
    org = salesforce_org
    org.client_secret = "S3cr\u00e9t" + "s" * 20
    values = [b"client_credentials", org.client_secret.encode()]
    shown = refusal(org, 400, f"<pre>form values: {values!r}</pre>".encode())
    assert "form values: [b'client_credentials', b'***']" in shown


# A secret with the punctuation a Salesforce token has ("!" and "."), long enough that MIME
# base64 wraps a line inside it.
PUNCTUATED = "7F3A9C!QWe8.Zk2" * 3 + "end"


def _referenced(reference: Callable[[int], str]) -> Callable[[str], str]:
    """A spelling that writes each character but letters and digits as ``reference(code)``,
    as an encoder escaping all punctuation for HTML (OWASP ESAPI, AntiXSS) does."""
    return lambda text: "".join(c if c.isalnum() else reference(ord(c)) for c in text)


SPELLINGS: dict[str, Callable[[str], str]] = {
    "hex references": _referenced(lambda code: f"&#x{code:X};"),
    "padded decimal references": _referenced(lambda code: f"&#{code:05d};"),
    "upper-case X references": _referenced(lambda code: f"&#X{code:x};"),
    "named references": lambda text: text.replace("!", "&excl;").replace(".", "&period;"),
    "JSON \\u escapes": _referenced(lambda code: f"\\u{code:04x}"),
    "every byte percent-encoded": lambda text: "".join(f"%{b:02X}" for b in text.encode()),
    "URL-encoded twice": lambda text: quote(quote(text, safe=""), safe=""),
    "hex": lambda text: text.encode().hex(),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_error_page_echoing_the_secret_in_a_common_encoding_shows_it_in_none(
    salesforce_org: LocalOrg, spelling: str
) -> None:
    org = salesforce_org
    org.client_secret = PUNCTUATED
    spelled = SPELLINGS[spelling](PUNCTUATED)
    shown = refusal(org, 403, f"<pre>Blocked: {spelled}</pre>".encode())
    assert "<pre>Blocked: ***</pre>" in shown
    assert not any(spelled[i : i + 12] in shown for i in range(len(spelled) - 12))


@pytest.mark.parametrize("line_break", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("offset", [0, 1, 2])
def test_an_error_page_echoing_the_form_in_wrapped_base64_shows_no_secret(
    salesforce_org: LocalOrg, offset: int, line_break: str
) -> None:
    # MIME base64 (base64.encodebytes, the base64 tool), as a WAF's diagnostic blob wraps it.
    org = salesforce_org
    org.client_secret = PUNCTUATED
    form = "x" * offset + f"grant_type=client_credentials&client_secret={org.client_secret}"
    encoded = base64.encodebytes(form.encode()).decode().replace("\n", line_break)
    assert encoded.count(line_break) > 1  # the secret runs across a line break
    shown = refusal(org, 502, f"<pre>{encoded}</pre>".encode())
    assert "***" in shown
    decoded = " ".join(map(_decoded, re.findall(r"[A-Za-z0-9+/]{8,}={0,2}", shown)))
    joined = _decoded("".join(re.findall(r"<pre>(.*)</pre>", shown)[0].split()))
    secret = org.client_secret
    assert not any(secret[i : i + 8] in decoded + joined for i in range(len(secret) - 8))


def test_a_64_kib_error_page_of_near_misses_is_quoted_masked_within_seconds(
    salesforce_org: LocalOrg,
) -> None:
    # Every spelling at once, each a character short of the secret: what could make the
    # matching backtrack, or restart at every character.
    org = salesforce_org
    org.client_secret = PUNCTUATED
    near = [spell(PUNCTUATED[:-1]) for spell in SPELLINGS.values()]
    near += ["\x00".join(PUNCTUATED[:-1]), "Bearer&#x20;" + "a&#x21;" * 40, "%25" * 50]
    filler = "|".join(near)
    page = SPELLINGS["hex references"](PUNCTUATED) + "|" + filler * (2**16 // len(filler) + 1)
    started = time.monotonic()
    shown = refusal(org, 500, page[: 2**16].encode())
    assert time.monotonic() - started < 10  # a bound against runaway matching, not a measure
    assert shown.count("***") == 1
    assert "&#x21;" not in shown.partition("|")[0]


def _decoded(text: str) -> str:
    """What any run of base64 in ``text`` says, whatever offset it was cut at."""
    said = []
    for start in range(4):
        chunk = text[start:]
        chunk = chunk[: len(chunk) // 4 * 4]
        with contextlib.suppress(ValueError):
            said.append(base64.b64decode(chunk).decode("utf-8", "replace"))
    return " ".join(said)


@pytest.mark.parametrize(
    "tail",
    ["/x", "/services/data", "?q=1", "#frag", "?", "#", "/?#", "/?", "/#"],
    ids=[
        "path",
        "api-path",
        "query",
        "fragment",
        "empty query",
        "empty fragment",
        "empty query and fragment",
        "slash, empty query",
        "slash, empty fragment",
    ],
)
def test_an_instance_url_with_more_than_an_origin_is_refused_and_nothing_is_sent(
    salesforce_org: LocalOrg, tail: str
) -> None:
    # Even an empty query or fragment: auth.instance_url + "/services/..." would put the path
    # in the query, or cut it off, and every request, token and all, would reach "/".
    org = salesforce_org
    org.answer_fields = {"instance_url": org.url + tail}
    auth = org.auth()
    with pytest.raises(TokenRequestError, match=r"not a bare scheme://host\[:port\]"):
        auth.instance_url
    with pytest.raises(TokenRequestError, match=r"not a bare scheme://host\[:port\]"):
        requests.post(org.url + "/services/data/v67.0/sobjects/Account", json={}, auth=auth)
    assert org.api_requests == 0
    assert auth.token is None


def test_an_instance_url_carrying_the_token_as_user_info_is_refused_without_quoting_it(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_factory = lambda: TOKEN
    org.answer_fields = {"instance_url": org.url.replace("://", f"://{TOKEN}@")}
    with pytest.raises(TokenRequestError, match="user info") as info:
        org.auth().instance_url
    assert TOKEN not in str(info.value)


def test_an_instance_url_with_a_trailing_slash_is_still_the_origin(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.answer_fields = {"instance_url": org.url + "/"}
    with org.session() as sf:
        assert sf.get("limits").status_code == 200


def test_an_answer_with_a_lone_surrogate_in_its_token_is_an_auth_error(
    salesforce_org: LocalOrg,
) -> None:
    # JSON can escape a lone surrogate, which no UTF-8 encoder takes.
    shown = refusal(salesforce_org, 400, {"access_token": "\ud800" + "t" * 20, "error": "x"})
    assert "tttttttt" not in shown


@pytest.mark.parametrize("name", ["client_id", "client_secret"])
def test_a_credential_that_cannot_be_sent_is_refused_at_construction(name: str) -> None:
    # What os.environ gives for bytes that are not UTF-8.
    arguments = {"client_id": "3MVG9id", "client_secret": "s3cr3t", name: "s3cr\udcff"}
    with pytest.raises(ValueError, match=f"{name} holds a character that cannot be sent"):
        SalesforceAuth("https://acme.my.salesforce.com", **arguments)
