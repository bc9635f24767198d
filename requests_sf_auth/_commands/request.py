"""``request``: curl for Salesforce. Relative paths resolve under the org's REST API, the token
comes from the cache when a live one is there, JSON answers are pretty-printed, and an HTTP
error answer exits with 1.

Bodies go out as they are: ``-d TEXT`` sends the text, ``-d @FILE`` the file's bytes, streamed
from disk, and ``-d @-`` stdin's. The ``Content-Type`` is the one ``-H`` names; without one, a
body that parses as JSON is sent as ``application/json`` and any other is refused, since
Salesforce would be left to guess (CSV for Bulk API 2.0 and XML for Bulk API 1.0 need their
type named).

The answer is printed as it came, but for the run's credentials: a token or the secret an
answer echoes (a proxy's error page listing the request's headers) shows as ``***``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, TextIO

import requests
from requests.structures import CaseInsensitiveDict

from .._session import SalesforceSession
from .known import KnownCredentials
from .outcome import EXIT_HTTP_ERROR, EXIT_OK, PROG, UsageError, failure_from
from .settings import credentials, make_auth

__all__ = ["SNIFF_LIMIT", "run_request"]

SNIFF_LIMIT = 8 * 1024 * 1024
"""The largest body read to find out whether it is JSON; a larger one needs ``-H``."""

_TYPE_FIX = (
    "name its type with -H 'Content-Type: TYPE' (text/csv for Bulk API 2.0, "
    "application/xml for Bulk API 1.0)"
)

Body = bytes | BinaryIO


def run_request(args: argparse.Namespace, out: TextIO, err: TextIO, known: KnownCredentials) -> int:
    """Send one request and print the answer; returns the exit code, or raises
    :class:`Failure` when no answer came."""
    if args.client_secret_file == "-" and args.data == "@-":  # noqa: S105 - the stdin marker
        raise UsageError("stdin cannot hold both the secret and the body: give one as a file")
    headers = _headers(args.header)
    params = _params(args.param)
    creds = credentials(args)
    with contextlib.ExitStack() as stack:
        body = _body(args.data, headers, stack)
        auth = make_auth(args, creds, known)
        sf = stack.enter_context(SalesforceSession(auth))
        known.watch(sf)
        try:
            r = sf.request(
                args.method.upper(),
                args.path,
                params=params,
                data=body,
                headers=headers,
                timeout=args.timeout,
            )
        except ValueError as exc:  # a path or header requests or the plugin refuses
            raise UsageError(str(exc)) from None
        except requests.RequestException as exc:
            raise failure_from(exc, auth.token_url, known) from None
    if args.include:
        print(known.mask(f"HTTP {r.status_code} {r.reason}"), file=out)
        for name, value in r.headers.items():
            print(known.mask(f"{name}: {value}"), file=out)
        print(file=out)
    try:
        print(known.mask(json.dumps(r.json(), indent=2)), file=out)
    except ValueError:
        if r.text:
            print(known.mask(r.text), file=out)
    if r.status_code >= 400:
        print(known.mask(f"{PROG} request: HTTP {r.status_code} {r.reason}"), file=err)
        return EXIT_HTTP_ERROR
    return EXIT_OK


def _headers(values: list[str]) -> CaseInsensitiveDict[str]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for header in values:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UsageError("an -H header is not 'Name: value' (its value is not shown)")
        headers[name.strip()] = value.strip()
    return headers


def _params(values: list[str]) -> list[tuple[str, str]]:
    params = []
    for param in values:
        key, sep, value = param.partition("=")
        if not sep:
            raise UsageError("a --param is not 'key=value' (its value is not shown)")
        params.append((key, value))
    return params


def _body(
    data: str | None, headers: CaseInsensitiveDict[str], stack: contextlib.ExitStack
) -> Body | None:
    """The body ``-d`` names, with ``Content-Type`` set in ``headers`` when it was left to us.
    A file is returned open (``stack`` closes it) and positioned at its start, so requests
    streams it and can rewind it to resend after a 401."""
    if data is None:
        return None
    if not data.startswith("@"):
        # surrogateescape gives back the very bytes of an argument that is not UTF-8.
        text = data.encode("utf-8", "surrogateescape")
        if "Content-Type" not in headers:
            _require_json(text, "-d")
            headers["Content-Type"] = "application/json"
        return text
    name = data[1:]
    if not name:
        raise UsageError("-d @ names no file: pass -d @FILE, or -d @- to read stdin")
    handle = stack.enter_context(_open(name))
    if "Content-Type" not in headers:
        size = os.fstat(handle.fileno()).st_size
        if size > SNIFF_LIMIT:
            raise UsageError(f"-d @{name} is over {SNIFF_LIMIT // 2**20} MiB: {_TYPE_FIX}")
        _require_json(handle.read(), f"-d @{name}")
        handle.seek(0)
        headers["Content-Type"] = "application/json"
    return handle


@contextlib.contextmanager
def _open(name: str) -> Iterator[BinaryIO]:
    """A seekable file of known length holding the body. stdin, a pipe or a device is copied
    to a temporary file first, so that the body can be resent after a 401."""
    try:
        source = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _unreadable_body(exc) from None
    with contextlib.ExitStack() as stack:
        if name != "-":
            stack.enter_context(source)
        if name != "-" and stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            yield source
            return
        spool = stack.enter_context(tempfile.TemporaryFile())
        try:
            shutil.copyfileobj(source, spool)
        except OSError as exc:
            raise _unreadable_body(exc) from None
        spool.seek(0)
        yield spool


def _require_json(content: bytes, what: str) -> None:
    try:
        json.loads(content)
    except ValueError as exc:
        raise UsageError(
            f"{what} is not JSON ({exc}), so its type is unknown: {_TYPE_FIX}"
        ) from None


def _unreadable_body(exc: OSError) -> UsageError:
    # The name is not quoted: it may be a secret given by mistake after the @.
    return UsageError(f"cannot read the -d @FILE ({exc.strerror}); its name is not shown")
