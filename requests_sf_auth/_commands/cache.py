"""The command line's token cache: what lets five ``request`` runs cost one token request, the
way the Salesforce CLI keeps its auth between runs.

Each domain and client id get a file of their own, named by a hash of the two, in the user's
cache directory: ``$XDG_CACHE_HOME/requests-sf-auth``, else the platform's (``~/.cache``,
``~/Library/Caches``, ``%LOCALAPPDATA%``). It is written through
:class:`~requests_sf_auth.FileTokenStore`, so concurrent runs share one token and a rejected
one is replaced once. The directory is kept at mode 0700 and the files at 0600; they hold the
token response, never the client secret. A cache that cannot be used costs one warning, never
the command: the run goes on with a token of its own (``FileTokenStore`` degrades that way by
itself once the directory is in place).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .._file_store import FileTokenStore
from .._stores import TokenStore, store_key

__all__ = ["cache_dir", "open_cache"]

log = logging.getLogger(__name__)

_DIR_NAME = "requests-sf-auth"
_UNUSABLE = (
    "the token cache in %s cannot be used (%s); going on without it, so each run asks for a "
    "token of its own (--no-cache skips the cache and this warning)"
)


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where cached tokens live: ``$XDG_CACHE_HOME/requests-sf-auth`` when that variable is
    an absolute path (the XDG spec says to ignore a relative one), else under the platform's
    user cache directory."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path.home() / ".cache"
    return base / _DIR_NAME


def open_cache(token_url: str, client_id: str, *, lock_timeout: float) -> TokenStore | None:
    """The cache for one domain (its token URL) and client id, ready for
    ``SalesforceAuth(token_store=...)``, or ``None``, after one warning, when its directory
    cannot be made private and writable. Never raises for the state of the file system."""
    directory = cache_dir()
    name = store_key(token_url, client_id).rsplit(":", 1)[-1]
    path = directory / f"{name}.json"
    try:
        _prepare(directory, path)
    except OSError as exc:
        log.warning(_UNUSABLE, directory, _reason(exc))
        return None
    # The store forgives its own failures to read, lock or write, with one warning.
    return FileTokenStore(path, lock_timeout=lock_timeout)


def _prepare(directory: Path, path: Path) -> None:
    """Create the directory (0700, and its parent too, as the XDG spec asks of a cache base it
    creates) and the lock file (0600), tighten what exists to 0700 and 0600, and raise
    ``OSError`` for what cannot be used: something other than a directory or a regular file in
    their place, or no write access."""
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, exist_ok=True)
    _keep_private(directory, 0o700, stat.S_ISDIR, "is not a directory")
    lock = path.with_name(path.name + ".lock")  # FileTokenStore's lock file
    for private in (path, lock):
        if private.exists() or private.is_symlink():
            _keep_private(private, 0o600, stat.S_ISREG, "is not a regular file")
    if not lock.exists():
        # filelock would create it readable by all; it holds nothing, but made here it is
        # 0600 like the rest, and filelock keeps the mode of a lock file that exists.
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "not writable", str(directory))


def _keep_private(path: Path, mode: int, is_kind: Callable[[int], bool], problem: str) -> None:
    status = path.stat()
    if not is_kind(status.st_mode):
        raise OSError(errno.EINVAL, problem, str(path))
    # Left readable by others (created by another tool, or copied), it would show the token.
    if stat.S_IMODE(status.st_mode) & 0o077:
        os.chmod(path, mode)


def _reason(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
