"""Shared token stores: one token for many processes on one machine (a file) and across
machines (Redis), proved with real processes, a real redis-server and the local org."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from redis.connection import SSLConnection, UnixDomainSocketConnection

from requests_sf_auth import (
    FileTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    SalesforceAuth,
    SalesforceAuthError,
    SalesforceSession,
    TokenStore,
)
from requests_sf_auth._stores import DEFAULT_TTL, store_key
from requests_sf_auth.testing import LocalOrg

from helpers import logged_warnings, logger_at_debug, run_watched, wait_for

PROCESSES, REQUESTS_PER_PROCESS = 8, 50


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
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


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
    (warning,) = logged_warnings(caplog)  # one outage, one warning
    assert "unavailable" in warning
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
    with pytest.raises(ValueError, match=r"provides load, save, delete and lock.*not dict"):
        salesforce_org.auth(token_store={"not": "a store"})


# -- records expire --------------------------------------------------------------------------


@dataclass
class StoreKind:
    """One kind of store, made fresh for a test, and how to read a record's remaining life."""

    name: str
    make: Callable[..., TokenStore]
    redis_url: str | None = None

    def seconds_left(self, store: TokenStore, key: str) -> float:
        if self.redis_url is not None:
            return float(redis.Redis.from_url(self.redis_url).pttl(key)) / 1000
        record = store.load(key)
        assert record is not None
        return float(record["store_expires_at"]) - time.time()


@pytest.fixture(params=["memory", "file", "redis"])
def store_kind(request: pytest.FixtureRequest, tmp_path: Path) -> StoreKind:
    if request.param == "memory":
        return StoreKind("memory", MemoryTokenStore)
    if request.param == "file":
        return StoreKind("file", lambda **kw: FileTokenStore(tmp_path / "tokens.json", **kw))
    url: str = request.getfixturevalue("clean_redis")
    return StoreKind("redis", lambda **kw: RedisTokenStore(url, **kw), redis_url=url)


def test_a_record_expires_after_the_stores_ttl_when_the_token_lifetime_is_unknown(
    salesforce_org: LocalOrg, store_kind: StoreKind
) -> None:
    store = store_kind.make(ttl=0.5)
    publisher = salesforce_org.auth(token_store=store)
    publisher.instance_url
    key = store_key(publisher.token_url, publisher.client_id)
    assert store.load(key) is not None
    wait_for(lambda: store.load(key) is None)
    if store_kind.redis_url is not None:  # gone from Redis, not merely ignored
        assert redis.Redis.from_url(store_kind.redis_url).exists(key) == 0
    latecomer = salesforce_org.auth(token_store=store)
    assert requests.get(salesforce_org.url + "/services/data/v67.0/limits", auth=latecomer).ok
    assert salesforce_org.token_requests == 2  # the latecomer found nothing to share


def test_records_expire_by_default_and_sooner_when_the_token_lifetime_is_known(
    salesforce_org: LocalOrg, store_kind: StoreKind
) -> None:
    store = store_kind.make()
    unknown = salesforce_org.auth(token_store=store)
    unknown.instance_url
    key = store_key(unknown.token_url, unknown.client_id)
    assert DEFAULT_TTL - 60 < store_kind.seconds_left(store, key) <= DEFAULT_TTL
    known = salesforce_org.auth(token_store=store, token_lifetime=600, leeway=60)
    known.fetch_token()
    assert 500 < store_kind.seconds_left(store, key) <= 600


def test_a_file_store_drops_expired_records_when_it_writes(
    salesforce_org: LocalOrg, other_host: LocalOrg, tmp_path: Path
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json", ttl=0.5)
    gone = salesforce_org.auth(token_store=store)
    gone.instance_url
    wait_for(lambda: store.load(store_key(gone.token_url, gone.client_id)) is None)
    kept = other_host.auth(token_store=store)
    kept.instance_url
    records = json.loads((tmp_path / "tokens.json").read_text())
    assert list(records) == [store_key(kept.token_url, kept.client_id)]


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda path: FileTokenStore(path, ttl=0), "ttl"),
        (lambda path: FileTokenStore(path, lock_timeout=-1), "lock_timeout"),
        (lambda path: MemoryTokenStore(ttl="2h"), "ttl"),
        (lambda path: MemoryTokenStore(lock_timeout=0), "lock_timeout"),
        (lambda path: RedisTokenStore("redis://127.0.0.1:1/0", ttl=float("inf")), "ttl"),
    ],
    ids=["zero ttl", "negative lock_timeout", "ttl as text", "zero lock_timeout", "infinite ttl"],
)
def test_store_durations_that_are_not_positive_seconds_are_refused_naming_them(
    tmp_path: Path, make: Callable[[Path], TokenStore], named: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{named} must be a positive number of seconds"):
        make(tmp_path / "tokens.json")


@pytest.mark.parametrize(
    "make",
    [
        lambda path: FileTokenStore(path, lock_timeout=1e10),
        lambda path: RedisTokenStore("redis://127.0.0.1:1/0", lock_timeout=86401),
    ],
    ids=["file", "redis"],
)
def test_a_lock_timeout_longer_than_a_day_is_refused_naming_the_longest(
    tmp_path: Path, make: Callable[[Path], TokenStore]
) -> None:
    # Longer, the wait of a thread for another's token request overflows Python's timers.
    with pytest.raises(ValueError, match=r"^lock_timeout must be at most 86400 seconds"):
        make(tmp_path / "tokens.json")


@pytest.mark.parametrize("path", [None, b"/tmp/tokens.json", "", "tokens\x00.json"])
def test_a_file_store_path_that_names_no_file_is_refused_at_construction(path: Any) -> None:
    with pytest.raises(ValueError, match=r"^path must be the store file's path"):
        FileTokenStore(path)


@pytest.mark.parametrize("option", ["store ttl", "token_lifetime"])
def test_a_record_lifetime_beyond_what_redis_holds_is_cut_to_a_year_and_shared(
    salesforce_org: LocalOrg, clean_redis: str, caplog: pytest.LogCaptureFixture, option: str
) -> None:
    if option == "store ttl":
        store, extra = RedisTokenStore(clean_redis, ttl=1e308), {}
    else:
        store, extra = RedisTokenStore(clean_redis), {"token_lifetime": 1e308}
    first = salesforce_org.auth(token_store=store, **extra)
    first.instance_url
    salesforce_org.auth(token_store=store, **extra).instance_url
    assert salesforce_org.token_requests == 1  # the second auth took the first one's token
    assert logged_warnings(caplog) == []
    key = store_key(first.token_url, first.client_id)
    assert 0 < redis.Redis.from_url(clean_redis).pttl(key) <= 365 * 86400 * 1000


# -- Redis in other processes and on slow networks -------------------------------------------

REDIS_PASSWORD = "redis-password-never-in-cleartext"


@dataclass
class PrivateRedis:
    """A redis-server that wants a password and takes connections only over TLS (verified
    with its own CA) and through a Unix socket: no plain TCP port at all."""

    tls_port: int
    ca_bundle: str
    unix_socket: str


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    import trustme

    directory = tmp_path_factory.mktemp("redis")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    certificate.private_key_pem.write_to_path(str(directory / "key.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed: apt-get install redis-server (scripts/test does)"
    server = subprocess.Popen(
        [
            binary,
            *("--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
            *("--tls-cert-file", str(directory / "cert.pem")),
            *("--tls-key-file", str(directory / "key.pem")),
            *("--tls-ca-cert-file", str(directory / "ca.pem"), "--tls-auth-clients", "no"),
            *("--unixsocket", str(directory / "redis.sock"), "--unixsocketperm", "700"),
            *("--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    private = PrivateRedis(port, str(directory / "ca.pem"), str(directory / "redis.sock"))
    try:
        client = tls_client(private)
        for _ in range(100):
            if server.poll() is not None:
                output = server.stdout.read() if server.stdout else ""
                pytest.skip(f"this redis-server cannot serve TLS: {output[-300:]}")
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield private
    finally:
        server.terminate()
        server.wait(10)


def tls_client(private: PrivateRedis) -> redis.Redis:
    return redis.Redis(
        port=private.tls_port,
        password=REDIS_PASSWORD,
        ssl=True,
        ssl_ca_certs=private.ca_bundle,
        socket_timeout=5,
    )


@pytest.mark.parametrize(
    ("connect", "connection_class"),
    [
        (tls_client, SSLConnection),
        (
            lambda private: (
                f"rediss://:{REDIS_PASSWORD}@127.0.0.1:{private.tls_port}/0"
                f"?ssl_ca_certs={private.ca_bundle}"
            ),
            SSLConnection,
        ),
        pytest.param(
            lambda private: redis.Redis(
                unix_socket_path=private.unix_socket, password=REDIS_PASSWORD, socket_timeout=5
            ),
            UnixDomainSocketConnection,
            marks=pytest.mark.skipif(
                redis.__version__ == "4.5.0",
                reason="redis-py 4.5.0 cannot talk over Unix sockets (no _command_packer)",
            ),
        ),
    ],
    ids=["TLS client", "TLS URL", "Unix socket client"],
)
def test_a_pickled_redis_store_connects_the_way_the_original_did(
    salesforce_org: LocalOrg,
    private_redis: PrivateRedis,
    caplog: pytest.LogCaptureFixture,
    connect: Callable[[PrivateRedis], Any],
    connection_class: type[Any],
) -> None:
    store = RedisTokenStore(connect(private_redis))
    salesforce_org.auth(token_store=store).instance_url  # publishes the token
    copy = pickle.loads(pickle.dumps(store))  # as a spawned worker receives it
    with salesforce_org.session(token_store=copy) as sf:
        assert sf.get("limits").status_code == 200
    assert salesforce_org.token_requests == 1  # the copy read the published token
    assert logged_warnings(caplog) == []
    assert copy._client.connection_pool.connection_class is connection_class


class _LockedCredentials(redis.CredentialProvider):
    """Credentials that live in this process only (they hold a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def get_credentials(self) -> tuple[str, str]:
        return ("default", REDIS_PASSWORD)


class _TracedConnection(redis.Connection):
    """A connection class of the application's own."""


@pytest.mark.parametrize(
    ("client", "named"),
    [
        (lambda: redis.Redis(credential_provider=_LockedCredentials()), "credential_provider"),
        (
            lambda: redis.Redis(
                connection_pool=redis.ConnectionPool(
                    connection_class=_TracedConnection, password=REDIS_PASSWORD
                )
            ),
            "_TracedConnection",
        ),
    ],
    ids=["credentials that cannot be pickled", "a custom connection class"],
)
def test_pickling_a_redis_store_it_could_not_rebuild_faithfully_is_refused_naming_why(
    client: Callable[[], Any], named: str
) -> None:
    with pytest.raises(TypeError, match=f"cannot be pickled: .*{named}.*URL") as refused:
        pickle.dumps(RedisTokenStore(client()))
    assert REDIS_PASSWORD not in str(refused.value)


def test_a_redis_client_without_a_socket_timeout_gets_one_warning_naming_the_fix(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    RedisTokenStore(redis.Redis.from_url(redis_url, socket_timeout=5))
    assert logged_warnings(caplog) == []
    RedisTokenStore(redis.Redis.from_url(redis_url, socket_timeout=None))
    (warning,) = logged_warnings(caplog)
    assert "socket_timeout" in warning


def test_a_file_store_creates_its_directory_when_it_is_missing(
    salesforce_org: LocalOrg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "not" / "there" / "yet" / "tokens.json"
    auth = salesforce_org.auth(token_store=FileTokenStore(path))
    assert requests.get(salesforce_org.url + "/services/data/v67.0/limits", auth=auth).ok
    assert json.loads(path.read_text())  # published, not merely used
    assert logged_warnings(caplog) == []


# -- a log handler that calls the org during a token request ---------------------------------


class CallsTheOrg(logging.Handler):
    """An audit handler: calls the org (``call()``) for each record, as one that ships its
    records there would. A record logged during that call is not shipped again."""

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__(logging.DEBUG)
        self.call = call
        self.outcomes: list[object] = []  # what each call returned, or raised
        self._calling = threading.local()

    def createLock(self) -> None:
        # No lock: a thread stuck in emit (the deadlock these tests catch) would otherwise
        # hold up the interpreter's exit, where logging flushes every handler under its lock.
        # (Not None: Python 3.13's Handler.handle enters the lock as a context manager.)
        self.lock = contextlib.nullcontext()  # type: ignore[assignment]

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._calling, "now", False):
            return
        self._calling.now = True
        try:
            self.outcomes.append(self.call())
        except requests.RequestException as exc:  # a handler that fails is fine
            self.outcomes.append(exc)
        finally:
            self._calling.now = False


@pytest.fixture
def urllib3_logger() -> Iterator[logging.Logger]:
    """urllib3's logger at DEBUG, which it logs to inside every token request."""
    with logger_at_debug("urllib3") as logger:
        yield logger


@pytest.mark.parametrize(
    ("store_kind", "stores"),
    [("memory", 1), ("file", 1), ("redis", 1), ("file", 2), ("redis", 2)],
    ids=["memory", "file", "redis", "two file stores on one path", "two redis stores"],
    indirect=["store_kind"],
)
def test_a_log_handler_needing_the_token_another_auth_on_the_store_fetches_is_refused_at_once(
    salesforce_org: LocalOrg,
    store_kind: StoreKind,
    stores: int,
    urllib3_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    org = salesforce_org
    first = store_kind.make()
    second = first if stores == 1 else store_kind.make()  # a second object, the same record
    audit = org.session(org.auth(token_store=second))
    handler = CallsTheOrg(lambda: audit.get("limits").status_code)
    urllib3_logger.addHandler(handler)

    def request() -> int:
        with org.session(org.auth(token_store=first)) as sf:
            return sf.get("limits").status_code

    # Under the store's lock, the first auth's token request logs; the handler's request
    # needs the very token being fetched, through an auth of its own.
    assert run_watched(20, request) == [200]
    refused = [o for o in handler.outcomes if isinstance(o, SalesforceAuthError)]
    assert refused
    assert all("not waiting for itself" in str(o) for o in refused)
    assert all(o == 200 for o in handler.outcomes if o not in refused)  # after the fetch
    urllib3_logger.removeHandler(handler)
    assert audit.get("limits").status_code == 200  # it took the published token
    assert org.token_requests == 1
    assert "not acquired" not in caplog.text  # refused, not made to wait for the lock


def test_a_handler_on_the_file_locks_own_log_needing_the_token_is_refused_at_once(
    salesforce_org: LocalOrg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # filelock logs at DEBUG as it takes and releases the lock: before the auth marks the
    # record held, and after it unmarks it, a handler there would slip past the refusal.
    org = salesforce_org
    path = tmp_path / "tokens.json"
    audit = org.session(org.auth(token_store=FileTokenStore(path)))
    handler = CallsTheOrg(lambda: audit.get("limits").status_code)
    with logger_at_debug("filelock") as logger:
        logger.addHandler(handler)
        with org.session(org.auth(token_store=FileTokenStore(path))) as sf:
            assert run_watched(20, lambda: sf.get("limits").status_code) == [200]
    refused = [o for o in handler.outcomes if isinstance(o, SalesforceAuthError)]
    assert refused
    assert all("not waiting for itself" in str(o) for o in refused)
    assert all(o == 200 for o in handler.outcomes if o not in refused)  # after the fetch
    assert org.token_requests == 1
    assert "raised" not in caplog.text  # no lock taken twice, no store taken for broken


@pytest.mark.parametrize("store_kind", ["memory", "redis"], indirect=True)
def test_revoking_from_a_log_handler_during_a_token_request_on_the_store_does_not_wait(
    salesforce_org: LocalOrg, store_kind: StoreKind, urllib3_logger: logging.Logger
) -> None:
    org = salesforce_org
    store = store_kind.make()
    revoked, fetching = org.auth(token_store=store), org.auth(token_store=store)
    old = revoked.fetch_token()["access_token"]
    handler = CallsTheOrg(revoked.revoke)
    urllib3_logger.addHandler(handler)
    # The revocation runs inside the fetch, which holds the store's lock.
    (new,) = run_watched(20, lambda: fetching.fetch_token()["access_token"])
    urllib3_logger.removeHandler(handler)
    assert handler.outcomes[0] is True
    assert old not in org.live_tokens()
    key = store_key(fetching.token_url, fetching.client_id)
    assert (store.load(key) or {})["response"]["access_token"] == new  # published after


def test_file_stores_on_one_path_let_a_log_handler_fetch_another_clients_token_at_once(
    salesforce_org: LocalOrg,
    other_host: LocalOrg,
    tmp_path: Path,
    urllib3_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "tokens.json"
    audit = other_host.session(other_host.auth(token_store=FileTokenStore(path, lock_timeout=10)))
    handler = CallsTheOrg(lambda: audit.get("limits").status_code)
    urllib3_logger.addHandler(handler)

    def request() -> int:
        auth = salesforce_org.auth(token_store=FileTokenStore(path, lock_timeout=10))
        with salesforce_org.session(auth) as sf:
            return sf.get("limits").status_code

    # The handler's client has a record of its own in the file whose lock this thread holds.
    assert run_watched(20, request) == [200]
    urllib3_logger.removeHandler(handler)
    assert handler.outcomes
    assert set(handler.outcomes) == {200}
    assert "not acquired" not in caplog.text  # the thread took its own lock again at once
    assert (salesforce_org.token_requests, other_host.token_requests) == (1, 1)
    assert len(json.loads(path.read_text())) == 2  # both records published


def test_memory_store_auths_whose_handlers_call_each_others_client_wait_at_most_lock_timeout(
    salesforce_org: LocalOrg,
    other_host: LocalOrg,
    urllib3_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryTokenStore(lock_timeout=1)
    mine = threading.local()  # in each thread, a session for the other client on the store
    both_fetching = threading.Barrier(2, timeout=10)

    def call_the_other_client() -> int:
        if not getattr(mine, "met", False):
            mine.met = True
            both_fetching.wait()  # each thread now holds the lock the other one is to ask for
        return int(mine.other.get("limits").status_code)

    handler = CallsTheOrg(call_the_other_client)
    urllib3_logger.addHandler(handler)

    def request(org: LocalOrg, other: LocalOrg) -> int:
        mine.other = other.session(other.auth(token_store=store))
        with org.session(org.auth(token_store=store)) as sf:
            return sf.get("limits").status_code

    outcomes = run_watched(
        20,
        lambda: request(salesforce_org, other_host),
        lambda: request(other_host, salesforce_org),
    )
    urllib3_logger.removeHandler(handler)
    assert outcomes == [200, 200]
    assert handler.outcomes
    assert set(handler.outcomes) == {200}
    waited = [w for w in logged_warnings(caplog) if "not acquired within 1 s" in w]
    assert len(waited) == 2
    # Each handler went on without the lock, at the cost of one more token request.
    assert (salesforce_org.token_requests, other_host.token_requests) == (2, 2)
