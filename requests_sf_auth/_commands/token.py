"""``token``: ask for a new token, publish it to the cache for later ``request`` runs, and print
what Salesforce answered.

Salesforce's fields are printed as it sent them (``issued_at`` stays its string of
milliseconds); what is worked out from them goes under names of its own (``issued_at_iso``,
``org_id``, ``user_id``). ``access_token`` is printed only with ``--show-token``: without it
the field is left out, never faked, and a note on stderr says so. ``signature`` is never
printed: it is derived from the client secret. Every other value is printed with the run's
credentials masked: an answer may repeat the token in any field.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any, TextIO

import requests

from .._token import SECRET_FIELDS
from .known import KnownCredentials
from .outcome import EXIT_OK, PROG, failure_from
from .settings import credentials, make_auth

__all__ = ["run_token"]


def run_token(args: argparse.Namespace, out: TextIO, err: TextIO, known: KnownCredentials) -> int:
    """Fetch a token and print its fields; raises :class:`Failure` when none can be had."""
    auth = make_auth(args, credentials(args), known)
    try:
        # Always a new token, never the cached one: a token printed for use elsewhere must not
        # be one that already died. It replaces the cached one, so it costs `request` nothing.
        token = auth.fetch_token()
    except requests.RequestException as exc:
        raise failure_from(exc, auth.token_url, known) from None
    shown = {k: v for k, v in token.items() if k not in SECRET_FIELDS}
    for key, value in _derived(token).items():
        shown.setdefault(key, value)  # Salesforce's own field of that name wins
    shown = known.mask_values(shown)
    if args.show_token:
        shown["access_token"] = token["access_token"]
    if args.json:
        print(json.dumps(shown, indent=2, sort_keys=True), file=out)
    else:
        width = max(len(k) for k in shown)
        for key in sorted(shown):
            print(f"{key:<{width}}  {shown[key]}", file=out)
    if not args.show_token:
        print(f"{PROG} token: access_token left out; pass --show-token to include it", file=err)
    return EXIT_OK


def _derived(token: dict[str, Any]) -> dict[str, str]:
    """Fields worked out from Salesforce's: ``issued_at`` as an ISO 8601 UTC time, and the
    org and user ids from the ``id`` URL (``.../id/ORG_ID/USER_ID``)."""
    derived: dict[str, str] = {}
    try:
        moment = datetime.fromtimestamp(int(str(token.get("issued_at"))) / 1000, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    else:
        derived["issued_at_iso"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parts = str(token.get("id", "")).rstrip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id":
        derived["org_id"], derived["user_id"] = parts[-2], parts[-1]
    return derived
