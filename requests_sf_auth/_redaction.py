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
import json
import re
from collections.abc import Callable, Iterator
from html.entities import html5
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
    wherever else it occurs too, in any spelling :func:`mask` knows. The names, separators and
    values are found in those spellings too (``Bearer&#x20;00D...&#x21;...`` as a WAF's page
    encodes a header, ``%3A%20`` in a URL). For quoting server text in messages and log
    lines."""
    streams = _streams(text)
    marked: list[tuple[int, int]] = []
    found: set[str] = set()
    for stream in _distinct(streams[:3]):  # as is, unescaped, and URL-decoded once
        for pattern in _MARKED:
            for match in pattern.finditer(stream.text):
                if match.end(2) > match.start(2):
                    marked.append(stream.origin(match.start(2), match.end(2)))
                    found.add(_unquoted(match.group(2)))
    sought = {*filter(None, secrets), *(v for v in found if len(v) >= MIN_SOUGHT)}
    return _masked(text, [*marked, *_occurrences(streams, sought)])


def mask(text: str, *secrets: str) -> str:
    """``text`` with each of ``secrets`` masked as ``***`` wherever it occurs: as is, form- or
    URL-encoded (once or twice, every character or only those that need it), escaped in a
    JSON string (``\\uXXXX`` for any character), in Python's repr() of a str or of UTF-8
    bytes, or in HTML (named or numeric character references, as an encoder that escapes all
    punctuation writes them); as UTF-16 text read one byte a character (a NUL beside each
    character); in base64, at any offset; and in hex, when at least :data:`MIN_SOUGHT`
    characters long. Each ASCII character may be escaped for HTML, JSON or repr(), then
    URL-encoded (as a form quoted on a web page is), or not, whatever the others are; a line
    break may fall anywhere, as a dump wrapped at 76 columns puts them. Linear in the text.
    Nothing else is touched: for printing an answer as it is."""
    return _masked(text, list(_occurrences(_streams(text), set(filter(None, secrets)))))


class _Stream:
    """A decoding of a text, and for each of its characters the span of the original text
    it was decoded from."""

    def __init__(self, text: str, starts: list[int], ends: list[int]) -> None:
        self.text, self.starts, self.ends = text, starts, ends

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``self.text[start:end]`` (not empty) came from."""
        return self.starts[start], self.ends[end - 1]

    def decoded(self, pattern: re.Pattern[str], decode: Callable[[re.Match[str]], str]) -> _Stream:
        """This text with each match of ``pattern`` replaced by ``decode(match)``; itself
        when nothing matches."""
        parts: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        done = 0
        for match in pattern.finditer(self.text):
            start, end = match.span()
            parts.append(self.text[done:start])
            starts += self.starts[done:start]
            ends += self.ends[done:start]
            value = decode(match)
            parts.append(value)
            starts += [self.starts[start]] * len(value)
            ends += [self.ends[end - 1]] * len(value)
            done = end
        if not done:
            return self
        parts.append(self.text[done:])
        return _Stream("".join(parts), starts + self.starts[done:], ends + self.ends[done:])


# One escaped character, as HTML (a numeric or named character reference), JSON (a \u escape,
# a surrogate pair, a short escape) or repr() of a str write it; and a NUL, which a UTF-16
# text read one byte a character has beside each character. (repr() of UTF-8 bytes writes
# \x for each byte above ASCII, a character of its own here: _spellings spells it whole.)
_ESCAPED = re.compile(
    r"&#[xX]0*([0-9a-fA-F]{1,6});|&#0*([0-9]{1,7});|&([A-Za-z][A-Za-z0-9]{1,31};)"
    r"|\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\x([0-9a-fA-F]{2})|\\([\\\"'/bfnrt])|\x00"
)
_SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PERCENT = re.compile(r"%([0-7][0-9a-fA-F])|\+")  # ASCII: above it, the exact spellings
_LINE_BREAK = re.compile(r"[\r\n]")


def _unescaped(match: re.Match[str]) -> str:
    hexadecimal, decimal, name, high, low, bmp, astral, ascii_, short = match.groups()
    if name is not None:
        value = html5.get(name, match.group())
    elif high is not None:
        pair = (chr(int(high, 16)) + chr(int(low, 16))).encode("utf-16-le", "surrogatepass")
        value = pair.decode("utf-16-le")
    elif short is not None:
        value = _SHORT_ESCAPES.get(short, short)
    else:
        number = int(decimal) if decimal else int(hexadecimal or bmp or astral or ascii_ or "0", 16)
        value = chr(number) if number <= 0x10FFFF else match.group()
    return value.replace("\x00", "")  # a NUL beside each character: UTF-16 read as UTF-8


def _url_decoded(match: re.Match[str]) -> str:
    return " " if match.group() == "+" else chr(int(match.group(1), 16))


def _streams(text: str) -> list[_Stream]:
    """``text`` as is, unescaped (HTML, JSON, repr(), NULs), then URL-decoded once and twice;
    then the unescaped and the once decoded without their line breaks. A decoding that
    changes nothing is its input itself. Each is linear in the text."""
    plain = _Stream(text, list(range(len(text))), list(range(1, len(text) + 1)))
    unescaped = plain.decoded(_ESCAPED, _unescaped)
    once = unescaped.decoded(_PERCENT, _url_decoded)
    twice = once.decoded(_PERCENT, _url_decoded)
    unbroken = [s.decoded(_LINE_BREAK, lambda match: "") for s in (unescaped, once)]
    return [plain, unescaped, once, twice, *unbroken]


def _distinct(streams: list[_Stream]) -> list[_Stream]:
    return [s for i, s in enumerate(streams) if all(s is not seen for seen in streams[:i])]


def _occurrences(streams: list[_Stream], secrets: set[str]) -> Iterator[tuple[int, int]]:
    """The spans of the original text where a stream spells one of ``secrets``."""
    forms = {form for secret in secrets for form in _spellings(secret)}
    for stream in _distinct(streams):
        for form in forms:
            at = stream.text.find(form)
            while at >= 0:
                yield stream.origin(at, at + len(form))
                at = stream.text.find(form, at + len(form))


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of ``spans`` (overlapping ones merged) replaced by ``***``."""
    parts: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        parts += [text[done:start], "***"] if start >= done else []
        done = end
    return "".join([*parts, text[done:]])


def _spellings(secret: str) -> set[str]:
    # Spelled whole, what _streams does not decode: %-escapes and repr() of UTF-8 bytes above
    # ASCII (repr() of a str is decoded: it is how str() quotes a string inside a list, a dict
    # or an exception, a field that should be a string but is not, or a status line
    # http.client refused); and base64 and hex, which are searched for, not decoded, so that
    # a long text costs no more. An answer may hold a lone surrogate (JSON can escape one),
    # which UTF-8 cannot encode.
    encoded = {
        secret,
        quote_plus(secret, errors="surrogatepass"),
        quote(secret, safe="", errors="surrogatepass"),
    }
    forms = {
        spelling
        for form in encoded
        for spelling in (form, repr(form.encode("utf-8", "surrogatepass"))[2:-1])
    }
    forms.update(core for form in encoded for core in _base64_cores(form))
    if len(secret) >= MIN_SOUGHT:  # shorter, its hex could be any number's
        hexadecimal = secret.encode("utf-8", "surrogatepass").hex()
        forms.update((hexadecimal, hexadecimal.upper()))
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
