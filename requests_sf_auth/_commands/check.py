"""``check``: the doctor for a real org. Each stage prints ``ok`` on stdout, or a warning or
``FAILED`` with the fix on stderr, and the first failure ends the run with its exit code.

Stages: the domain's shape; a fresh token (never the cached one, whose success would prove
nothing about the secret); the API versions the org offers; and an identity call that any
API-enabled user may make.

Every line is redacted with the run's credentials as it is printed: the org's answers are
quoted in them, and a proxy's error page may echo the request's ``Authorization`` header.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, TextIO

import requests

from .._auth import DEFAULT_API_VERSION
from .._session import SalesforceSession
from .._urls import is_login_domain, parse_domain
from .known import KnownCredentials
from .outcome import (
    EXIT_CHECK,
    EXIT_HTTP_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    MY_DOMAIN_FORM,
    failure_from,
)
from .settings import credentials, make_auth

__all__ = ["run_check"]

_BODY_CHARS = 500
_READ_CHARS = 64 * 1024  # of an answer, redacted before it is cut to _BODY_CHARS
_USER_ID = re.compile(r"005[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")

# Salesforce's REST errorCodes and their usual fix. INVALID_SESSION_ID and NOT_FOUND are in
# shared/SALESFORCE.md; the others are assumptions from Salesforce's REST API documentation.
_API_HINTS = {
    "INVALID_SESSION_ID": (
        "the REST API refused a fresh token: give the external client app the 'api' OAuth "
        "scope, grant the run-as user 'API Enabled' (profile or permission set), and check the "
        "app's and the profile's IP restrictions"
    ),
    "API_DISABLED_FOR_ORG": (
        "this org's edition has no API access (Professional Edition needs the API add-on)"
    ),
    "API_CURRENTLY_DISABLED": (
        "API access is off for the run-as user: grant 'API Enabled' on its profile or a "
        "permission set"
    ),
    "REQUEST_LIMIT_EXCEEDED": (
        "the org used up its 24-hour API request allowance; see Setup > System Overview"
    ),
    "NOT_FOUND": "the org does not know this path or API version; check --api-version",
}
_SERVER_HINT = "Salesforce is having trouble; try again later (https://status.salesforce.com)"


class _Report:
    """Prints stage results, redacted with ``known``: ``ok`` on stdout, warnings and failures
    on stderr."""

    def __init__(self, out: TextIO, err: TextIO, known: KnownCredentials) -> None:
        self.out, self.err, self.known = out, err, known

    def ok(self, stage: str, detail: str) -> None:
        self._print(f"ok     {stage}: {detail}", self.out)

    def warn(self, stage: str, detail: str) -> None:
        self._print(f"warn   {stage}: {detail}", self.err)

    def fail(self, stage: str, detail: str, fix: str | None = None) -> None:
        self._print(f"FAILED {stage}: {detail}", self.err)
        if fix:
            self._print(f"       fix: {fix}", self.err)

    def _print(self, line: str, stream: TextIO) -> None:
        print(self.known.redact(line), file=stream)

    def quote(self, r: requests.Response) -> str:
        """The start of ``r``'s body, redacted before it is cut, so that no credential is
        cut in two and half shown."""
        return self.known.redact(r.text[:_READ_CHARS])[:_BODY_CHARS].strip()


def run_check(args: argparse.Namespace, out: TextIO, err: TextIO, known: KnownCredentials) -> int:
    """Run every stage against the org the settings name; returns the exit code."""
    report = _Report(out, err, known)
    creds = credentials(args)
    try:
        origin, token_url = parse_domain(creds.domain)
    except ValueError as exc:
        report.fail("domain", str(exc), f"give the org's My Domain URL: {MY_DOMAIN_FORM}")
        return EXIT_USAGE
    if is_login_domain(origin.host):
        # Salesforce itself will refuse; going on shows its answer and the matching fix.
        report.warn(
            "domain",
            f"{origin.host} is a login domain: the client-credentials flow works only on the "
            f"org's My Domain; {MY_DOMAIN_FORM}",
        )
    else:
        report.ok("domain", f"token URL {token_url}")

    auth = make_auth(args, creds, known)
    try:
        token = auth.fetch_token()
    except requests.RequestException as exc:
        failure = failure_from(exc, token_url, known)
        report.fail("token", failure.message)
        return failure.code
    report.ok("token", f"issued for instance {token['instance_url']}")

    with SalesforceSession(auth) as sf:
        known.watch(sf)
        try:
            version = _versions_stage(sf, args, report)
            if version is None:
                return EXIT_CHECK
            return _identity_stage(sf, token, version, args.timeout, report)
        except _Refused as refused:
            report.fail(refused.stage, refused.detail, refused.fix)
            return EXIT_HTTP_ERROR
        except requests.RequestException as exc:
            failure = failure_from(exc, str(token["instance_url"]), known)
            report.fail("api", failure.message)
            return failure.code


class _Refused(Exception):
    """An API call answered with an HTTP error: which stage, what Salesforce said, the fix."""

    def __init__(self, stage: str, detail: str, fix: str | None) -> None:
        super().__init__(detail)
        self.stage, self.detail, self.fix = stage, detail, fix


def _versions_stage(sf: SalesforceSession, args: argparse.Namespace, report: _Report) -> str | None:
    """The API version to go on with, or ``None`` after reporting why there is none."""
    r = sf.get("/services/data/", timeout=args.timeout)
    if r.status_code >= 400:
        raise _Refused("api versions", *_salesforce_error("GET /services/data/", r, report))
    try:
        versions = sorted({str(v["version"]) for v in r.json()}, key=_version_key)
    except (ValueError, KeyError, TypeError):
        versions = []
    if not versions:
        report.fail("api versions", f"GET /services/data/ listed no versions: {report.quote(r)!r}")
        return None
    newest = versions[-1]
    if args.api_version is not None:
        if args.api_version not in versions:
            report.fail(
                "api versions",
                f"--api-version {args.api_version} is not offered by this org; the newest it "
                f"offers is {newest}",
                f"pass --api-version {newest}",
            )
            return None
        chosen: str = args.api_version
    elif DEFAULT_API_VERSION in versions:
        chosen = DEFAULT_API_VERSION
    else:
        report.warn(
            "api versions",
            f"this org does not offer {DEFAULT_API_VERSION}, the default; going on with "
            f"{newest}, the newest it offers (pass --api-version {newest} to the other commands)",
        )
        chosen = newest
    report.ok("api versions", f"{len(versions)} offered, newest {newest}; using {chosen}")
    return chosen


def _identity_stage(
    sf: SalesforceSession,
    token: dict[str, Any],
    version: str,
    timeout: float,
    report: _Report,
) -> int:
    """Who the integration runs as. ``chatter/users/me`` may be refused to an integration
    user (Chatter off, or an API-only license), so the run-as user's own User record is read
    instead: its id is the last segment of the token's ``id`` URL (shared/SALESFORCE.md).
    Assumption: every user may read their own User record through the REST API. Should even
    that be refused, the version's resource list, which any API-enabled user may read, proves
    that authentication works."""
    base = f"/services/data/v{version}/"
    found = _USER_ID.fullmatch(str(token.get("id", "")).rsplit("/", 1)[-1])
    user_id = found.group(0) if found else None
    refusal = "the token's id names no user"
    if user_id is not None:
        path = f"{base}sobjects/User/{user_id}"
        r = sf.get(path, params={"fields": "Username,Name"}, timeout=timeout)
        if r.status_code < 400:
            user = _json(r)
            who = user.get("Username") or user_id
            name = f" ({user['Name']})" if user.get("Name") else ""
            report.ok("identity", f"running as {who}{name} on {token['instance_url']}")
            return EXIT_OK
        refusal = _salesforce_error(f"GET {path}", r, report)[0]
    r = sf.get(base, timeout=timeout)
    if r.status_code >= 400:
        raise _Refused("identity", *_salesforce_error(f"GET {base}", r, report))
    report.warn("identity", f"cannot read the run-as user's record: {refusal}")
    who = f"user {user_id}" if user_id else "the run-as user"
    report.ok("identity", f"the REST API accepts the token of {who} on {token['instance_url']}")
    return EXIT_OK


def _salesforce_error(call: str, r: requests.Response, report: _Report) -> tuple[str, str | None]:
    """What Salesforce answered to ``call``, its own error body included, and the fix for its
    ``errorCode`` when one is known."""
    body = report.quote(r)
    detail = f"{call} answered HTTP {r.status_code} {r.reason}: {body or '(empty body)'}"
    errors = _json(r)
    code = errors.get("errorCode") if isinstance(errors, dict) else None
    hint = _API_HINTS.get(str(code)) if code else None
    if hint is None and r.status_code >= 500:
        hint = _SERVER_HINT
    return detail, hint


def _json(r: requests.Response) -> dict[str, Any]:
    """The answer's JSON object; Salesforce's error lists give their first entry."""
    try:
        data = r.json()
    except ValueError:
        return {}
    if isinstance(data, list) and data:
        data = data[0]
    return data if isinstance(data, dict) else {}


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)
