"""``demo``: the whole flow against a local org started for the occasion, each step checked
against what the org observed. It needs no credentials and exits 0 only if every step was
observed (5 otherwise)."""

from __future__ import annotations

import argparse
import threading
from typing import Any, TextIO

from .._auth import SalesforceAuth
from .._session import SalesforceSession
from .known import KnownCredentials
from .outcome import EXIT_CHECK, EXIT_OK, PROG

__all__ = ["run_demo"]


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
        path = "/services/data/v67.0/sobjects/Account/describe"
        _expect(r.status_code == 200, f"HTTP {r.status_code}")
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
        outcomes: list[object] = []

        def call() -> None:
            # Any failure is an outcome to report, not a traceback from a worker thread (the
            # main thread may be gone already, after a Ctrl-C).
            try:
                with SalesforceSession(auth) as sf:
                    barrier.wait()
                    outcomes.append(sf.get("limits").status_code)
            except Exception as exc:
                outcomes.append(type(exc).__name__)

        workers = [threading.Thread(target=call) for _ in range(threads)]
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        except BaseException:
            # A Ctrl-C while threads start: those waiting for the rest would wait forever,
            # and keep the process from exiting.
            barrier.abort()
            raise
        fetched = self.org.token_requests - before
        _expect(outcomes == [200] * threads, f"outcomes {outcomes}")
        _expect(fetched == 1, f"{fetched} token requests")
        return (
            f"{threads} threads made their first call at once: {threads} answers, 1 token request"
        )


def run_demo(args: argparse.Namespace, out: TextIO, err: TextIO, known: KnownCredentials) -> int:
    """Run every step, printing each as it ends (a failed one on ``err``); returns the exit
    code. The org's credentials are throwaway ones: ``known`` is not told of them."""
    from ..testing import LocalOrg

    with LocalOrg() as org:
        print(f"{PROG} demo: a local Salesforce org is serving at {org.url}", file=out, flush=True)
        demo = _Demo(org)
        steps = [demo.lazy, demo.first_call, demo.relative_url, demo.expiry, demo.burst]
        passed = 0
        for number, step in enumerate(steps, 1):
            try:
                detail = step()
            except Exception as exc:
                print(f"[{number}] FAILED {step.__name__}: {exc}", file=err, flush=True)
                continue
            passed += 1
            print(f"[{number}] ok     {detail}", file=out, flush=True)
    ok = passed == len(steps)
    print(f"demo {'passed' if ok else 'FAILED'}: {passed} of {len(steps)} steps observed", file=out)
    return EXIT_OK if ok else EXIT_CHECK


def _expect(condition: bool, observed: str) -> None:
    if not condition:
        raise AssertionError(f"not observed ({observed})")
