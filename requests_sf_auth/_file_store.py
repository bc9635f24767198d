"""``FileTokenStore``: tokens shared by the processes of one machine through one JSON file."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._backoff import LONGEST_WAIT, seconds
from ._stores import DEFAULT_TTL, Record, _fresh, _Health, _lifetime, _stamped

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["FileTokenStore"]

log = logging.getLogger(__name__)


_PRIVATE_MODE = 0o600
_SHARED_MODE = 0o660


def _file_mode(directory: Path) -> int:
    """The mode of the store's files in ``directory``: group read and write in a directory an
    operator set up for a group (group-writable and setgid, so that every file in it belongs
    to that group), owner only anywhere else. The umask does not narrow it: a service's usual
    umask would take the group's write access and break the sharing the directory was made for."""
    mode = directory.stat().st_mode
    shared = mode & stat.S_ISGID and mode & stat.S_IWGRP
    return _SHARED_MODE if shared else _PRIVATE_MODE


class _SharedLocks:
    """The lock object of each lock file in this process, shared by every store on that path.

    A filelock lock lets the thread that holds it take it again only through the same object:
    a thread holding the file through one store (a log handler calling the org for another
    client mid-fetch) would otherwise wait ``lock_timeout`` for itself through another. The
    objects belong to the process that made them: filelock 4 refuses one inherited across
    ``fork()``, so a child starts with none."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, BaseFileLock] = weakref.WeakValueDictionary()
        self._guard = threading.Lock()

    def get(self, name: str, make: Callable[[], BaseFileLock]) -> BaseFileLock:
        """The lock object for the lock file ``name`` (resolved), made by ``make`` if none."""
        with self._guard:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = make()
            return lock

    def after_fork_in_child(self) -> None:
        # A parent thread may hold the guard at fork time; the child has no such thread.
        self._guard = threading.Lock()
        self._locks = weakref.WeakValueDictionary()


_SHARED_LOCKS = _SharedLocks()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_SHARED_LOCKS.after_fork_in_child)


_MAX_FILE = 1024 * 1024
"""Bytes of a store file that are read: a record is about 1 KiB; anything larger is not ours."""


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file no larger than :data:`_MAX_FILE`.

    Opened without following a symlink and without blocking, so that a FIFO, a device or a
    link planted in a shared directory can neither hang the fetch that holds the store's lock
    nor feed it without end. Raises ``OSError`` for anything else, which the store reports as
    a failure to read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > _MAX_FILE:
            raise OSError(errno.EFBIG, f"larger than {_MAX_FILE} bytes", str(path))
        return file.read(_MAX_FILE + 1)[:_MAX_FILE]


def _store_path(path: object) -> str:
    """``path`` as the text of a file's path. ``ValueError`` for what names no file: ``None``,
    bytes, an empty path, or one with a NUL, which every file system call would refuse with a
    ``ValueError`` of its own, on every request."""
    try:
        text = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        text = None
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ValueError(
            "path must be the store file's path, a str or os.PathLike such as "
            f"'/run/myapp/tokens.json', not {path!r}"
        )
    return text


class FileTokenStore:
    """Shares tokens between the processes of one machine through one JSON file.

    ``path`` holds every client's record (keyed by :func:`store_key`); ``path + ".lock"`` is a
    cross-process lock from ``filelock``, which the operating system releases when a holder
    dies, so a killed process never blocks the others. If the lock cannot be had within
    ``lock_timeout`` seconds, the caller proceeds without it (with a warning).

    Writes go to a temporary file (``.NAME.*.tmp`` beside ``path``) that replaces ``path``
    atomically; a write that fails removes it, and the files that writers killed mid-write left
    (they may hold a live token) are removed by the next writer that holds the lock. Each write
    also drops the records that expired.

    Permissions: the files are created with mode 0600, since they hold live tokens. To share a
    store between users, put it in a directory that belongs to a group they are all in and is
    group-writable and setgid, but not sticky (``chgrp GROUP DIR && chmod 2770 DIR``): there
    the files are created with mode 0660, whatever the umask. A user that cannot read or write
    the files gets one warning that names the permission and this fix.

    Failures never reach the request: a corrupt, truncated or foreign file is treated as empty
    (one warning per content); a file that cannot be read is neither used nor overwritten, so
    the other clients' records in it survive; a file that cannot be written (a read-only or
    missing directory, a full disk) costs the publication only. Each process then uses a token
    of its own, the outage costs one warning, and the store is left alone for ``lock_timeout``
    seconds. ``path`` must name a file (a ``str`` or ``os.PathLike``), ``lock_timeout`` be
    positive seconds up to a day and ``ttl`` positive seconds (``ValueError`` otherwise).

    Safe to use from any number of threads and processes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float | timedelta = 30.0,
        ttl: float | timedelta = DEFAULT_TTL,
    ) -> None:
        lock_wait = seconds("lock_timeout", lock_timeout, longest=LONGEST_WAIT)
        self._setup(_store_path(path), lock_wait, seconds("ttl", ttl))

    def _setup(self, path: str | os.PathLike[str], lock_timeout: float, ttl: float) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.ttl = ttl
        self._filelock: tuple[int, BaseFileLock] | None = None  # made by this process id
        self._holder = threading.local()  # whether this thread holds the lock
        self._health = _Health(str(self.path), lock_timeout)
        self._corrupt_seen = b""

    def load(self, key: str) -> Record | None:
        if self._health.skipping():
            return None
        data = self._read("reading")
        return None if data is None else _fresh(data.get(key))

    def save(self, key: str, record: Record, ttl: float | None) -> None:
        if self._health.skipping():
            return
        data = self._read("publishing")
        if data is None:
            return
        kept = {k: v for k, v in data.items() if _fresh(v) is not None}
        kept[key] = _stamped(record, _lifetime(ttl, self.ttl))
        self._write(kept, "publishing")

    def delete(self, key: str) -> None:
        if self._health.skipping():
            return
        data = self._read("deleting")
        if data is not None and data.pop(key, None) is not None:
            self._write(data, "deleting")

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        from filelock import Timeout

        if self._health.skipping():
            yield None
            return
        try:
            filelock = self._lock_file()
            # (The timeout of this store, not of the one that made the shared lock object.)
            filelock.acquire(timeout=self.lock_timeout)
        except Timeout:  # (a TimeoutError, so an OSError: it comes first)
            log.warning(
                "token store lock %s.lock not acquired within %g s; going on without it",
                self.path,
                self.lock_timeout,
            )
            yield None
            return
        except OSError as exc:
            self._health.failed("locking", exc)
            yield None
            return
        self._holder.locked = True
        try:
            yield None
        finally:
            self._holder.locked = False
            # Closing the descriptor releases the lock whatever happens.
            with contextlib.suppress(OSError):
                filelock.release()

    def _record_identity(self, key: str) -> Hashable:
        """The record in this file, however the file's directory is spelled."""
        return ("file", self._resolved(), key)

    def _resolved(self) -> str:
        # The directory only: filelock refuses a lock file that is a symlink, and the file's
        # own name must not be resolved through a link planted in its place.
        return os.path.join(os.path.realpath(self.path.parent), self.path.name)

    def _directory(self) -> Path:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _lock_file(self) -> BaseFileLock:
        made, pid = self._filelock, os.getpid()
        if made is not None and made[0] == pid:
            return made[1]
        # None yet, or the parent's, inherited across fork(): a lock of this process's own.
        from filelock import FileLock

        mode = _file_mode(self._directory())
        filelock = _SHARED_LOCKS.get(
            f"{self._resolved()}.lock",
            lambda: FileLock(f"{self.path}.lock", timeout=self.lock_timeout, mode=mode),
        )
        self._filelock = (pid, filelock)
        return filelock

    def _read(self, doing: str) -> dict[str, Any] | None:
        """Every record in the file: ``{}`` when there is none yet or the file is corrupt,
        ``None`` when it cannot be read."""
        try:
            raw = _read_regular_file(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._health.failed(doing, exc)
            return None
        try:
            data = json.loads(raw)  # undecodable bytes raise ValueError too
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
            data = None
        if isinstance(data, dict):
            return data
        digest = hashlib.sha256(raw).digest()
        if digest != self._corrupt_seen:  # (not again when the same content is read to save)
            self._corrupt_seen = digest
            log.warning(
                "token store %s is corrupt or foreign; treating it as empty until a token "
                "published replaces it",
                self.path,
            )
        return {}

    def _write(self, data: dict[str, Any], doing: str) -> None:
        try:
            directory = self._directory()
            if getattr(self._holder, "locked", False):
                self._sweep(directory)
            mode = _file_mode(directory)
            # mkstemp creates the file with mode 0600, which the rename carries over.
            fd, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            self._health.failed(doing, exc)
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if mode != _PRIVATE_MODE:
                    os.fchmod(handle.fileno(), mode)
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException as exc:
            # Whatever stopped the write, no file holding a token is left behind.
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if not isinstance(exc, OSError):
                raise
            self._health.failed(doing, exc)
        else:
            self._health.worked()

    def _sweep(self, directory: Path) -> None:
        """Remove the temporary files of writers that died mid-write. Called only under the
        lock, which dies with its holder: a temporary file there is a dead writer's, or, at
        worst, one of a writer that gave up waiting for the lock, which then fails to publish
        (with a warning) and keeps its token."""
        for leftover in directory.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "lock_timeout": self.lock_timeout, "ttl": self.ttl}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["path"], state["lock_timeout"], state.get("ttl", DEFAULT_TTL))

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"
