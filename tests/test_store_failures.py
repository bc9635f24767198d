"""Store failure modes: whatever happens to a token store (a file it cannot write or read, a
full disk, a corrupt record, another user's file, Redis stalled), requests keep working, the
failure costs no token request per request (the process fetches once and reuses its own
token), and the outage costs exactly one warning. Every case runs a real
``SalesforceSession`` against the local org; the cases that need another user or a resource
limit run it in a forked child, which reports back through a pipe."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import requests

from requests_sf_auth import FileTokenStore, MemoryTokenStore, RedisTokenStore, TokenStore
from requests_sf_auth._stores import store_key
from requests_sf_auth._token import _seal
from requests_sf_auth.testing import LocalOrg

from helpers import logged_warnings, run_together

T = TypeVar("T")

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
needs_root = pytest.mark.skipif(
    not ROOT, reason="acting as two users (setuid in a child) needs root"
)

# Users and a group that exist only as numbers: what an operator's service accounts would be.
USER_A, USER_B, SHARED_GROUP = 61001, 61002, 61000


def through_an_expiry(
    org: LocalOrg, store: TokenStore, *, wait: float = 0.0, requests_each_side: int = 10
) -> list[int]:
    """Status codes of requests through one ``SalesforceSession``: a first batch, ``wait``
    seconds, the org ending every session, then a second batch (which needs a renewal)."""
    statuses = []
    with org.session(token_store=store) as sf:
        statuses += [sf.get("limits").status_code for _ in range(requests_each_side)]
        time.sleep(wait)
        org.expire_tokens()
        statuses += [sf.get("limits").status_code for _ in range(requests_each_side)]
    return statuses


def assert_nothing_secret_in(messages: list[str], org: LocalOrg) -> None:
    for message in messages:
        assert org.client_secret not in message
        assert not any(token in message for token in org.live_tokens())


def temporary_files(directory: Path) -> list[str]:
    """The writers' temporary files in ``directory`` (they may hold a token)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- a file the store cannot write -----------------------------------------------------------


def under_a_regular_file(tmp_path: Path) -> Path:
    (tmp_path / "not-a-directory").write_text("")
    return tmp_path / "not-a-directory" / "tokens.json"


def a_directory_in_its_place(tmp_path: Path) -> Path:
    (tmp_path / "tokens.json").mkdir()
    return tmp_path / "tokens.json"


def in_a_read_only_directory(tmp_path: Path) -> Path:
    if ROOT:
        pytest.skip("root writes to read-only directories; the other cases cover root")
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o500)
    return directory / "tokens.json"


@pytest.mark.parametrize(
    "unwritable", [under_a_regular_file, a_directory_in_its_place, in_a_read_only_directory]
)
def test_an_unwritable_store_costs_one_warning_and_no_token_request_per_request(
    salesforce_org: LocalOrg,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    unwritable: Callable[[Path], Path],
) -> None:
    path = unwritable(tmp_path)
    # The renewal comes after the store's pause (its lock_timeout): the store is tried, and
    # fails, again, in the same outage.
    store = FileTokenStore(path, lock_timeout=0.2)
    try:
        statuses = through_an_expiry(salesforce_org, store, wait=0.3)
    finally:
        path.parent.chmod(0o700)  # (so that the read-only case can be cleaned up)
    assert statuses == [200] * 20
    assert salesforce_org.token_requests == 2  # the first token, and one after the expiry
    (warning,) = logged_warnings(caplog)
    assert str(path) in warning
    assert "unavailable" in warning
    assert_nothing_secret_in([r.getMessage() for r in caplog.records], salesforce_org)


def test_a_store_that_raises_when_publishing_still_gives_the_fetched_token(
    salesforce_org: LocalOrg, caplog: pytest.LogCaptureFixture
) -> None:
    class FullStore(MemoryTokenStore):
        """A store of someone else's that breaks the protocol's promise not to raise."""

        def save(self, key: str, record: dict[str, Any], ttl: float | None) -> None:
            raise OSError(28, "No space left on device")

    assert through_an_expiry(salesforce_org, FullStore()) == [200] * 20
    assert salesforce_org.token_requests == 2
    (warning,) = logged_warnings(caplog)
    assert "OSError" in warning


def test_a_store_that_raises_when_reading_still_gives_a_token_with_one_warning(
    salesforce_org: LocalOrg, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenStore(MemoryTokenStore):
        """A store of someone else's whose load() breaks the promise not to raise."""

        def load(self, key: str) -> dict[str, Any] | None:
            raise RuntimeError("a bug in the store")

    assert through_an_expiry(salesforce_org, BrokenStore()) == [200] * 20
    assert salesforce_org.token_requests == 2
    (warning,) = logged_warnings(caplog)
    assert "RuntimeError reading a token" in warning


class LockDown(MemoryTokenStore):
    """A store of someone else's whose lock raises when taken, as a lock server that is down."""

    def lock(self, key: str) -> contextlib.AbstractContextManager[object]:
        raise ConnectionError("the lock server is down")


class LockLost(MemoryTokenStore):
    """A store of someone else's whose lock raises on release, as a lease that ran out."""

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        yield
        raise TimeoutError("the lease ran out")


class CannotDelete(MemoryTokenStore):
    """A store of someone else's whose delete() raises."""

    def delete(self, key: str) -> None:
        raise ConnectionError("the store is down")


@pytest.mark.parametrize("store_class", [LockDown, LockLost], ids=["taking", "releasing"])
def test_a_store_whose_lock_raises_still_gives_a_token_with_one_warning(
    salesforce_org: LocalOrg,
    caplog: pytest.LogCaptureFixture,
    store_class: Callable[[], MemoryTokenStore],
) -> None:
    assert through_an_expiry(salesforce_org, store_class()) == [200] * 20
    assert salesforce_org.token_requests == 2
    (warning,) = logged_warnings(caplog)
    assert "lock" in warning


@pytest.mark.parametrize(
    "store_class", [LockDown, LockLost, CannotDelete], ids=["taking", "releasing", "deleting"]
)
def test_revoking_through_a_store_that_raises_revokes_and_warns(
    salesforce_org: LocalOrg,
    caplog: pytest.LogCaptureFixture,
    store_class: Callable[[], MemoryTokenStore],
) -> None:
    with salesforce_org.session(token_store=store_class()) as sf:
        assert sf.get("limits").status_code == 200
        assert sf.auth.revoke() is True  # revoked at the org; the store's trouble is a warning
        assert salesforce_org.live_tokens() == []
        assert sf.get("limits").status_code == 200  # and the next request fetches anew
    assert len(logged_warnings(caplog)) == 1


@pytest.mark.parametrize("lock_timeout", [1e10, float("nan")])
def test_a_store_whose_lock_timeout_no_timer_can_wait_still_serves_threads_that_wait(
    salesforce_org: LocalOrg, lock_timeout: float
) -> None:
    class OddStore:
        """A store of someone else's: the protocol leaves lock_timeout to each store."""

        def __init__(self) -> None:
            self.records = MemoryTokenStore()
            self.lock_timeout = lock_timeout

        def load(self, key: str) -> dict[str, Any] | None:
            return self.records.load(key)

        def save(self, key: str, record: dict[str, Any], ttl: float | None) -> None:
            self.records.save(key, record, ttl)

        def delete(self, key: str) -> None:
            self.records.delete(key)

        def lock(self, key: str) -> contextlib.AbstractContextManager[object]:
            return self.records.lock(key)

    store = OddStore()
    salesforce_org.token_delay = 0.3  # so that the other threads wait for the first one's fetch
    with salesforce_org.session(token_store=store) as sf:
        assert run_together(6, lambda: sf.get("limits").status_code) == [200] * 6
    assert salesforce_org.token_requests == 1


# -- a corrupt store -------------------------------------------------------------------------


def test_a_corrupt_store_file_costs_one_warning_and_is_replaced(
    salesforce_org: LocalOrg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(b'{"requests-sf-auth:\x00\xff truncated')
    assert through_an_expiry(salesforce_org, FileTokenStore(path)) == [200] * 20
    assert salesforce_org.token_requests == 2
    (warning,) = logged_warnings(caplog)
    assert "corrupt" in warning
    (record,) = json.loads(path.read_text()).values()
    assert record["response"]["instance_url"] == salesforce_org.url


def test_a_corrupt_redis_entry_costs_one_warning_and_is_replaced(
    salesforce_org: LocalOrg, clean_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisTokenStore(clean_redis)
    key = store_key(salesforce_org.auth().token_url, salesforce_org.client_id)
    redis.Redis.from_url(clean_redis).set(key, b"\x00{not json")
    assert through_an_expiry(salesforce_org, store) == [200] * 20
    assert salesforce_org.token_requests == 2
    (warning,) = logged_warnings(caplog)
    assert "corrupt" in warning
    assert store.load(key) is not None


# -- a damaged or tampered record ------------------------------------------------------------


@pytest.fixture(params=["file", "redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> TokenStore:
    """A FileTokenStore, or a RedisTokenStore on the suite's real redis-server, empty."""
    if request.param == "file":
        return FileTokenStore(tmp_path / "tokens.json")
    return RedisTokenStore(request.getfixturevalue("clean_redis"))


def rewrite_record(
    org: LocalOrg, store: TokenStore, change: Callable[[dict[str, Any]], None]
) -> None:
    """Let a process of the org's client publish its token in ``store``, then ``change`` the
    record there, as a damaged byte, or anyone who can write the store, would."""
    with org.session(token_store=store) as sf:
        assert sf.get("limits").status_code == 200
    key = store_key(org.auth().token_url, org.client_id)
    record = store.load(key)
    assert record is not None
    change(record)
    store.save(key, record, None)


@pytest.mark.parametrize("damage", ["\u00e9", "\udcff"], ids=["non-ascii", "lone surrogate"])
def test_a_store_record_whose_seal_is_not_ascii_is_ignored_with_one_warning_and_replaced(
    salesforce_org: LocalOrg,
    shared_store: TokenStore,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    org = salesforce_org
    rewrite_record(org, shared_store, lambda rec: rec.update(seal=damage + rec["seal"][1:]))
    caplog.clear()
    for _ in range(2):  # two processes, one after the other
        with org.session(token_store=shared_store) as sf:
            assert [sf.get("limits").status_code for _ in range(5)] == [200] * 5
    assert org.token_requests == 2  # the publisher's, and one that replaced the damaged record
    (warning,) = logged_warnings(caplog)
    assert "not sealed with this client's secret" in warning


@pytest.mark.parametrize("moment", [10**400, -(10**400)], ids=["huge", "hugely negative"])
def test_a_sealed_store_record_whose_times_no_clock_can_hold_is_used_without_them(
    salesforce_org: LocalOrg,
    shared_store: TokenStore,
    caplog: pytest.LogCaptureFixture,
    moment: int,
) -> None:
    # Only a holder of the secret can seal a record, but an older or buggy one may write
    # anything JSON holds; a time that is no epoch second must not break the readers.
    org = salesforce_org
    endpoint = org.auth()._lifecycle.endpoint

    def change(record: dict[str, Any]) -> None:
        record["received_at"] = record["renew_after"] = moment
        record["seal"] = _seal(record, endpoint)

    rewrite_record(org, shared_store, change)
    caplog.clear()
    with org.session(token_store=shared_store) as sf:
        assert [sf.get("limits").status_code for _ in range(5)] == [200] * 5
    assert org.token_requests == 1  # the record's token was used
    assert logged_warnings(caplog) == []


# -- a stalled Redis -------------------------------------------------------------------------


@pytest.fixture
def stalled_redis() -> Iterator[str]:
    """A server on loopback that accepts connections and never answers: a Redis that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        listener.close()
        for connection in held:
            connection.close()


def test_a_stalled_redis_holds_no_request_past_the_deadline_and_costs_one_warning(
    salesforce_org: LocalOrg, stalled_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisTokenStore(stalled_redis, lock_timeout=2)
    # Threads that wait for another's token request give up at its deadline: the exchange's
    # timeout (2 s), the store's lock_timeout and a second. A store that held the fetching
    # thread longer (a wait for each of locking, reading and publishing: 6 s) would fail them.
    auth = salesforce_org.auth(token_store=store, timeout=(1, 1))
    with salesforce_org.session(auth) as sf:
        first = run_together(8, lambda: sf.get("limits").status_code)
        salesforce_org.expire_tokens()
        after_expiry = run_together(8, lambda: sf.get("limits").status_code)
    assert first == after_expiry == [200] * 8
    assert salesforce_org.token_requests == 2
    (warning,) = logged_warnings(caplog)
    assert "unavailable" in warning


# -- in a child: a full disk, a killed writer, other users -----------------------------------


def in_child(action: Callable[[], T], *, user: int | None = None, limit: int | None = None) -> T:
    """What ``action()`` returns when run in a forked child, as ``user`` (in the shared group)
    when given, and with files limited to ``limit`` bytes when given (the file-size limit fails
    a write as a full disk does, for root too). An exception in the child fails the test."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(reader)
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error (Python's default)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            if user is not None:
                os.setgroups([SHARED_GROUP])
                os.setgid(SHARED_GROUP)
                os.setuid(user)
            outcome: tuple[str, Any] = ("returned", action())
        except BaseException as exc:
            outcome = ("raised", repr(exc))
        with os.fdopen(writer, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        kind, value = pickle.load(pipe)
    os.waitpid(pid, 0)
    assert kind == "returned", f"the child raised {value}"
    result: T = value
    return result


def requests_in_child(
    org: LocalOrg, caplog: pytest.LogCaptureFixture, path: Path, count: int = 10
) -> Callable[[], tuple[list[int], list[str]]]:
    """An action for :func:`in_child`: ``count`` requests with a store at ``path``; returns
    their status codes and the warnings logged meanwhile."""

    def action() -> tuple[list[int], list[str]]:
        caplog.clear()
        with org.session(token_store=FileTokenStore(path)) as sf:
            statuses = [sf.get("limits").status_code for _ in range(count)]
        return statuses, logged_warnings(caplog)

    return action


@pytest.fixture
def warmed_up(salesforce_org: LocalOrg, tmp_path: Path) -> LocalOrg:
    """The org, once this process has loaded every module a request with a file store needs:
    a child that becomes another user can no longer read the interpreter's own files."""
    assert requests.get(salesforce_org.url + "/services/data/").ok
    scratch = FileTokenStore(tmp_path / "warm-up" / "tokens.json")
    with scratch.lock("warm-up"):
        scratch.save("warm-up", {}, 1.0)
    assert scratch.load("warm-up") is not None
    return salesforce_org


@needs_fork
def test_a_full_disk_keeps_the_store_as_it_was_and_costs_one_warning(
    warmed_up: LocalOrg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store" / "tokens.json"
    path.parent.mkdir()
    before = json.dumps({"requests-sf-auth:another-client": {"response": {}}}).encode()
    path.write_bytes(before)
    statuses, warnings = in_child(requests_in_child(warmed_up, caplog, path), limit=16)
    assert statuses == [200] * 10
    assert warmed_up.token_requests == 1
    assert len(warnings) == 1
    assert path.read_bytes() == before
    assert temporary_files(path.parent) == []  # the half-written token went with the error


@needs_fork
def test_a_write_killed_midway_leaves_a_token_only_until_the_next_writer(
    warmed_up: LocalOrg, tmp_path: Path
) -> None:
    path = tmp_path / "store" / "tokens.json"
    path.parent.mkdir()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - killed by the kernel at the file-size limit
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # the kernel kills it mid-write
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
        with warmed_up.session(token_store=FileTokenStore(path)) as sf:
            sf.get("limits")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGXFSZ
    (leftover,) = temporary_files(path.parent)
    assert b"access_token" in (path.parent / leftover).read_bytes()

    with warmed_up.session(token_store=FileTokenStore(path)) as sf:
        assert sf.get("limits").status_code == 200
    assert temporary_files(path.parent) == []
    assert warmed_up.token_requests == 2  # the killed writer published nothing


@pytest.fixture
def open_directory() -> Iterator[Path]:
    """A directory every user can reach (pytest's own temporary directories are private)."""
    directory = Path(tempfile.mkdtemp(prefix="sf-store-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


ANOTHER_CLIENTS_STORE = json.dumps({"requests-sf-auth:another-client": {"response": {}}})


@pytest.fixture
def unreadable_store(open_directory: Path) -> Path:
    """A store file, holding another client's record, in a directory anyone may write, that
    the user a child runs as (:data:`READER`) cannot read."""
    directory = open_directory / "store"
    directory.mkdir()
    directory.chmod(0o777)
    path = directory / "tokens.json"
    path.write_text(ANOTHER_CLIENTS_STORE)
    if ROOT:  # another user's file, read by this one
        os.chown(path, USER_A, USER_A)
        path.chmod(0o600)
    else:  # a user cannot give a file away; a mode of 0 denies it the same way
        path.chmod(0)
    return path


def assert_left_alone(path: Path) -> None:
    """The unreadable store is as it was: the other client's record survives."""
    path.chmod(0o600)  # (readable to this process again, where mode 0 denied it)
    assert path.read_text() == ANOTHER_CLIENTS_STORE
    assert path.stat().st_uid == (USER_A if ROOT else os.getuid())


READER = USER_B if ROOT else None


@needs_fork
def test_a_store_file_this_user_cannot_read_is_left_alone_with_one_warning_naming_the_fix(
    warmed_up: LocalOrg, unreadable_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    action = requests_in_child(warmed_up, caplog, unreadable_store)
    statuses, warnings = in_child(action, user=READER)
    assert statuses == [200] * 10
    assert warmed_up.token_requests == 1
    (warning,) = warnings
    assert "Permission denied" in warning
    assert "chmod 2770" in warning
    assert_left_alone(unreadable_store)


@needs_fork
def test_a_file_store_never_overwrites_a_file_it_cannot_read(unreadable_store: Path) -> None:
    def publish() -> None:
        FileTokenStore(unreadable_store).save("requests-sf-auth:mine", {"response": {}}, None)

    in_child(publish, user=READER)
    assert_left_alone(unreadable_store)


@pytest.fixture
def group_directory(open_directory: Path) -> Callable[[int], Path]:
    """A directory the operator set up for the shared group, with the mode given."""

    def make(mode: int) -> Path:
        directory = open_directory / "shared"
        directory.mkdir()
        os.chown(directory, 0, SHARED_GROUP)
        directory.chmod(mode)
        return directory

    return make


@needs_fork
@needs_root
def test_two_users_share_one_token_through_a_setgid_group_directory(
    warmed_up: LocalOrg, group_directory: Callable[[int], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = group_directory(0o2770) / "tokens.json"

    def with_strict_umask() -> tuple[list[int], list[str]]:
        os.umask(0o077)  # a service's strict umask does not narrow the group's access
        return requests_in_child(warmed_up, caplog, path)()

    assert in_child(with_strict_umask, user=USER_A) == ([200] * 10, [])
    assert in_child(requests_in_child(warmed_up, caplog, path), user=USER_B) == ([200] * 10, [])
    assert warmed_up.token_requests == 1  # the second user read the first one's token
    for made in (path, Path(f"{path}.lock")):
        assert stat.S_IMODE(made.stat().st_mode) == 0o660
        assert made.stat().st_gid == SHARED_GROUP


@needs_fork
@needs_root
def test_two_users_in_a_group_directory_without_setgid_get_one_warning_naming_the_fix(
    warmed_up: LocalOrg, group_directory: Callable[[int], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = group_directory(0o770) / "tokens.json"
    assert in_child(requests_in_child(warmed_up, caplog, path), user=USER_A) == ([200] * 10, [])
    statuses, warnings = in_child(requests_in_child(warmed_up, caplog, path), user=USER_B)
    assert statuses == [200] * 10
    assert warmed_up.token_requests == 2  # each user its own token
    (warning,) = warnings
    assert "Permission denied" in warning
    assert "chmod 2770" in warning
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # not shared, so owner only
