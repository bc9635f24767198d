"""The ``requests-sf-auth`` command line (also ``python -m requests_sf_auth``).

``demo`` shows the whole flow against a local org; ``check`` diagnoses a real org's setup;
``token`` shows token metadata; ``request`` is curl for Salesforce. Credentials come from flags
or from ``SF_DOMAIN``, ``SF_CLIENT_ID`` and ``SF_CLIENT_SECRET``; the secret is read from a
file or the environment, never from an argument, and is never printed.

Exit codes: 0 success; 1 an HTTP error answer (``request``) or an unobserved demo step; 2 a
usage error; 3 an invalid domain; 4 no token; 5 the API versions could not be listed; 6 the
identity call failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO

import requests

from . import __version__
from ._auth import DEFAULT_API_VERSION, SalesforceAuth
from ._errors import TokenRequestError
from ._session import SalesforceSession
from ._token import SECRET_FIELDS
from ._urls import is_login_domain, parse_domain

__all__ = ["main"]

EXIT_OK, EXIT_HTTP_ERROR, EXIT_USAGE = 0, 1, 2
EXIT_DOMAIN, EXIT_TOKEN, EXIT_VERSIONS, EXIT_IDENTITY = 3, 4, 5, 6
_PROG = "requests-sf-auth"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem, instead of argparse's usage block.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class UsageError(Exception):
    """A missing or malformed setting; reported as one line with exit code 2."""


@dataclass(frozen=True)
class Credentials:
    domain: str
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"Credentials(domain={self.domain!r}, client_id={self.client_id!r})"


def _credentials(args: argparse.Namespace) -> Credentials:
    domain = args.domain or os.environ.get("SF_DOMAIN")
    client_id = args.client_id or os.environ.get("SF_CLIENT_ID")
    if not domain:
        raise UsageError("no domain: pass --domain or set SF_DOMAIN")
    if not client_id:
        raise UsageError("no client id: pass --client-id or set SF_CLIENT_ID")
    if args.client_secret_file:
        try:
            if args.client_secret_file == "-":  # noqa: S105 - the stdin marker, not a secret
                secret = sys.stdin.readline()
            else:
                secret = Path(args.client_secret_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot read --client-secret-file {args.client_secret_file!r}: {exc.strerror}"
            ) from None
        secret = secret.strip()
        if not secret:
            raise UsageError(f"--client-secret-file {args.client_secret_file!r} is empty")
    else:
        secret = os.environ.get("SF_CLIENT_SECRET", "").strip()
        if not secret:
            raise UsageError("no client secret: pass --client-secret-file or set SF_CLIENT_SECRET")
    return Credentials(domain, client_id, secret)


def _auth(args: argparse.Namespace, creds: Credentials) -> SalesforceAuth:
    try:
        return SalesforceAuth(
            creds.domain,
            creds.client_id,
            creds.client_secret,
            api_version=args.api_version,
            timeout=args.timeout,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- demo ----------------------------------------------------------------------------------


class _Demo:
    """The demo's steps, each returning what it observed or raising if it did not."""

    def __init__(self, org: Any) -> None:
        self.org = org
        self.auth = SalesforceAuth(org.url, org.client_id, org.client_secret)
        self.sf = SalesforceSession(self.auth)

    def lazy(self) -> str:
        _expect(self.org.token_requests == 0 and not self.org.received, "the org saw a request")
        return "constructing SalesforceAuth sent nothing (the org saw 0 requests)"

    def first_call(self) -> str:
        r = self.sf.get(self.org.url + "/services/data/v67.0/chatter/users/me")
        _expect(r.status_code == 200, f"HTTP {r.status_code}")
        _expect(self.org.token_requests == 1, f"{self.org.token_requests} token requests")
        return f"the first call fetched one token (token requests: 1) and got {r.json()['name']!r}"

    def relative_url(self) -> str:
        r = self.sf.get("sobjects/Account/describe")
        path = r.json()["path"]
        _expect(path == "/services/data/v67.0/sobjects/Account/describe", path)
        _expect(r.url == self.org.url + path, f"went to {r.url}")
        _expect(self.org.token_requests == 1, "a second token was fetched")
        return f"'sobjects/Account/describe' went to {r.url} with the same token"

    def expiry(self) -> str:
        ended = self.org.expire_tokens()
        r = self.sf.get("limits")
        statuses = [h.status_code for h in r.history]
        _expect(r.status_code == 200 and statuses == [401], f"{statuses} then {r.status_code}")
        _expect(self.org.token_requests == 2, f"{self.org.token_requests} token requests")
        return (
            f"the org ended {ended} session(s); the next call got 401 INVALID_SESSION_ID, "
            "fetched a new token and retried: the caller saw 200"
        )

    def burst(self, threads: int = 16) -> str:
        auth = SalesforceAuth(self.org.url, self.org.client_id, self.org.client_secret)
        before = self.org.token_requests
        self.org.token_delay = 0.2  # keeps the fetch in flight while every thread arrives
        barrier = threading.Barrier(threads)
        statuses: list[int] = []

        def call() -> None:
            with SalesforceSession(auth) as sf:
                barrier.wait()
                statuses.append(sf.get("limits").status_code)

        workers = [threading.Thread(target=call) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        fetched = self.org.token_requests - before
        _expect(statuses == [200] * threads, f"statuses {statuses}")
        _expect(fetched == 1, f"{fetched} token requests")
        return (
            f"{threads} threads made their first call at once: {threads} answers, 1 token request"
        )


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from .testing import LocalOrg

    with LocalOrg() as org:
        print(f"{_PROG} demo: a local Salesforce org is serving at {org.url}", file=out)
        demo = _Demo(org)
        steps = [demo.lazy, demo.first_call, demo.relative_url, demo.expiry, demo.burst]
        passed = 0
        for number, step in enumerate(steps, 1):
            try:
                detail = step()
            except Exception as exc:
                print(f"[{number}] FAILED {step.__name__}: {exc}", file=out)
                continue
            passed += 1
            print(f"[{number}] ok     {detail}", file=out)
    ok = passed == len(steps)
    print(f"demo {'passed' if ok else 'FAILED'}: {passed} of {len(steps)} steps observed", file=out)
    return EXIT_OK if ok else EXIT_HTTP_ERROR


def _expect(condition: bool, observed: str) -> None:
    if not condition:
        raise AssertionError(f"not observed ({observed})")


# -- check ---------------------------------------------------------------------------------


def _check(args: argparse.Namespace, out: TextIO) -> int:
    creds = _credentials(args)

    def stage(name: str, ok: bool, detail: str) -> None:
        print(f"{'ok    ' if ok else 'FAILED'} {name}: {detail}", file=out)

    def warn(name: str, detail: str) -> None:
        print(f"warn   {name}: {detail}", file=out)

    try:
        origin, token_url = parse_domain(creds.domain)
    except ValueError as exc:
        stage("domain", False, str(exc))
        return EXIT_DOMAIN
    if is_login_domain(origin.host):
        # Salesforce itself will refuse; going on shows its answer and the matching fix.
        warn(
            "domain",
            f"{origin.host} is a login domain: the client-credentials flow works only on the "
            "org's My Domain (https://MYDOMAIN.my.salesforce.com); find it in Setup > My Domain",
        )
    else:
        stage("domain", True, f"token URL {token_url}")

    auth = _auth(args, creds)
    try:
        token = auth.fetch_token()
    except TokenRequestError as exc:
        stage("token", False, str(exc))
        return EXIT_TOKEN
    except requests.RequestException as exc:
        stage("token", False, f"cannot reach {token_url}: {exc}")
        return EXIT_TOKEN
    stage("token", True, f"issued for instance {token['instance_url']}")

    with SalesforceSession(auth) as sf:
        try:
            r = sf.get("/services/data/", timeout=args.timeout)
            r.raise_for_status()
            versions = [v["version"] for v in r.json()]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            stage("api versions", False, f"GET /services/data/ failed: {exc}")
            return EXIT_VERSIONS
        latest = versions[-1] if versions else "none"
        note = "" if auth.api_version in versions else f"; {auth.api_version} is not offered"
        stage("api versions", True, f"{len(versions)} offered, latest {latest}{note}")

        try:
            r = sf.get("chatter/users/me", timeout=args.timeout)
            r.raise_for_status()
            me = r.json()
        except (requests.RequestException, ValueError) as exc:
            stage("identity", False, f"GET chatter/users/me failed: {exc}")
            return EXIT_IDENTITY
        who = me.get("username") or me.get("name") or me.get("id")
        stage("identity", True, f"running as {who} on {auth.instance_url}")
    return EXIT_OK


# -- token ---------------------------------------------------------------------------------


def _token(args: argparse.Namespace, out: TextIO) -> int:
    auth = _auth(args, _credentials(args))
    try:
        token = auth.fetch_token()
    except requests.RequestException as exc:
        print(f"{_PROG} token: {exc}", file=sys.stderr)
        return EXIT_TOKEN
    shown = {k: v for k, v in token.items() if k not in SECRET_FIELDS}
    if "issued_at" in shown:
        try:
            moment = datetime.fromtimestamp(int(shown["issued_at"]) / 1000, tz=timezone.utc)
            shown["issued_at"] = moment.isoformat(timespec="seconds")
        except ValueError:
            pass
    access = str(token["access_token"])
    shown["access_token"] = access if args.show_token else _mask(access)
    if args.json:
        print(json.dumps(shown, indent=2, sort_keys=True), file=out)
    else:
        width = max(len(k) for k in shown)
        for key in sorted(shown):
            print(f"{key:<{width}}  {shown[key]}", file=out)
    return EXIT_OK


def _mask(token: str) -> str:
    return f"{token[:4]}...(masked, {len(token)} characters; --show-token to see it)"


# -- request -------------------------------------------------------------------------------


def _request(args: argparse.Namespace, out: TextIO) -> int:
    auth = _auth(args, _credentials(args))
    headers: dict[str, str] = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"-H {header!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    params: list[tuple[str, str]] = []
    for param in args.param:
        key, sep, value = param.partition("=")
        if not sep:
            raise UsageError(f"--param {param!r} is not 'key=value'")
        params.append((key, value))
    body: str | None = None
    if args.data is not None:
        body = _read_data(args.data)
        headers.setdefault("Content-Type", "application/json")
    with SalesforceSession(auth) as sf:
        try:
            r = sf.request(
                args.method.upper(),
                args.path,
                params=params,
                data=body.encode() if body is not None else None,
                headers=headers,
                timeout=args.timeout,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except requests.RequestException as exc:
            print(f"{_PROG} request: {exc}", file=sys.stderr)
            return EXIT_TOKEN if isinstance(exc, TokenRequestError) else EXIT_HTTP_ERROR
    if args.include:
        print(f"HTTP {r.status_code} {r.reason}", file=out)
        for name, value in r.headers.items():
            print(f"{name}: {value}", file=out)
        print(file=out)
    try:
        print(json.dumps(r.json(), indent=2), file=out)
    except ValueError:
        if r.text:
            print(r.text, file=out)
    return EXIT_HTTP_ERROR if r.status_code >= 400 else EXIT_OK


def _read_data(data: str) -> str:
    if data.startswith("@"):
        try:
            text = Path(data[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read -d {data!r}: {exc.strerror}") from None
    else:
        text = data
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"-d is not valid JSON: {exc}") from None
    return text


# -- wiring --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    credentials = _Parser(add_help=False)
    group = credentials.add_argument_group("credentials (flags win over the environment)")
    group.add_argument("--domain", help="My Domain URL, e.g. acme.my.salesforce.com [SF_DOMAIN]")
    group.add_argument("--client-id", help="the app's Consumer Key [SF_CLIENT_ID]")
    group.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help="file holding the Consumer Secret, '-' for stdin [else SF_CLIENT_SECRET]",
    )
    group.add_argument("--api-version", default=DEFAULT_API_VERSION, help="default %(default)s")
    group.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per HTTP call (default %(default)s)"
    )

    parser = _Parser(
        prog=_PROG,
        description="Salesforce client-credentials auth for requests: try it, check an org, "
        "call the API.",
        epilog=f"example: {_PROG} demo",
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser(
        "demo",
        help="walk through the whole flow against a built-in local org",
        description="Start a local org on 127.0.0.1 and show, step by step, what the plugin "
        "does. Exits 0 only if every step was observed.",
        epilog=f"example: {_PROG} demo",
    )
    commands.add_parser(
        "check",
        parents=[credentials],
        help="diagnose a real org: domain, token, API versions, identity",
        description="Check each stage of a real org's setup and say how to fix the first "
        "that fails. Exit code: 3 domain, 4 token, 5 API versions, 6 identity.",
        epilog=f"example: {_PROG} check --domain acme.my.salesforce.com --client-id 3MVG9... "
        "--client-secret-file ~/.sf-secret",
    )
    token = commands.add_parser(
        "token",
        parents=[credentials],
        help="fetch a token and print its metadata",
        description="Fetch a token and print instance_url, id, scope and issued_at. The token "
        "itself is masked unless --show-token is given.",
        epilog=f"example: {_PROG} token --json --client-secret-file ~/.sf-secret",
    )
    token.add_argument("--show-token", action="store_true", help="print the access token")
    token.add_argument("--json", action="store_true", help="machine-readable output")
    request = commands.add_parser(
        "request",
        parents=[credentials],
        help="call the REST API, like curl",
        description="Send one request. Relative paths resolve under "
        "/services/data/vNN.N/; JSON answers are pretty-printed; exit code 1 for HTTP 4xx/5xx.",
        epilog=f"example: {_PROG} request GET sobjects/Account/describe --param fields=Id",
    )
    request.add_argument("method", help="GET, POST, PATCH, DELETE, ...")
    request.add_argument("path", help="e.g. sobjects/Account or /services/data/")
    request.add_argument("-d", "--data", help="JSON body, or @file to read it from a file")
    request.add_argument(
        "-H", "--header", action="append", default=[], help="'Name: value', repeatable"
    )
    request.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="query parameter, repeatable"
    )
    request.add_argument(
        "-i", "--include", action="store_true", help="show the status line and headers"
    )
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "demo": _demo,
    "check": _check,
    "token": _token,
    "request": _request,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args, sys.stdout)
    except UsageError as exc:
        print(f"{_PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
