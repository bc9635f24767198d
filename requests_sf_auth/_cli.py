"""The ``requests-sf-auth`` command line (also ``python -m requests_sf_auth``).

``demo`` shows the whole flow against a local org; ``check`` diagnoses a real org's setup;
``token`` fetches a token and shows its metadata; ``request`` is curl for Salesforce. The
commands live in :mod:`requests_sf_auth._commands`; this module parses the arguments, runs
one command and turns every way it can end into an exit code from the one table
(:data:`~requests_sf_auth._commands.outcome.EXIT_CODES`).

Credentials come from flags or ``SF_DOMAIN``, ``SF_CLIENT_ID`` and ``SF_CLIENT_SECRET``. The
secret is never taken as an argument: abbreviated flags are off, so ``--client-secret`` cannot
pass for ``--client-secret-file``, and any flag that looks like it carries a secret is refused
before parsing, without echoing its value. Nothing printed holds the secret or a token, except
the token itself under ``token --show-token``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from . import __version__
from ._auth import DEFAULT_API_VERSION
from ._backoff import LONGEST_WAIT
from ._commands.cache import cache_dir
from ._commands.check import run_check
from ._commands.demo import run_demo
from ._commands.known import KnownCredentials
from ._commands.outcome import (
    EXIT_INTERRUPTED,
    PROG,
    Failure,
    UsageError,
    exit_code_help,
)
from ._commands.request import run_request
from ._commands.token import run_token
from ._urls import api_version

__all__ = ["main"]

_PROG = PROG

# Flags a newcomer may try for a secret or a token (--client-secret, --password, --token,
# --access-token, --client_secret, ...). Compared after dropping dashes and underscores.
_SECRET_FLAG = re.compile(
    r"secret|passw|passphrase|privatekey|apikey|^(access|bearer|session|auth)?token$|^sid$"
    r"|sessionid"
)
_SAFE_FLAGS = frozenset({"--client-secret-file", "--private-key-file", "--show-token"})


_QUOTED_VALUE = re.compile(r"(?<=: )'.*?'(?= \(choose from|$)", re.DOTALL)


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations, whose errors raise :class:`UsageError` (reported as
    one line, with exit code 2) instead of printing the usage block and exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse quotes what it could not take ("invalid choice: 'VALUE'"), which may be a
        # secret given in the wrong place: the value is cut from the message.
        message = _QUOTED_VALUE.sub("(the value is not shown)", message)
        raise UsageError(f"{message} (see {self.prog} --help)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= LONGEST_WAIT):
        raise argparse.ArgumentTypeError(
            f"not a positive number of seconds up to {LONGEST_WAIT:g} (a day)"
        )
    return value


def _api_version(text: str) -> str:
    try:
        return api_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _epilog(command: str | None, example: str) -> str:
    return f"{exit_code_help(command)}\n\nexample: {_PROG} {example}"


def _parser() -> argparse.ArgumentParser:
    verbose = _Parser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show the library's log on stderr (-vv for debug)",
    )
    credentials = _Parser(add_help=False, parents=[verbose])
    group = credentials.add_argument_group("credentials (flags win over the environment)")
    group.add_argument("--domain", help="My Domain URL, e.g. acme.my.salesforce.com [SF_DOMAIN]")
    group.add_argument("--client-id", help="the app's Consumer Key [SF_CLIENT_ID]")
    group.add_argument(
        "--client-secret-file",
        metavar="PATH",
        help="file holding the Consumer Secret, '-' for stdin [else SF_CLIENT_SECRET]",
    )
    group.add_argument(
        "--username", help="JWT bearer flow: the user tokens are issued to [SF_USERNAME]"
    )
    group.add_argument(
        "--private-key-file",
        metavar="PATH",
        help="JWT bearer flow: the PEM key of the app's certificate [SF_PRIVATE_KEY_FILE]",
    )
    connection = credentials.add_argument_group("connection")
    connection.add_argument(
        "--api-version",
        type=_api_version,
        metavar="VERSION",
        help=f"REST API version for relative paths (default {DEFAULT_API_VERSION})",
    )
    connection.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="to connect, and to wait for each read (default %(default)g)",
    )
    connection.add_argument(
        "--no-cache",
        action="store_true",
        help=f"neither read nor write the token cache ({_shown(cache_dir())})",
    )

    parser = _Parser(
        prog=_PROG,
        description="Salesforce client-credentials auth for requests: try it, check an org, "
        "call the API.",
        epilog=_epilog(None, "demo"),
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the library's log on stderr (-vv for debug)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser(
        "demo",
        parents=[verbose],
        help="walk through the whole flow against a built-in local org",
        description="Start a local org on 127.0.0.1 and show, step by step, what the plugin\n"
        "does. Exits 0 only if every step was observed.",
        epilog=_epilog("demo", "demo"),
    )
    commands.add_parser(
        "check",
        parents=[credentials],
        help="diagnose a real org: domain, token, API versions, identity",
        description="Check each stage of a real org's setup: ok lines on stdout, warnings\n"
        "and failures, with the fix, on stderr. The token is always a fresh one.",
        epilog=_epilog(
            "check",
            "check --domain acme.my.salesforce.com --client-id 3MVG9... "
            "--client-secret-file ~/.sf-secret",
        ),
    )
    token = commands.add_parser(
        "token",
        parents=[credentials],
        help="fetch a new token and print its metadata",
        description="Fetch a new token (it replaces the cached one) and print Salesforce's\n"
        "fields as sent, plus issued_at_iso, org_id and user_id. access_token is\n"
        "left out unless --show-token is given.",
        epilog=_epilog("token", "token --json --client-secret-file ~/.sf-secret"),
    )
    token.add_argument("--show-token", action="store_true", help="print the access token")
    token.add_argument(
        "--json", action="store_true", help="machine-readable output; errors are JSON too"
    )
    request = commands.add_parser(
        "request",
        parents=[credentials],
        help="call the REST API, like curl",
        description="Send one request. Relative paths resolve under /services/data/vNN.N/;\n"
        "the token comes from the cache when a live one is there; JSON answers are\n"
        "pretty-printed.",
        epilog=_epilog("request", "request GET sobjects/Account/describe --param fields=Id"),
    )
    request.add_argument("method", help="GET, POST, PATCH, DELETE, ...")
    request.add_argument("path", help="e.g. sobjects/Account or /services/data/")
    request.add_argument(
        "-d",
        "--data",
        metavar="BODY",
        help="TEXT as is, @FILE for a file's bytes (streamed), @- for stdin; "
        "sent as JSON unless -H names a Content-Type",
    )
    request.add_argument(
        "-H", "--header", action="append", default=[], help="'Name: value', repeatable"
    )
    request.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="query parameter, repeatable"
    )
    request.add_argument(
        "-i", "--include", action="store_true", help="show the status line and headers"
    )
    return parser


def _shown(path: object) -> str:
    return str(path).replace("%", "%%")  # argparse formats help with %


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO, KnownCredentials], int]] = {
    "demo": run_demo,
    "check": run_check,
    "token": run_token,
    "request": run_request,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); returns the exit
    code. Every failure, a Ctrl-C included, ends as one report on stderr (JSON under
    ``token --json``) and a code from the table, never as a traceback. Everything printed on
    stderr, the log included, is redacted with the credentials the run holds."""
    words = list(sys.argv[1:] if argv is None else argv)
    options = words[: words.index("--")] if "--" in words else words
    command = next((w for w in options if not w.startswith("-")), None)
    as_json = command == "token" and "--json" in options
    undo: list[Callable[[], None]] = []
    known = KnownCredentials()
    try:
        _refuse_secret_flags(options)
        args = _parse(_parser(), words)
        command = args.command
        undo.append(_log_to_stderr(args.verbose, known))
        return _COMMANDS[args.command](args, sys.stdout, sys.stderr, known)
    except Failure as failure:
        _report(failure, command, as_json, known)
        return failure.code
    except KeyboardInterrupt:
        interrupted = Failure(EXIT_INTERRUPTED, "interrupted", "interrupted")
        _report(interrupted, command, as_json, known)
        return EXIT_INTERRUPTED
    finally:
        for step in undo:
            step()


def _refuse_secret_flags(options: list[str]) -> None:
    for word in options:
        if not word.startswith("-") or word == "-":
            continue
        flag = word.split("=", 1)[0]
        if flag in _SAFE_FLAGS:
            continue
        if _SECRET_FLAG.search(flag.lower().replace("-", "").replace("_", "")):
            raise UsageError(
                f"{flag} is refused, and its value was not printed: a secret on the command "
                "line is visible to other users and kept in shell history; put it in a file "
                "and pass --client-secret-file PATH ('-' reads stdin), or set SF_CLIENT_SECRET"
            )


def _parse(parser: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    args, extra = parser.parse_known_args(words)
    if extra:
        # argparse would print them all, and one of them may be a secret: name flags only.
        flags = [w.split("=", 1)[0] for w in extra if w.startswith("-") and w != "-"]
        hidden = len(extra) - len(flags) + sum("=" in w for w in extra if w.startswith("-"))
        named = " ".join(flags) or "arguments"
        note = f" and {hidden} value(s), not shown in case one is a secret" if hidden else ""
        raise UsageError(f"unrecognized {named}{note} (see {_PROG} {args.command} --help)")
    return args


_LIBRARY = "requests_sf_auth"


class _Formatter(logging.Formatter):
    """The command's prefix, and the run's credentials redacted from the whole record, its
    traceback included."""

    def __init__(self, known: KnownCredentials) -> None:
        super().__init__("%(message)s")
        self.known = known

    def format(self, record: logging.LogRecord) -> str:
        return self.known.redact(f"{_PROG}: {record.levelname.lower()}: {super().format(record)}")


def _ours_or_a_warning(record: logging.LogRecord) -> bool:
    return record.name.startswith(_LIBRARY) or record.levelno >= logging.WARNING


def _log_to_stderr(verbosity: int, known: KnownCredentials) -> Callable[[], None]:
    """Send the library's log to stderr: warnings always, INFO with -v, DEBUG with -vv; and
    other libraries' warnings, which Python would print anyway, through the same redaction
    (urllib3 quotes header lines it cannot parse, and a proxy's may echo the token). Returns
    what undoes it, for a ``main`` called more than once in one process."""
    root, logger = logging.getLogger(), logging.getLogger(_LIBRARY)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(known))
    handler.addFilter(_ours_or_a_warning)
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    previous = logger.level
    root.addHandler(handler)
    logger.setLevel(level)

    def restore() -> None:
        root.removeHandler(handler)
        logger.setLevel(previous)

    return restore


def _report(failure: Failure, command: str | None, as_json: bool, known: KnownCredentials) -> None:
    """Print ``failure`` on stderr, redacted: it may quote a server, and for ``token --json``
    Salesforce's own fields too."""
    if as_json:
        report = {
            "exit_code": failure.code,
            "failure": failure.kind,
            "message": failure.message,
            **failure.fields,
        }
        fields = {k: known.redact(v) if isinstance(v, str) else v for k, v in report.items()}
        print(json.dumps(fields), file=sys.stderr)
        return
    where = f"{_PROG} {command}" if command in _COMMANDS else _PROG
    label = "error: " if isinstance(failure, UsageError) else ""
    print(known.redact(f"{where}: {label}{failure.message}"), file=sys.stderr)
