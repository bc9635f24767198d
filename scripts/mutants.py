#!/usr/bin/env python3
"""Does the suite notice plausible bugs? Plant them one at a time and see.

Each mutation below is a bug someone could plausibly write: a name, a file under
``requests_sf_auth/``, an exact snippet of its source and what replaces it, and the tests
expected to catch it. For each one, this script copies the project into a temporary
directory, plants the bug in the copy, and runs those tests against the copy (which is first
on ``PYTHONPATH``, and which a tiny pytest plugin checks is what got imported). A mutation the
tests fail on is killed; one they pass is a survivor, and a survivor means a missing or weak
test. The exit status is 0 only when every mutation was killed.

Before any mutation runs, every snippet must occur exactly once in the current source, so
that the list rots loudly when the code changes; and each test selection must pass on the
unmutated copy, or a kill would mean nothing.

This is a tool for people, not part of CI: it takes several minutes, and it runs one pytest
at a time, so it is safe to use on a shared machine.

    .venvs/main/bin/python scripts/mutants.py                 # every mutation
    .venvs/main/bin/python scripts/mutants.py --list          # names, files and bugs
    .venvs/main/bin/python scripts/mutants.py --check         # only verify the snippets
    .venvs/main/bin/python scripts/mutants.py --only NAME     # one (repeat for more)
    .venvs/main/bin/python scripts/mutants.py --only NAME --tests "tests/test_x.py -k y"
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "requests_sf_auth"
TIMEOUT = 600.0  # seconds for one pytest run; a hang this long counts as a kill
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis", "build", "dist",
)  # fmt: skip

GUARD = '''
"""Loaded by scripts/mutants.py: refuses to run the tests against any package but the copy."""
import os

import pytest


def pytest_configure(config):
    import requests_sf_auth

    imported = os.path.dirname(os.path.realpath(requests_sf_auth.__file__))
    expected = os.path.realpath(os.environ["MUTANTS_PACKAGE"])
    if imported != expected:
        raise pytest.UsageError(f"imported {imported}, not the mutated copy {expected}")
'''


@dataclass(frozen=True)
class Mutation:
    """One plausible bug: ``old`` (which must occur exactly once in ``file``) becomes ``new``;
    ``tests`` are the pytest arguments that select the tests expected to catch it."""

    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    bug: str


def m(name: str, file: str, old: str, new: str, tests: str, bug: str) -> Mutation:  # noqa: PLR0917
    """A :class:`Mutation`; ``tests`` is split into pytest arguments as a shell would.

    A snippet that spans lines begins where the match begins (so its first line carries no
    indentation) and gives every further line with its indentation in the source."""
    return Mutation(name, file, old, new, tuple(shlex.split(tests)), bug)


# fmt: off
MUTATIONS = [
    # -- the eleven survivors of issue 11 ----------------------------------------------------
    m("renew-without-its-lock", "_lifecycle.py",
      """with self._lock:
                token = self.token
                if not force and token is not None and token is not stale:""",
      """if True:
                token = self.token
                if not force and token is not None and token is not stale:""",
      "tests/test_concurrency.py",
      "_renew checks for a flight in progress and starts one without holding its lock"),
    m("memory-store-lock-does-nothing", "_stores.py",
      """lock = self._locks.setdefault(key, threading.Lock())""",
      """lock = threading.Lock()""",
      "tests/test_concurrency.py",
      "MemoryTokenStore.lock locks nothing, so auths sharing the store all fetch"),
    m("prefix-match-without-slash", "_token.py",
      """self.instance_origin.prefix + "/")""",
      """self.instance_origin.prefix)""",
      "tests/test_scoping.py",
      "the fast path's prefix lacks its '/': port 30001 matches 3000, a.com.evil.com a.com"),
    m("instance-gets-the-token-only-as-the-domain", "_auth.py",
      """return origin in self.allowed_origins or (
            token is not None and origin == token.instance_origin
        )""",
      """return origin in self.allowed_origins""",
      "tests/test_scoping.py",
      "an instance_url on another host than the domain is not treated as ours"),
    m("every-bulk-400-is-a-dead-session", "_auth.py",
      """and b"InvalidSessionId" in r.content""",
      """and True""",
      "tests/test_renewal_and_revocation.py -k bulk",
      "any Bulk API 400 renews the token and resends, not only InvalidSessionId"),
    m("resend-drops-stream-and-timeout", "_auth.py",
      """if k in _ADAPTER_KWARGS}""",
      """if k in {"verify", "cert", "proxies"}}""",
      "tests/test_refresh_on_401.py",
      "the resend goes out without the caller's stream= and timeout="),
    m("no-explicit-secret-redaction", "_redaction.py",
      """sought = {*filter(None, secrets), """,
      """sought = {""",
      "tests/test_secrets.py",
      "redact() masks only secret-named fields, not the secret itself wherever it appears"),
    m("no-token-exits-as-could-not-connect", "_commands/outcome.py",
      """    if isinstance(exc, SalesforceAuthError):
        return Failure(EXIT_TOKEN, "token", f"could not get a token: {exc}")""",
      """    if isinstance(exc, SalesforceAuthError):
        return Failure(EXIT_CONNECT, "token", f"could not get a token: {exc}")""",
      "tests/test_cli.py",
      "a failure of the library's own that is not a TokenRequestError exits 3, not 4"),
    m("token-refusal-exits-as-could-not-connect", "_commands/outcome.py",
      """    if isinstance(exc, TokenRequestError):
        return Failure(
            EXIT_TOKEN,""",
      """    if isinstance(exc, TokenRequestError):
        return Failure(
            EXIT_CONNECT,""",
      "tests/test_cli.py",
      "a refused token request exits 3 (could not connect) instead of 4"),
    m("usage-errors-exit-1", "_commands/outcome.py",
      """        super().__init__(EXIT_USAGE, "usage", message)""",
      """        super().__init__(EXIT_HTTP_ERROR, "usage", message)""",
      "tests/test_cli.py",
      "usage errors exit 1, the code of an HTTP error answer"),
    m("store-records-never-expire", "_stores.py",
      """if not expires > time.time():
        return None
    return record""",
      """return record""",
      "tests/test_token_stores.py",
      "a store record outlives its ttl (its test belongs to the token-store work)"),
    m("repr-spelling-not-redacted", "_redaction.py",
      """(form, repr(form.encode("utf-8", "surrogatepass"))[2:-1])""",
      """(form,)""",
      "tests/test_quoted_answers.py -k python_bytes",
      "a page quoting the form as Python bytes shows a non-ASCII secret, \\x by \\x"),
    # -- API usage -------------------------------------------------------------------------
    m("usage-lost-on-an-answer-without-the-header", "_usage.py",
      """if header is None or header == parsed_header:  # none: the last value stands
                return before""",
      """if header is None:
                return None
            if header == parsed_header:
                return before""",
      "tests/test_api_usage.py",
      "an answer without Sforce-Limit-Info wipes api_usage back to None"),
    m("usage-taken-from-a-redirect-target", "_auth.py",
      """        if origin is not None and self._is_ours(origin, token):
            self._usage.note(r.headers)""",
      """        self._usage.note(r.headers)""",
      "tests/test_api_usage.py",
      "another host's Sforce-Limit-Info, reached by a redirect, is taken as the org's"),
    m("usage-missed-on-a-resend", "_auth.py",
      """            self._note_usage(resent)  # no hooks ran on it""",
      """            pass""",
      "tests/test_api_usage.py",
      "the answer to a resend after an expiry is not counted in api_usage"),
    m("usage-warning-rearmed-below-ninety", "_usage.py",
      """if warn or usage.fraction < REARM_BELOW:""",
      """if warn or usage.fraction < WARN_AT:""",
      "tests/test_api_usage.py",
      "a reading just under 90% re-arms the warning, so one crossing warns again"),
    m("usage-parsed-once-a-second-near-the-limit", "_usage.py",
      """self._next_parse = 0.0 if near else time.monotonic() + 1.0""",
      """self._next_parse = time.monotonic() + 1.0""",
      "tests/test_api_usage.py",
      "near the limit, the answer that crosses 90% waits a second to be read, or is never read"),
    m("usage-taken-from-cached-answers", "_auth.py",
      """if getattr(r, "from_cache", False):""",
      """if False:""",
      "tests/test_api_usage.py",
      "an answer from requests-cache sets api_usage back to when it was stored"),
    m("usage-pickle-keeps-the-clock", "_usage.py",
      """state = dict(self.__dict__, _headers=None, _next_parse=0.0)""",
      """state = dict(self.__dict__, _headers=None)""",
      "tests/test_api_usage.py",
      "a pickled auth carries the moment of its next reading on this machine's clock"),
    # -- sending and resending ---------------------------------------------------------------
    m("max-sends-off-by-one", "_auth.py",
      """while sends < MAX_SENDS:""",
      """while sends <= MAX_SENDS:""",
      "tests/test_refresh_on_401.py -k max_sends",
      "a request is sent MAX_SENDS + 1 times"),
    m("rejection-never-resent", "_auth.py",
      """return self._resend_after_rejection(r, kwargs)""",
      """return r""",
      "tests/test_refresh_on_401.py",
      "a 401 is handed back without renewal or resend"),
    m("resend-carries-the-dead-token", "_auth.py",
      """_attach(prep, token)
""",
      """
""",
      "tests/test_refresh_on_401.py",
      "the resend goes out with the token that was just rejected"),
    m("resend-carries-the-dead-token-under-load", "_auth.py",
      """_attach(prep, token)
""",
      """
""",
      "tests/test_faults_and_load.py -k random_expiries",
      "the same bug, against the load test alone: it needs its floor on successes"),
    m("rejection-never-resent-behind-a-cache", "_auth.py",
      """return self._resend_after_rejection(r, kwargs)""",
      """return r""",
      "tests/test_ecosystem.py -k 401_is_never_cached",
      "the same bug, against the requests-cache test alone"),
    m("seekable-body-rewound-to-zero", "_auth.py",
      """seek(position)""",
      """seek(0)""",
      "tests/test_refresh_on_401.py -k seekable",
      "a file body is rewound to 0, not to where it started"),
    m("generator-body-resent", "_auth.py",
      """if not isinstance(position, int) or seek is None:
        return False""",
      """if not isinstance(position, int) or seek is None:
        return True""",
      "tests/test_refresh_on_401.py -k 'generator or iterator'",
      "a body that cannot be rewound is resent, empty"),
    m("rejection-cookies-dropped", "_auth.py",
      """if isinstance(jar, RequestsCookieJar):""",
      """if False:""",
      "tests/test_refresh_on_401.py -k cookies",
      "cookies the 401 set do not reach the resend"),
    m("rejection-left-out-of-history", "_auth.py",
      """response.history = [*rejected.history, rejected]""",
      """response.history = [*rejected.history]""",
      "tests/test_refresh_on_401.py",
      "the caller cannot see the 401 in response.history"),
    m("bulk-header-not-sent", "_auth.py",
      """r.headers[_BULK_HEADER] = token.access_token
        r.hooks["response"].append(self._on_response)""",
      """pass
        r.hooks["response"].append(self._on_response)""",
      "tests/test_renewal_and_revocation.py -k bulk",
      "Bulk API 1.0 calls go without X-SFDC-Session"),
    m("proxy-scan-kept-by-count-only", "_transport.py",
      """count == len(names) and newest is next(reversed(names), None)""",
      """count == len(names)""",
      "tests/test_ecosystem.py -k proxy",
      "a proxy variable set in place of another goes unseen until the count moves"),
    m("per-host-proxy-names-missed", "_transport.py",
      """return lower in _PLAIN_HTTP_PROXY_NAMES or (""",
      """return lower in _PLAIN_HTTP_PROXY_NAMES and (""",
      "tests/test_ecosystem.py -k proxy",
      "http://host_proxy and all://host_proxy carry the token through a proxy"),
    m("token-request-takes-per-host-proxies", "_transport.py",
      """("http", "all", f"http://{host}", f"all://{host}")""",
      """("http", "all")""",
      "tests/test_ecosystem.py -k proxy",
      "the client secret goes through a per-host proxy from the environment"),
    m("api-3xx-not-proof", "_auth.py",
      """return urlsplit(r.request.url or "").path.startswith("/services/")""",
      """return False""",
      "tests/test_failure_costs.py -k 3xx",
      "a workload answered by redirects or 304s reads as an org refusing fresh tokens"),
    m("unreadable-401-body-ends-the-resend", "_auth.py",
      """with contextlib.suppress(requests.RequestException):
        rejected.content""",
      """if True:
        rejected.content""",
      "tests/test_hostile_input.py -k decod",
      "a 401 with an undecodable body raises instead of being renewed and resent"),
    m("bulk-header-not-resent", "_auth.py",
      """r.headers[_BULK_HEADER] = token.access_token


def _refuse_cleartext_proxy""",
      """pass


def _refuse_cleartext_proxy""",
      "tests/test_renewal_and_revocation.py -k bulk",
      "a Bulk API 1.0 call resent after an expiry goes without X-SFDC-Session"),
    m("bulk-header-follows-redirects", "_auth.py",
      """            request.headers.pop("Authorization", None)
            request.headers.pop(_BULK_HEADER, None)""",
      """            request.headers.pop("Authorization", None)""",
      "tests/test_renewal_and_revocation.py -k bulk_header",
      "X-SFDC-Session follows a redirect to another host"),
    # -- scoping -----------------------------------------------------------------------------
    m("token-fetched-for-any-host", "_auth.py",
      """if origin is None or not self._is_ours(origin, token):
                return r""",
      """if origin is None:
                return r""",
      "tests/test_scoping.py",
      "the slow path skips the origin check and fetches a token for any host"),
    m("allowed-hosts-ignored", "_auth.py",
      """self.allowed_origins = frozenset({origin, *allowed_origins(allowed_hosts)})""",
      """self.allowed_origins = frozenset({origin})""",
      "tests/test_scoping.py -k allowed",
      "allowed_hosts never receive the token"),
    m("any-instance-url-trusted", "_urls.py",
      """if origin == domain or origin in allowed:""",
      """if True:""",
      "tests/test_hostile_input.py",
      "a token answer may send the token to any host it names"),
    m("salesforce-suffix-without-dot", "_urls.py",
      """host.endswith("." + suffix)""",
      """host.endswith(suffix)""",
      "tests/test_hostile_input.py -k lookalikes",
      "evilsalesforce.com passes for a Salesforce domain"),
    m("network-path-reference-allowed", "_urls.py",
      """raise ValueError(
            f"{url!r} is a network-path reference""",
      """return urljoin(base, url)  # the check above is void
        raise ValueError(
            f"{url!r} is a network-path reference""",
      "tests/test_session_urls.py tests/test_hostile_input.py",
      "a relative path like //evil.example/x leaves the instance"),
    # -- the lifecycle -----------------------------------------------------------------------
    m("renewal-not-single-flight", "_lifecycle.py",
      """joined = self._flight""",
      """joined = None""",
      "tests/test_concurrency.py",
      "every thread that needs a token fetches one"),
    m("waiters-refetch-after-a-failed-fetch", "_lifecycle.py",
      """if not (joined.background and exiting()):""",
      """if False:""",
      "tests/test_concurrency.py",
      "threads that waited for a failed fetch each try again at once"),
    m("due-renewal-blocks-requests", "_lifecycle.py",
      """if token.is_due():
            self._renew_in_background(token)""",
      """if token.is_due():
            return self._renew(token, reason="renewal due")""",
      "tests/test_renewal_and_revocation.py -k lifetime",
      "a due token is renewed in the request path, so requests wait for it"),
    m("lifetime-without-leeway", "_lifecycle.py",
      """renew = policy.lifetime - policy.leeway""",
      """renew = policy.lifetime""",
      "tests/test_renewal_and_revocation.py -k lifetime",
      "a token is renewed at the end of its lifetime, not leeway before"),
    m("revoked-token-kept", "_lifecycle.py",
      """if self.token is token:
                self.token = None""",
      """if self.token is token:
                pass""",
      "tests/test_renewal_and_revocation.py -k revok",
      "revoke() kills the token at the org but keeps using it"),
    m("child-keeps-the-parents-lock", "_lifecycle.py",
      """self._lock = threading.Lock()
        self._flight = None
""",
      """self._flight = None
""",
      "tests/test_process_boundaries.py -k fork",
      "a child forked while a thread held the lock inherits it held"),
    m("child-joins-the-parents-flight", "_lifecycle.py",
      """self._flight = None
        # Pooled connections""",
      """# Pooled connections""",
      "tests/test_process_boundaries.py -k during_a_token_fetch",
      "a child forked during a fetch waits for a fetch no thread of its own makes"),
    m("store-lock-reentry-waits-for-itself", "_lifecycle.py",
      """waits_for_itself = self._store is not None and _holds(self._record_identity())""",
      """waits_for_itself = False""",
      "tests/test_token_stores.py -k refused_at_once",
      "a log handler calling the org through another auth on the store, mid-fetch, waits for "
      "the lock its own thread holds: forever on a MemoryTokenStore"),
    m("file-lock-object-per-store", "_file_store.py",
      """filelock = _SHARED_LOCKS.get(""",
      """filelock = _SharedLocks().get(""",
      "tests/test_token_stores.py -k another_clients_token",
      "each FileTokenStore on one path has a lock object of its own, so a thread holding the "
      "file through one waits lock_timeout for itself through another"),
    m("memory-store-lock-waits-for-ever", "_stores.py",
      """if not lock.acquire(timeout=self.lock_timeout):""",
      """if not lock.acquire():""",
      "tests/test_token_stores.py -k each_others_client",
      "two threads whose log handlers call the org for each other's client, each mid-fetch "
      "on one MemoryTokenStore, wait for each other's lock for ever"),
    m("leeway-never-cut", "_lifecycle.py",
      """if leeway > left * _LEEWAY_SHARE:""",
      """if False:""",
      "tests/test_failure_costs.py -k leeway_longer",
      "a leeway longer than the introspected lifetime makes every token due on arrival"),
    m("clock-skew-ignored", "_lifecycle.py",
      """if issued is not None and abs(received - issued) > MAX_CLOCK_SKEW:""",
      """if False:""",
      "tests/test_failure_costs.py -k clock_hours_ahead",
      "a local clock hours off Salesforce's schedules renewals in the past"),
    m("token-received-logged-as-a-warning", "_lifecycle.py",
      """log.info("received a token for""",
      """log.warning("received a token for""",
      "tests/test_secrets.py -k normal_refresh",
      "every routine token fetch logs a warning"),
    # -- what failure costs ------------------------------------------------------------------
    m("backoff-not-doubling", "_backoff.py",
      """self.initial * 2.0 ** min(failures - 1, 64)""",
      """self.initial * 1.0 ** min(failures - 1, 64)""",
      "tests/test_failure_costs.py -k doubles",
      "the pause after failures stays at its first length"),
    m("no-pause-after-a-failed-token-request", "_backoff.py",
      """self.resume_at = self.clock() + pause""",
      """self.resume_at = self.clock()""",
      "tests/test_failure_costs.py -k 'refusing_token_endpoint or doubles'",
      "a failing token endpoint is asked again on every request"),
    m("rate-limit-pauses-like-any-failure", "_backoff.py",
      """pause = self.policy.maximum if _is_rate_limit(error) else self.policy.pause(""",
      """pause = self.policy.pause(""",
      "tests/test_failure_costs.py -k login_rate_limit",
      "'login rate exceeded' gets the shortest pause, not the longest"),
    m("every-refused-token-renewed", "_backoff.py",
      """renew = self.refusals == 1""",
      """renew = self.refusals >= 1""",
      "tests/test_failure_costs.py -k refuse",
      "tokens the API refuses are renewed on every request, costing a login each"),
    # -- secrets and answers -----------------------------------------------------------------
    m("error-page-quoted-unredacted", "_token.py",
      """redact(answer.text, *endpoint.secrets, *secrets)""",
      """answer.text""",
      "tests/test_secrets.py",
      "an error page that echoes the request is quoted with the secret in it"),
    m("utf16-spelling-not-redacted", "_redaction.py",
      """return value.replace("\\x00", "")""",
      """return value""",
      "tests/test_quoted_answers.py -k utf16",
      "a UTF-16 error page echoing the secret shows it with a NUL between its characters"),
    m("base64-spelling-not-redacted", "_redaction.py",
      """forms.update(core for form in encoded for core in _base64_cores(form))""",
      """forms.update(())""",
      "tests/test_quoted_answers.py -k base64",
      "an error page echoing the form in base64 shows the secret to anyone who decodes it"),
    m("escaped-spellings-not-decoded", "_redaction.py",
      """unescaped = plain.decoded(_ESCAPED, _unescaped)""",
      """unescaped = plain""",
      "tests/test_secrets.py -k encoded_authorization",
      "a WAF page HTML-encoding the headers it lists (&#x21;) shows a token no one named"),
    m("wrapped-base64-not-redacted", "_redaction.py",
      """unbroken = [s.decoded(_LINE_BREAK, lambda match: "") for s in (unescaped, once)]""",
      """unbroken: list[_Stream] = []""",
      "tests/test_cli.py -k waf_page",
      "a WAF's MIME base64 dump of the request, wrapped at 76 columns, shows the token"),
    m("transport-error-quoted-unredacted", "_transport.py",
      """failure = fresh_copy(exc, redact(str(exc), *secrets))""",
      """failure = fresh_copy(exc, str(exc))""",
      "tests/test_secrets.py -k status_line",
      "a status line echoing the form puts the secret in the ConnectionError and the log"),
    m("unparsed-headers-left-for-urllib3", "_transport.py",
      """headers.set_payload("")""",
      """pass""",
      "tests/test_secrets.py -k header_line",
      "urllib3 logs a header line echoing the form, secret and all, at WARNING"),
    m("check-quote-cut-before-redaction", "_commands/check.py",
      """return self.known.redact(r.text[:_READ_CHARS])[:_BODY_CHARS].strip()""",
      """return r.text[:_BODY_CHARS].strip()""",
      "tests/test_cli.py -k echoes_from",
      "check cuts an answer before redacting it: a token at the cut shows its first half"),
    m("cli-forgets-the-replaced-token", "_commands/known.py",
      """for answer in (*r.history, r):""",
      """for answer in (r,):""",
      "tests/test_cli.py -k replaced",
      "request prints the token a 401 replaced, when the final answer echoes it"),
    m("bearer-credentials-not-redacted", "_redaction.py",
      """_MARKED = (_SECRET_VALUE, _BEARER, _AUTH_HEADER)""",
      """_MARKED = (_SECRET_VALUE,)""",
      "tests/test_cli.py -k echoes_from",
      "an echoed 'Authorization: Bearer <token>' the run never held is printed whole"),
    m("grant-repr-shows-the-secret", "_grants.py",
      """return f"<ClientCredentialsGrant client_id={self.client_id!r}>\"""",
      """return f"<ClientCredentialsGrant client_id={self.client_id!r} {self.client_secret}>\"""",
      "tests/test_secrets.py -k reprs",
      "the client-credentials grant's repr (and so the endpoint's) shows the client secret"),
    m("signature-never-checked", "_token.py",
      """if endpoint.verify_signature:""",
      """if False:""",
      "tests/test_renewal_and_revocation.py -k signature",
      "verify_signature=True accepts a tampered answer"),
    # -- rejections cost an allowance, not a login each (stop 19) -----------------------------
    m("renewal-without-allowance", "_backoff.py",
      """return renew and self._spend_allowance(token)""",
      """return renew""",
      "tests/test_failure_costs.py -k 'burst or allowance'",
      "every rejection of an accepted token renews at once: a flaky 401 costs a login each"),
    m("allowance-spent-per-request", "_backoff.py",
      """if token is self._renewed:
            return True  # another request's rejection of it already bought the renewal""",
      """if False:
            pass""",
      "tests/test_failure_costs.py -k 'eight_threads_under_sessions or sixty_four'",
      "each thread that sees one expiry spends the allowance: threads lose requests to 401s"),
    m("refusal-renewal-free-of-the-allowance", "_backoff.py",
      """            renew = self.refusals == 1
""",
      """            if self.refusals == 1:
                return True
            renew = False
""",
      "tests/test_failure_costs.py -k 'rejected_once_after_an_expiry'",
      "a refused fresh token's renewal costs nothing: spurious 401s in pairs cost 2 logins each"),
    m("allowance-refilled-by-the-longest-pause", "_backoff.py",
      """return min(self.policy.maximum, RENEWAL_REFILL)""",
      """return self.policy.maximum""",
      "tests/test_failure_costs.py -k 'quarter_of_an_hour'",
      "with token_backoff=(1, 3600), ordinary expiries drain the allowance and get 401s"),
    # -- store records (outside review 19) ---------------------------------------------------
    m("seal-compared-as-text", "_token.py",
      """if not expected or not isinstance(seal, str) or not seal.isascii():
        return False
    return hmac.compare_digest(seal.encode("ascii"), expected.encode("ascii"))""",
      """if not expected or not isinstance(seal, str):
        return False
    return hmac.compare_digest(seal, expected)""",
      "tests/test_store_failures.py -k seal_is_not_ascii",
      "a store record's seal is compared as text: a non-ASCII seal raises TypeError"),
    m("store-read-errors-reach-the-request", "_lifecycle.py",
      """        except Exception as exc:
            notes.append(self._store_broke(exc, "reading a token;""",
      """        except OSError as exc:
            notes.append(self._store_broke(exc, "reading a token;""",
      "tests/test_store_failures.py -k raises_when_reading",
      "a store whose load() raises fails every request instead of costing the sharing"),
    m("record-times-taken-as-they-are", "_token.py",
      """renew_at = monotonic_from_wall(renew_after) if _is_epoch(renew_after) else None""",
      """renew_at = monotonic_from_wall(renew_after) if isinstance(renew_after, int) else None""",
      "tests/test_store_failures.py -k no_clock",
      "a sealed record's renew_after too large for a float raises OverflowError on reading"),
    m("nan-expiry-lives-forever", "_stores.py",
      """if not expires > time.time():""",
      """if expires <= time.time():""",
      "tests/test_hostile_input.py -k real_expiry",
      "a store record whose store_expires_at is NaN never expires"),
    m("empty-query-in-instance-url-accepted", "_urls.py",
      """and not any(mark in url for mark in "?#@")""",
      """and not (parts.query or parts.fragment or "@" in parts.netloc)""",
      "tests/test_quoted_answers.py -k more_than_an_origin",
      "an instance_url ending in '?' or '#' is taken, and requests reach '/' with the token"),
    # -- construction arguments (outside review 19) ------------------------------------------
    m("timeout-without-a-longest", "_token.py",
      """    if longest > LONGEST_WAIT:""",
      """    if False:""",
      "tests/test_construction.py -k 'invalid or up_to_a_day'",
      "timeout=1e10 is taken, and every request raises OverflowError from a timer"),
    m("file-lock-timeout-without-a-longest", "_file_store.py",
      """seconds("lock_timeout", lock_timeout, longest=LONGEST_WAIT)""",
      """seconds("lock_timeout", lock_timeout)""",
      "tests/test_token_stores.py -k lock_timeout_longer tests/test_construction.py -k up_to_a_day",
      "FileTokenStore(lock_timeout=1e10) is taken, and threads waiting for a fetch overflow"),
    m("redis-lock-timeout-without-a-longest", "_redis_store.py",
      """seconds("lock_timeout", lock_timeout, longest=LONGEST_WAIT)""",
      """seconds("lock_timeout", lock_timeout)""",
      "tests/test_token_stores.py -k lock_timeout_longer",
      "RedisTokenStore(lock_timeout=1e10) is taken, and its socket timeouts overflow"),
    m("backoff-without-a-longest", "_backoff.py",
      """seconds("token_backoff maximum", self.maximum, longest=LONGEST_WAIT)""",
      """seconds("token_backoff maximum", self.maximum)""",
      "tests/test_construction.py -k invalid",
      "token_backoff=(1, 1e308) is taken: a retry_after no time.sleep() can wait"),
    m("huge-int-seconds-overflow", "_backoff.py",
      """    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf""",
      """    return float(value)""",
      "tests/test_construction.py -k invalid",
      "timeout=10**400 raises OverflowError instead of a ValueError naming timeout"),
    m("cli-lock-wait-not-capped", "_commands/settings.py",
      """lock_wait = min(2 * args.timeout + 5, LONGEST_WAIT)""",
      """lock_wait = 2 * args.timeout + 5""",
      "tests/test_cli.py -k up_to_a_day",
      "--timeout 86400 makes the cache's lock_timeout too long: a traceback"),
    m("api-version-any-script-digits", "_urls.py",
      """v?([0-9]+)(?:""",
      """v?(\\d+)(?:""",
      "tests/test_construction.py -k invalid",
      "api_version='\u0666\u0667' (Arabic-Indic digits) is taken and put in every URL"),
    m("allowed-hosts-of-any-type", "_urls.py",
      """if isinstance(hosts, (bytes, bytearray)) or not isinstance(hosts, Iterable):""",
      """if False:""",
      "tests/test_construction.py -k invalid",
      "allowed_hosts=None raises TypeError, not a ValueError naming allowed_hosts"),
    m("file-store-path-unchecked", "_file_store.py",
      """if not isinstance(text, str) or not text or "\\x00" in text:""",
      """if text is None:""",
      "tests/test_token_stores.py -k names_no_file",
      "FileTokenStore('') or a path with a NUL is taken, and fails at every request"),
    m("record-lifetime-uncapped", "_stores.py",
      """return min(ttl if ttl is not None and ttl > 0 else default, LONGEST_RECORD)""",
      """return ttl if ttl is not None and ttl > 0 else default""",
      "tests/test_token_stores.py -k beyond_what_redis",
      "token_lifetime=1e308 overflows Redis's expiry: the token is never shared"),
    m("custom-lock-timeout-unbounded", "_lifecycle.py",
      """lock_wait = min(lock_wait, LONGEST_WAIT) if _is_wait(lock_wait) else 0.0""",
      """lock_wait = lock_wait if isinstance(lock_wait, (int, float)) else 0.0""",
      "tests/test_store_failures.py -k no_timer",
      "a custom store's lock_timeout of 1e10 or NaN makes threads waiting for a fetch fail"),
    # -- a store whose lock or delete raises (second outside review, stop 19) ----------------
    m("store-lock-errors-reach-the-request", "_lifecycle.py",
      """                lock.__enter__()
        except Exception as exc:""",
      """                lock.__enter__()
        except TypeError as exc:""",
      "tests/test_store_failures.py -k lock_raises",
      "a store whose lock raises when taken fails every request"),
    m("store-unlock-errors-reach-the-request", "_lifecycle.py",
      """            except Exception as exc:
                notes.append(self._store_broke(exc, "releasing its lock"))""",
      """            except TypeError as exc:
                notes.append(self._store_broke(exc, "releasing its lock"))""",
      "tests/test_store_failures.py -k lock_raises",
      "a store whose lock raises on release fails the request that fetched"),
    m("store-delete-errors-reach-revoke", "_lifecycle.py",
      """except Exception as exc:  # the token is revoked at the org all the same""",
      """except TypeError as exc:  # the token is revoked at the org all the same""",
      "tests/test_store_failures.py -k revoking_through",
      "revoke() raises the store's error after the org revoked the token"),
    # -- a third outside review (stop 19) -----------------------------------------------------
    m("file-lock-inherited-across-fork", "_file_store.py",
      """if made is not None and made[0] == pid:""",
      """if made is not None:""",
      "tests/test_process_boundaries.py -k file_store",
      "a forked worker reuses its parent's filelock object, which filelock 4 refuses: no sharing"),
    m("record-marked-after-the-store-lock", "_lifecycle.py",
      """with _holding(self._record_identity()), self._store_lock(notes):""",
      """with self._store_lock(notes), _holding(self._record_identity()):""",
      "tests/test_token_stores.py -k file_locks_own_log",
      "a handler on filelock's own log lines re-enters the fetch unrefused"),
]
# fmt: on


def snippet_problems(mutations: Sequence[Mutation], root: Path) -> list[str]:
    """Each mutation whose snippet does not occur exactly once in its file, with the count."""
    problems = []
    for mutation in mutations:
        path = root / PACKAGE / mutation.file
        if not path.is_file():
            problems.append(f"{mutation.name}: {PACKAGE}/{mutation.file} does not exist")
            continue
        count = path.read_text(encoding="utf-8").count(mutation.old)
        if count != 1:
            problems.append(
                f"{mutation.name}: its snippet occurs {count} times in {PACKAGE}/{mutation.file}"
                f" (it must occur once):\n{textwrap.indent(mutation.old, '    | ')}"
            )
    return problems


class Workspace:
    """A copy of the project in a temporary directory, where one file at a time is mutated
    and restored, and pytest runs against the copy."""

    def __init__(self, python: str, timeout: float) -> None:
        self.python, self.timeout = python, timeout
        self.temp = Path(tempfile.mkdtemp(prefix="mutants-"))
        self.project = self.temp / "project"
        shutil.copytree(ROOT, self.project, ignore=COPY_IGNORE)
        guard_dir = self.temp / "guard"
        guard_dir.mkdir()
        (guard_dir / "mutants_guard.py").write_text(GUARD, encoding="utf-8")
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(self.project), str(guard_dir), os.environ.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep),
            "PYTHONDONTWRITEBYTECODE": "1",  # a stale .pyc must never stand in for a mutant
            "MUTANTS_PACKAGE": str(self.project / PACKAGE),
        }

    def pytest(self, tests: Sequence[str]) -> tuple[int | None, str, float]:
        """Run ``tests`` against the copy: pytest's exit code (``None`` on timeout), the tail
        of its output, and the seconds it took."""
        command = [
            self.python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
            "-p", "mutants_guard", *tests,
        ]  # fmt: skip
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S603 - the command is built above
                command,
                cwd=self.project,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else ""
            return None, output[-2000:], time.monotonic() - started
        return done.returncode, (done.stdout + done.stderr)[-2000:], time.monotonic() - started

    def mutated(self, mutation: Mutation) -> _Applied:
        return _Applied(self.project / PACKAGE / mutation.file, mutation)

    def remove(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)


class _Applied:
    """Context manager: the mutation is in the copy inside the block, and undone after it."""

    def __init__(self, path: Path, mutation: Mutation) -> None:
        self.path, self.mutation = path, mutation
        self.original = path.read_text(encoding="utf-8")

    def __enter__(self) -> None:
        if self.original.count(self.mutation.old) != 1:
            raise SystemExit(f"{self.mutation.name}: snippet not found once in the copy")
        self.path.write_text(
            self.original.replace(self.mutation.old, self.mutation.new), encoding="utf-8"
        )

    def __exit__(self, *exc: object) -> None:
        self.path.write_text(self.original, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Check the snippets, then run the selected mutations; returns the exit status: 0 when
    every one was killed, 1 when one survived or could not be judged, 2 when the list has
    rotted or the unmutated copy fails a selection."""
    parser = argparse.ArgumentParser(
        prog="scripts/mutants", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run this mutation only"
    )
    parser.add_argument(
        "--tests", metavar="ARGS", help="pytest arguments, one string, for every mutation"
    )
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--check", action="store_true", help="only check the snippets")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds for one pytest run")
    venv_python = ROOT / ".venvs" / "main" / "bin" / "python"
    parser.add_argument(
        "--python",
        default=str(venv_python) if venv_python.exists() else sys.executable,
        help="the interpreter that runs pytest",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args(argv)

    names = [mutation.name for mutation in MUTATIONS]
    if len(set(names)) != len(names):
        raise SystemExit("two mutations share a name")
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"no mutation named {', '.join(unknown)}; see --list")
    selected = [mu for mu in MUTATIONS if not args.only or mu.name in args.only]
    if args.tests:
        tests = tuple(shlex.split(args.tests))
        selected = [Mutation(mu.name, mu.file, mu.old, mu.new, tests, mu.bug) for mu in selected]

    if args.list:
        for mutation in selected:
            print(f"{mutation.name:45} {mutation.file:14} {mutation.bug}")
        return 0
    problems = snippet_problems(selected, ROOT)
    if problems:
        print("The mutation list has rotted; fix these snippets first:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.check:
        print(f"all {len(selected)} snippets occur exactly once")
        return 0

    workspace = Workspace(args.python, args.timeout)
    print(f"copied the project to {workspace.project}", flush=True)
    try:
        return run(workspace, selected)
    finally:
        if args.keep:
            print(f"kept {workspace.temp}")
        else:
            workspace.remove()


def run(workspace: Workspace, selected: Sequence[Mutation]) -> int:
    """Run each selection on the unmutated copy, which must pass it (or a failure would say
    nothing), then each mutation against its selection; print a verdict for each and a
    summary, and return the exit status."""
    selections = list(dict.fromkeys(mutation.tests for mutation in selected))
    for tests in selections:
        code, output, seconds = workspace.pytest(tests)
        print(f"baseline  {' '.join(tests)}: exit {code} in {seconds:.0f} s", flush=True)
        if code != 0:
            print(output, file=sys.stderr)
            print("the unmutated copy fails these tests: no verdict", file=sys.stderr)
            return 2

    results: list[tuple[Mutation, str]] = []
    for number, mutation in enumerate(selected, 1):
        with workspace.mutated(mutation):
            code, output, seconds = workspace.pytest(mutation.tests)
        failed = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
        if code == 1:
            verdict = "killed"
        elif code is None:
            verdict = "killed (timed out)"
        elif code == 0:
            verdict = "SURVIVED"
        else:
            verdict = f"ERROR (pytest exit {code})"
        results.append((mutation, verdict))
        print(f"[{number:2}/{len(selected)}] {verdict:18} {mutation.name}  ({seconds:.0f} s)",
              flush=True)  # fmt: skip
        if code == 1 and failed:
            print(f"      by {failed[0].split(' - ')[0].removeprefix('FAILED ')}", flush=True)
        if verdict == "SURVIVED" or verdict.startswith("ERROR"):
            print(textwrap.indent(f"{mutation.bug}\ntests: {' '.join(mutation.tests)}", "      "))
            if verdict.startswith("ERROR"):
                print(textwrap.indent(output, "      | "))

    killed = [mu for mu, verdict in results if verdict.startswith("killed")]
    bad = [(mu, verdict) for mu, verdict in results if not verdict.startswith("killed")]
    print(f"\n{len(killed)} of {len(results)} mutations killed")
    for mutation, verdict in bad:
        print(f"  {verdict}: {mutation.name} ({mutation.file}): {mutation.bug}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
