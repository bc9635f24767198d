"""An auth or session crosses process boundaries safely: pickled into multiprocessing workers
under spawn and fork, and used in a child after ``os.fork()`` while a lock was held."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from requests_sf_auth import FileTokenStore, SalesforceSession
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


def run_forked(calls: list[Callable[[], int]]) -> list[int]:
    """Fork one child per call, all at once; each runs its call and exits with its result
    (an HTTP status, less 100, as an exit code); returns them in order. A child still running
    after 20 s (a deadlock) is killed and counts as -1."""
    children = []
    go_read, go_write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for call in calls:
            pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    os.close(go_write)
                    os.read(go_read, 1)  # every child starts once all exist
                    code = call() - 100
                finally:
                    os._exit(code)
            children.append(pid)
    os.close(go_read)
    os.write(go_write, b"x" * len(calls))
    os.close(go_write)
    deadline = time.monotonic() + 20
    codes = []
    for pid in children:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes.append(os.waitstatus_to_exitcode(status) + 100)
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                codes.append(-1)
                break
            time.sleep(0.05)
    return codes


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
        url = salesforce_org.url + "/services/data/v67.0/limits"
        codes = run_forked([lambda: requests.get(url, auth=auth, timeout=10).status_code])
    finally:
        release.set()
        holder.join()
    assert codes == [200]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_a_child_forked_during_a_token_fetch_fetches_its_own(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    auth = org.auth()
    org.token_delay = 1.0
    fetcher = threading.Thread(target=auth.fetch_token)
    fetcher.start()
    wait_for(lambda: org.token_requests == 1)  # the parent's fetch has reached the org
    forked_at = time.time()
    url = org.url + "/services/data/v67.0/limits"
    codes = run_forked([lambda: requests.get(url, auth=auth, timeout=10).status_code])
    fetcher.join()
    assert codes == [200]
    assert org.token_requests == 2
    # The parent's token was issued after the fork: its fetch was in flight all along.
    parents = org.token_issued_at(auth.token["access_token"])  # type: ignore[index]
    assert parents is not None
    assert parents > forked_at


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_workers_forked_after_the_parent_used_a_file_store_renew_once_for_all(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    # gunicorn --preload: the parent builds the auth, uses it, then forks its workers.
    org = salesforce_org
    auth = org.auth(token_store=FileTokenStore(tmp_path / "tokens.json"))
    url = org.url + "/services/data/v67.0/limits"
    assert requests.get(url, auth=auth, timeout=10).status_code == 200
    org.expire_tokens()
    org.token_delay = 0.3  # the workers' renewals overlap: one fetches, the others wait
    codes = run_forked([lambda: requests.get(url, auth=auth, timeout=10).status_code] * 4)
    assert codes == [200] * 4
    assert org.token_requests == 2  # the parent's first token, then one for the four
