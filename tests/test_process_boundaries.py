"""An auth or session crosses process boundaries safely: pickled into multiprocessing workers
under spawn and fork, and used in a child after ``os.fork()`` while a lock was held."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
import warnings

import pytest
import requests

from requests_sf_auth import SalesforceSession
from requests_sf_auth.testing import LocalOrg

from helpers import wait_for


def use_pickled_session(payload: bytes) -> tuple[bool, int, int]:
    """Runs in a worker process: (token held on arrival, status, worker pid)."""
    session: SalesforceSession = pickle.loads(payload)
    held_on_arrival = session.auth.token is not None
    return held_on_arrival, session.get("limits").status_code, os.getpid()


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_pickled_session_works_in_multiprocessing_workers(
    salesforce_org: LocalOrg, method: str
) -> None:
    with salesforce_org.session() as sf:
        sf.get("limits")
        payload = pickle.dumps(sf)
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork() in a multi-threaded process may deadlock the child:
        # exactly what this test proves does not happen to the plugin's own locks.
        warnings.simplefilter("ignore", DeprecationWarning)
        context = multiprocessing.get_context(method)
        with context.Pool(2) as pool:
            results = pool.map(use_pickled_session, [payload] * 4, chunksize=1)
    assert [(held, status) for held, status, _ in results] == [(False, 200)] * 4
    workers = {pid for _, _, pid in results}
    assert os.getpid() not in workers
    # Every unpickled copy fetched its own token, plus the parent's one.
    assert salesforce_org.token_requests == 1 + len(results)


def _fork_and_call(url: str, auth: object) -> int:
    """Fork; the child makes one request with ``auth`` and exits with 0 on HTTP 200.
    Returns the child's exit code, or -1 if it was still running after 20 s (a deadlock)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = 0 if requests.get(url, auth=auth, timeout=10).status_code == 200 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_a_child_forked_while_a_thread_holds_the_lock_does_not_deadlock(
    salesforce_org: LocalOrg,
) -> None:
    auth = salesforce_org.auth()
    lifecycle = auth._lifecycle
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with lifecycle._lock:
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert holding.wait(5)  # the lock is held at fork time
    try:
        code = _fork_and_call(salesforce_org.url + "/services/data/v67.0/limits", auth)
    finally:
        release.set()
        holder.join()
    assert code == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_a_child_forked_during_a_token_fetch_fetches_its_own(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    auth = org.auth()
    org.token_delay = 1.0
    fetcher = threading.Thread(target=auth.fetch_token)
    fetcher.start()
    wait_for(lambda: org.token_requests == 1)  # the parent's fetch has reached the org
    forked_at = time.time()
    code = _fork_and_call(org.url + "/services/data/v67.0/limits", auth)
    fetcher.join()
    assert code == 0
    assert org.token_requests == 2
    # The parent's token was issued after the fork: its fetch was in flight all along.
    parents = org.token_issued_at(auth.token["access_token"])  # type: ignore[index]
    assert parents is not None
    assert parents > forked_at
