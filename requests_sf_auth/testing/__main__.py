"""``python -m requests_sf_auth.testing serve [--port N] [--tls]``: a local org for other
processes (a shell, a container, a client in another language), served until Ctrl-C or
SIGTERM.

It prints ``SF_DOMAIN=``, ``SF_CLIENT_ID=`` and ``SF_CLIENT_SECRET=`` lines on stdout, and
under ``--tls`` ``REQUESTS_CA_BUNDLE=`` with the path of the org's CA certificate, then a
``# serving`` line once it accepts connections. The secret is printed on purpose: it is the
throwaway org's own, and its client needs it. It exits 0 on SIGTERM and 130 on Ctrl-C, without
a traceback; 2 for a usage error or a port it cannot bind.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .org import LocalOrg

__all__ = ["main"]

_PROG = "python -m requests_sf_auth.testing"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_PROG, allow_abbrev=False, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="serve")
    serve = commands.add_parser(
        "serve", allow_abbrev=False, help="run a local org on 127.0.0.1 until Ctrl-C"
    )
    serve.add_argument(
        "--port", type=_port, default=0, help="the port to listen on (default: a free one)"
    )
    serve.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a throwaway CA (needs trustme)"
    )
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 0 to 65535")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    stopped = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    # record=False: a long-lived org must not keep every request it ever received.
    org = LocalOrg(tls=args.tls, port=args.port, record=False)
    try:
        org.start()
    except (OSError, RuntimeError) as exc:
        print(f"{_PROG} serve: cannot start: {exc}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    # Started from a shell's background job or a supervisor, Python may inherit SIGINT
    # ignored; a server that Ctrl-C is documented to stop must hear it regardless.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print(f"SF_DOMAIN={org.url}")
        print(f"SF_CLIENT_ID={org.client_id}")
        print(f"SF_CLIENT_SECRET={org.client_secret}")
        if org.ca_bundle is not None:
            print(f"REQUESTS_CA_BUNDLE={org.ca_bundle}")
        print("# serving; Ctrl-C stops", flush=True)
        # A timed wait, so that Ctrl-C is seen at once on every platform.
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        org.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
