"""How a command ends: the exit codes every command shares, and the failures that carry them.

One table (:data:`EXIT_CODES`) is the single source of the codes: ``--help`` prints it, and
the README repeats it (a test keeps the two equal). A failure is raised as :class:`Failure`
with its code and a one-line message that never holds the client secret or a token: what
it quotes from a server is redacted with the run's :class:`~.known.KnownCredentials`, and
:func:`requests_sf_auth._cli.main` redacts every report once more as it prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from .._errors import SalesforceAuthError, TokenRequestError
from .known import KnownCredentials

__all__ = [
    "COMMANDS",
    "EXIT_CHECK",
    "EXIT_CODES",
    "EXIT_CONNECT",
    "EXIT_HTTP_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TOKEN",
    "EXIT_USAGE",
    "MY_DOMAIN_FORM",
    "PROG",
    "ExitCode",
    "Failure",
    "UsageError",
    "describe_connection_failure",
    "exit_code_help",
    "failure_from",
]

PROG = "requests-sf-auth"

EXIT_OK = 0
EXIT_HTTP_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_TOKEN = 4
EXIT_CHECK = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

COMMANDS = ("demo", "check", "token", "request")
_REMOTE = ("check", "token", "request")


@dataclass(frozen=True)
class ExitCode:
    """One row of the exit-code table: the code, what it means, and which commands return it."""

    code: int
    meaning: str
    commands: tuple[str, ...]


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(EXIT_OK, "success", COMMANDS),
    ExitCode(
        EXIT_HTTP_ERROR, "the org answered with an HTTP error (4xx or 5xx)", ("check", "request")
    ),
    ExitCode(EXIT_USAGE, "usage: a flag, variable, domain or file is missing or wrong", COMMANDS),
    ExitCode(EXIT_CONNECT, "could not connect: DNS, refused connection, TLS or timeout", _REMOTE),
    ExitCode(EXIT_TOKEN, "could not get a token: refused, or an unusable answer", _REMOTE),
    ExitCode(
        EXIT_CHECK,
        "a check failed: API version not offered, or a demo step not seen",
        ("check", "demo"),
    ),
    ExitCode(EXIT_INTERRUPTED, "interrupted (Ctrl-C)", COMMANDS),
)
"""Every exit code of every command. Kept short: ``--help`` prints them one a line."""

MY_DOMAIN_FORM = (
    "a My Domain looks like MYDOMAIN.my.salesforce.com (a sandbox: "
    "MYDOMAIN--SANDBOX.sandbox.my.salesforce.com); Setup > My Domain shows yours"
)


def exit_code_help(command: str | None = None) -> str:
    """The exit codes ``command`` can return (all of them for ``None``), for ``--help``."""
    rows = [row for row in EXIT_CODES if command is None or command in row.commands]
    return "exit codes:\n" + "\n".join(f"  {row.code:<4} {row.meaning}" for row in rows)


class Failure(Exception):
    """A command failed: ``code`` is its exit code, ``kind`` a one-word name for it (``usage``,
    ``connect``, ``token``, ...), the message one line for a person, and ``fields`` what
    ``--json`` adds (Salesforce's ``error``, ``error_description``, ``hint``, ...)."""

    def __init__(self, code: int, kind: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message
        self.fields = {k: v for k, v in fields.items() if v is not None}


class UsageError(Failure):
    """A missing or malformed setting: one line naming it and the fix, exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE, "usage", message)


def failure_from(exc: requests.RequestException, url: str, known: KnownCredentials) -> Failure:
    """The failure for an exception from the library or requests while talking to ``url``:
    no token (4) for the library's own errors, could not connect (3) for the rest. ``known``
    redacts what requests quotes before it is cut; the whole report is redacted again as it
    is printed."""
    if isinstance(exc, TokenRequestError):
        return Failure(
            EXIT_TOKEN,
            "token",
            f"could not get a token: {exc}",
            error=exc.error,
            error_description=exc.error_description,
            status_code=exc.status_code,
            hint=exc.hint,
        )
    if isinstance(exc, SalesforceAuthError):
        return Failure(EXIT_TOKEN, "token", f"could not get a token: {exc}")
    return Failure(EXIT_CONNECT, "connect", describe_connection_failure(exc, url, known))


_DNS_FAILURE = re.compile(
    r"NameResolutionError|Failed to resolve|Name or service not known|nodename nor servname"
    r"|getaddrinfo failed|No address associated|Temporary failure in name resolution",
    re.IGNORECASE,
)
_TLS_REASON = re.compile(r"certificate verify failed[^'\"()]*|[A-Z_]+_ERROR[^'\"()]*")


def describe_connection_failure(
    exc: requests.RequestException, url: str, known: KnownCredentials
) -> str:
    """One line saying why ``url`` could not be reached, and what to check: DNS, a refused
    connection, TLS, a timeout or a proxy. requests' own text is long and nested; only the
    telling part of it is kept, redacted with ``known`` before it is cut (a server may have
    put a request's headers in it, in a status line that could not be read)."""
    request = getattr(exc, "request", None)
    target = getattr(request, "url", None) or url
    parts = urlsplit(target)
    host = parts.hostname or target
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else target
    text = known.redact(str(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        found = _TLS_REASON.search(text)
        reason = found.group(0).strip() if found else "the TLS handshake failed"
        return (
            f"could not connect to {origin}: TLS failed ({reason}); if a proxy inspects TLS, "
            "point REQUESTS_CA_BUNDLE at its CA certificate"
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return (
            f"could not connect to {origin} through the proxy: check HTTPS_PROXY, HTTP_PROXY "
            "and NO_PROXY"
        )
    if isinstance(exc, requests.Timeout):
        return (
            f"could not connect to {origin}: no answer within the timeout; check the network "
            "and proxy settings, or raise --timeout"
        )
    if _DNS_FAILURE.search(text):
        return (
            f"could not connect to {origin}: the name {host} does not resolve; check the "
            f"spelling of the domain: {MY_DOMAIN_FORM}"
        )
    if "refused" in text.lower():
        return (
            f"could not connect to {origin}: the connection was refused; check the domain's "
            "port and that nothing blocks it"
        )
    return f"could not connect to {origin}: {text[:300]}"
