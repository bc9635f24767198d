"""Shared token stores: one token for many processes on one machine (a file) and across
machines (Redis), proved with real processes, a real redis-server and the local org."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from requests_sf_auth import SalesforceAuth, SalesforceSession
from requests_sf_auth._stores import (
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    TokenStore,
    store_key,
)
from requests_sf_auth.testing import LocalOrg

PROCESSES, REQUESTS_PER_PROCESS = 8, 50


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, for this module only."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed: apt-get install redis-server (scripts/test does)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    redis.Redis.from_url(redis_url).flushall()
    return redis_url


# -- many processes --------------------------------------------------------------------------


def worker(
    org_url: str, client_id: str, secret: str, store: TokenStore, barrier: Any
) -> tuple[int, int]:
    """One process: half its requests, wait while the org ends the session, the other half.
    Returns (succeeded, failed)."""
    auth = SalesforceAuth(org_url, client_id, secret, token_store=store)
    ok = failed = 0
    with SalesforceSession(auth) as sf:
        for half in range(2):
            for _ in range(REQUESTS_PER_PROCESS // 2):
                if sf.get("limits").status_code == 200:
                    ok += 1
                else:
                    failed += 1
            if half == 0:
                barrier.wait()  # everyone is done with the first half...
                barrier.wait()  # ...and the org has ended every session
    return ok, failed


def run_group(org: LocalOrg, store: TokenStore) -> list[tuple[int, int]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(PROCESSES + 1)
    with context.Pool(PROCESSES) as pool:
        pending = pool.starmap_async(
            worker,
            [(org.url, org.client_id, org.client_secret, store, barrier)] * PROCESSES,
        )
        barrier.wait(timeout=60)
        org.expire_tokens()
        barrier.wait(timeout=60)
        return pending.get(timeout=120)


def test_processes_sharing_a_file_store_cost_two_token_requests(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    results = run_group(salesforce_org, FileTokenStore(tmp_path / "tokens.json"))
    assert results == [(REQUESTS_PER_PROCESS, 0)] * PROCESSES
    assert salesforce_org.token_requests == 2  # the first token, and one after the expiry


def test_processes_sharing_a_redis_store_cost_two_token_requests(
    salesforce_org: LocalOrg, clean_redis: str
) -> None:
    results = run_group(salesforce_org, RedisTokenStore(clean_redis))
    assert results == [(REQUESTS_PER_PROCESS, 0)] * PROCESSES
    assert salesforce_org.token_requests == 2


# -- a holder that dies ----------------------------------------------------------------------


def hold_lock_forever(store: TokenStore, key: str, ready: Any) -> None:
    with store.lock(key):
        ready.set()
        time.sleep(600)


def kill_while_holding_the_lock(store: TokenStore, key: str) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=hold_lock_forever, args=(store, key, ready))
    holder.start()
    assert ready.wait(30)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)


def assert_a_request_gets_the_lock_its_killed_holder_left(
    org: LocalOrg, store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    auth = org.auth(token_store=store)
    kill_while_holding_the_lock(store, store_key(auth.token_url, auth.client_id))
    assert requests.get(org.url + "/services/data/v67.0/limits", auth=auth).ok
    # The lock was acquired, not given up on after the timeout.
    assert "not acquired" not in caplog.text
    assert org.token_requests == 1


def test_a_killed_lock_holder_does_not_block_the_file_store(
    salesforce_org: LocalOrg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A 60 s timeout would show as a warning: the OS releases the lock when its holder dies.
    store = FileTokenStore(tmp_path / "tokens.json", lock_timeout=60)
    assert_a_request_gets_the_lock_its_killed_holder_left(salesforce_org, store, caplog)


def test_a_killed_lock_holder_blocks_the_redis_store_at_most_its_lock_timeout(
    salesforce_org: LocalOrg, clean_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The dead holder's lock expires after 1.5 s; the waiter outlasts that and takes it.
    store = RedisTokenStore(clean_redis, lock_timeout=1.5)
    assert_a_request_gets_the_lock_its_killed_holder_left(salesforce_org, store, caplog)


# -- the file store's own promises -----------------------------------------------------------


def test_file_store_writes_atomically_with_mode_0600_and_never_the_secret(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    auth = salesforce_org.auth(token_store=FileTokenStore(path))
    auth.instance_url
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert salesforce_org.client_secret not in text
    assert salesforce_org.client_id not in text  # keys are hashes
    (record,) = json.loads(text).values()
    assert record["response"]["instance_url"] == salesforce_org.url
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tokens-")] == []


@pytest.mark.parametrize(
    "content", [b"", b"{truncated", b"[1, 2, 3]", b'{"key": "not a record"}', b"\x00\xff binary"]
)
def test_a_corrupt_or_foreign_file_is_treated_as_empty_with_a_warning(
    salesforce_org: LocalOrg, tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    auth = salesforce_org.auth(token_store=FileTokenStore(path))
    assert requests.get(salesforce_org.url + "/services/data/v67.0/limits", auth=auth).ok
    assert salesforce_org.token_requests == 1
    if content not in (b"", b'{"key": "not a record"}'):
        assert "treating it as empty" in caplog.text
    assert json.loads(path.read_text())  # rewritten as a valid store


def test_a_token_from_the_store_is_reused_without_a_token_request(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    first = salesforce_org.auth(token_store=store)
    first.instance_url
    second = salesforce_org.auth(token_store=store)  # a new process would do the same
    assert requests.get(salesforce_org.url + "/services/data/v67.0/limits", auth=second).ok
    assert salesforce_org.token_requests == 1
    assert second.token == first.token


def test_a_revoked_token_is_removed_from_the_store(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    auth = salesforce_org.auth(token_store=store)
    auth.instance_url
    assert auth.revoke()
    assert store.load(store_key(auth.token_url, auth.client_id)) is None


# -- Redis down ------------------------------------------------------------------------------


def test_an_unreachable_redis_falls_back_to_a_local_token_with_a_warning(
    salesforce_org: LocalOrg, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    store = RedisTokenStore(f"redis://127.0.0.1:{dead_port}/0", lock_timeout=1)
    caplog.set_level(logging.WARNING, logger="requests_sf_auth")
    with salesforce_org.session(token_store=store) as sf:
        assert sf.get("limits").status_code == 200
        salesforce_org.expire_tokens()
        assert sf.get("limits").status_code == 200
    assert "unavailable" in caplog.text
    assert salesforce_org.token_requests == 2


def test_redis_records_get_a_ttl_when_the_lifetime_is_known(
    salesforce_org: LocalOrg, clean_redis: str
) -> None:
    store = RedisTokenStore(clean_redis)
    auth = salesforce_org.auth(token_store=store, token_lifetime=3600)
    auth.instance_url
    ttl = redis.Redis.from_url(clean_redis).pttl(store_key(auth.token_url, auth.client_id))
    assert 0 < ttl <= 3600 * 1000


# -- the default ---------------------------------------------------------------------------


def test_without_a_store_each_auth_keeps_its_own_token(salesforce_org: LocalOrg) -> None:
    a, b = salesforce_org.auth(), salesforce_org.auth()
    a.instance_url
    b.instance_url
    assert salesforce_org.token_requests == 2
    assert isinstance(MemoryTokenStore(), TokenStore)


def test_a_memory_store_shares_one_token_between_auths_in_a_process(
    salesforce_org: LocalOrg,
) -> None:
    store = MemoryTokenStore()
    a, b = salesforce_org.auth(token_store=store), salesforce_org.auth(token_store=store)
    a.instance_url
    b.instance_url
    assert salesforce_org.token_requests == 1


def test_token_store_must_look_like_a_store(salesforce_org: LocalOrg) -> None:
    with pytest.raises(ValueError, match="token_store must provide load, save, delete and lock"):
        salesforce_org.auth(token_store={"not": "a store"})
