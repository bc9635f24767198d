"""Masking credentials in text a server sent, before it is quoted in an error, a log line or the
command line's output.

A server that misbehaves may echo what it was sent: a gateway's block page lists the token
request's form, a proxy's 403 page the request's headers, a broken upstream puts either in its
status line. :func:`redact` masks each credential it is given in every spelling such an echo
takes, and whatever a field name, an ``Authorization`` header or the word ``Bearer`` marks as
one. :func:`mask` masks only the credentials it is given, for a server's answer printed as the
output it is.
"""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SOUGHT", "SECRET_FIELDS", "mask", "redact"]

SECRET_FIELDS = frozenset({"access_token", "signature", "refresh_token", "id_token"})
"""Token-response fields that are credentials, or derived from one, and never shown."""

# A credential field and its value, as JSON (a string with escapes in it, perhaps cut off),
# a form or a query string write it.
_SECRET_VALUE = re.compile(
    r"""(["']?(?:FIELDS)["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"?|[^\s,&}]*)""".replace(
        "FIELDS", "|".join(sorted({*SECRET_FIELDS, "client_secret", "assertion"}))
    ),
    re.IGNORECASE,
)
# What a credential looks like where a header or a scheme names one: eight characters or more
# that end at white space, a quote, markup or a separator, with a digit or a punctuation mark
# among them (a session id or a token always has some; the words of a sentence have none).
_CREDENTIAL = r"""(?=[^\s"'<>\\,;&]*[\d!.~+/=_-])[^\s"'<>\\,;&]{8,}"""
_GAP = r"(?:\s|\+|%20)+"  # as is, or form- or URL-encoded
# "Bearer <token>" anywhere, but not the auth-params of a challenge (Bearer realm="...").
_BEARER = re.compile(rf"""(\bBearer{_GAP})(?![A-Za-z_][\w-]*=["\w])({_CREDENTIAL})""", re.I)
# The value of a header that carries a credential, as a header block, JSON or a form echoes it.
_AUTH_HEADER = re.compile(
    rf"""((?:authorization|x-sfdc-session)["']?\s*[:=]\s*["']?"""
    rf"""(?:(?:Bearer|Basic|OAuth|Token){_GAP})?)({_CREDENTIAL})""",
    re.IGNORECASE,
)
_MARKED = (_SECRET_VALUE, _BEARER, _AUTH_HEADER)
MIN_SOUGHT = 8
"""The shortest value of a credential field that is looked for elsewhere in the text too.
Shorter ones are masked where they stand: nothing that short is a credential, and masking it
everywhere would garble the message."""


def redact(text: str, *secrets: str) -> str:
    """``text`` with the value of any credential-named field (``access_token``, ``signature``,
    ``client_secret``...), of an ``Authorization`` or ``X-SFDC-Session`` header and of a
    ``Bearer`` credential masked as ``***``, and each of ``secrets`` and each such value masked
    wherever else it occurs too, in any spelling :func:`mask` knows. For quoting server text
    in messages and log lines."""
    found = (_unquoted(match.group(2)) for pattern in _MARKED for match in pattern.finditer(text))
    sought = {*filter(None, secrets), *(v for v in found if len(v) >= MIN_SOUGHT)}
    text = mask(text, *sought)
    for pattern in _MARKED:
        text = pattern.sub(r"\1***", text)
    return text


def mask(text: str, *secrets: str) -> str:
    """``text`` with each of ``secrets`` masked as ``***`` wherever it occurs: as is, form- or
    URL-encoded, escaped in a JSON string, in Python's repr() of a str or of UTF-8 bytes, or
    in HTML; as UTF-16 text read one byte a character (a NUL beside each character); and in
    base64, at any offset. Nothing else is touched: for printing an answer as it is."""
    forms = {form for secret in filter(None, secrets) for form in _spellings(secret)}
    for form in sorted(forms, key=len, reverse=True):  # a longer spelling may hold a shorter
        text = text.replace(form, "***")
    return text


def _spellings(secret: str) -> set[str]:
    # An answer may hold a lone surrogate (JSON can escape one), which UTF-8 cannot encode.
    # repr() is how str() quotes a string inside a list, a dict or an exception, as a field
    # that should be a string but is not, or a status line http.client refused, is quoted;
    # str's own, since a SecretText's repr() hides it.
    encoded = {
        secret,
        quote_plus(secret, errors="surrogatepass"),
        quote(secret, safe="", errors="surrogatepass"),
    }
    # A UTF-16 page decoded as UTF-8 or Latin-1 spells each ASCII character with a NUL beside it.
    wide = {"\x00".join(form) for form in encoded}
    forms = {
        spelling
        for form in encoded | wide
        for spelling in (
            form,
            json.dumps(form)[1:-1],
            json.dumps(form, ensure_ascii=False)[1:-1],
            str.__repr__(form)[1:-1],
            repr(form.encode("utf-8", "surrogatepass"))[2:-1],
            html.escape(form),
        )
    }
    forms.update(core for form in encoded for core in _base64_cores(form))
    return forms - {""}


def _base64_cores(text: str) -> set[str]:
    """The characters of ``text``'s base64 (standard and URL-safe) that do not depend on what
    comes before or after it, for each of the three offsets it may start at in a longer
    encoded text (an echoed form body, say); those too short to be told apart are left out."""
    data = text.encode("utf-8", "surrogatepass")
    cores = set()
    for shift in range(3):
        start = -(-8 * shift // 6)  # the first character with none of the preceding bits
        end = 8 * (shift + len(data)) // 6  # past the last one with none of the following
        padded = bytes(shift) + data + bytes(2)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(padded).decode("ascii")[start:end]
            if len(core) >= MIN_SOUGHT:
                cores.add(core)
    return cores


def _unquoted(value: str) -> str:
    """A field value as :data:`_SECRET_VALUE` found it, without its JSON quoting."""
    if not value.startswith('"'):
        return value
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):  # cut off, or broken: its text as it stands
        return value.strip('"')
    return decoded if isinstance(decoded, str) else value
