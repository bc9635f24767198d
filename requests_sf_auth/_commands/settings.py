"""From flags and environment variables to a :class:`~requests_sf_auth.SalesforceAuth`.

Flags win over ``SF_DOMAIN``, ``SF_CLIENT_ID`` and ``SF_CLIENT_SECRET``; ``--username`` and
``--private-key-file`` (``SF_USERNAME``, ``SF_PRIVATE_KEY_FILE``) select the JWT bearer flow.
The secret comes from a file, stdin or the environment, never from an argument; no message
here shows it, nor the name given to ``--client-secret-file``, which a newcomer may have
filled with the secret itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .._auth import DEFAULT_API_VERSION, SalesforceAuth
from .._backoff import LONGEST_WAIT
from .._jwt_auth import SalesforceJWTAuth
from .._stores import TokenStore
from .._urls import parse_domain
from .cache import open_cache
from .known import KnownCredentials
from .outcome import UsageError

__all__ = ["Credentials", "credentials", "make_auth"]


@dataclass(frozen=True, repr=False)
class Credentials:
    """The settings every command but ``demo`` needs; its repr leaves the secret out. With
    ``username`` and ``private_key_file`` (the JWT bearer flow) ``client_secret`` is ``None``."""

    domain: str
    client_id: str
    client_secret: str | None
    username: str | None = None
    private_key_file: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(domain={self.domain!r}, client_id={self.client_id!r})"


def credentials(args: argparse.Namespace) -> Credentials:
    """The credentials from ``--domain``, ``--client-id`` and ``--client-secret-file`` or their
    variables. Raises :class:`UsageError` naming the first one missing or unreadable."""
    domain = args.domain or os.environ.get("SF_DOMAIN")
    client_id = args.client_id or os.environ.get("SF_CLIENT_ID")
    if not domain:
        raise UsageError("no domain: pass --domain or set SF_DOMAIN")
    if not client_id:
        raise UsageError("no client id: pass --client-id or set SF_CLIENT_ID")
    username = args.username or os.environ.get("SF_USERNAME")
    key_file = args.private_key_file or os.environ.get("SF_PRIVATE_KEY_FILE")
    if username or key_file:  # the JWT bearer flow: no client secret
        if not username:
            raise UsageError("no username for the JWT flow: pass --username or set SF_USERNAME")
        if not key_file:
            raise UsageError(
                "no private key for the JWT flow: pass --private-key-file or set "
                "SF_PRIVATE_KEY_FILE"
            )
        return Credentials(domain, client_id, None, username, key_file)
    if args.client_secret_file:
        secret = _read_secret(args.client_secret_file)
    else:
        secret = os.environ.get("SF_CLIENT_SECRET", "").strip()
        if not secret:
            raise UsageError("no client secret: pass --client-secret-file or set SF_CLIENT_SECRET")
    return Credentials(domain, client_id, secret)


def _read_secret(name: str) -> str:
    try:
        secret = sys.stdin.readline() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(
            f"cannot read the file given to --client-secret-file ({reason}); its name is not "
            "shown, in case it is the secret itself: give the path of a file holding the "
            "secret, or '-' to read it from stdin"
        ) from None
    secret = secret.strip()
    if not secret:
        raise UsageError("the file given to --client-secret-file is empty")
    return secret


def make_auth(
    args: argparse.Namespace, creds: Credentials, known: KnownCredentials
) -> SalesforceAuth:
    """A :class:`SalesforceAuth` for ``creds`` with the run's ``--api-version`` and
    ``--timeout``, sharing its token through the cache unless ``--no-cache``; ``known`` learns
    its secret and follows its token. Raises :class:`UsageError` for a malformed setting, the
    domain included."""
    known.add(creds.client_secret)
    source = "--domain" if args.domain else "SF_DOMAIN"
    try:
        _, token_url = parse_domain(creds.domain)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None
    store: TokenStore | None = None
    if not args.no_cache:
        # A run that holds the lock is fetching a token: waiting as long as its token request
        # may take beats a token request of our own.
        # JWT tokens belong to a user: each has a cache entry of its own.
        principal = creds.client_id + (f"\n{creds.username}" if creds.username else "")
        lock_wait = min(2 * args.timeout + 5, LONGEST_WAIT)
        store = open_cache(token_url, principal, lock_timeout=lock_wait)
    try:
        auth = _auth(args, creds, store)
    except (ValueError, RuntimeError) as exc:  # RuntimeError: the jwt extra is missing
        raise UsageError(str(exc)) from None
    known.follow(auth)
    return auth


def _auth(args: argparse.Namespace, creds: Credentials, store: TokenStore | None) -> SalesforceAuth:
    """The auth of the flow ``creds`` name; ``ValueError`` or ``RuntimeError`` as it raises."""
    if creds.client_secret is None:
        return SalesforceJWTAuth(
            creds.domain,
            creds.client_id,
            creds.username or "",
            private_key_file=creds.private_key_file,
            api_version=args.api_version or DEFAULT_API_VERSION,
            timeout=args.timeout,
            token_store=store,
        )
    return SalesforceAuth(
        creds.domain,
        creds.client_id,
        creds.client_secret,
        api_version=args.api_version or DEFAULT_API_VERSION,
        timeout=args.timeout,
        token_store=store,
    )
