"""What one run of the command line knows it must never print, and the masking of what it
prints from a server.

A server's text may echo what it was sent: a proxy's or a WAF's 403 page lists the request's
headers, ``Authorization: Bearer <token>`` among them. The command line prints such text in
its errors, its warnings, its log on stderr and, for ``request`` and ``token``, as its output;
all of it goes through :class:`KnownCredentials` first.
"""

from __future__ import annotations

from typing import Any

import requests

from .._auth import SalesforceAuth
from .._redaction import mask, redact
from .._secrets import SecretText

__all__ = ["KnownCredentials"]

_BEARER = "Bearer "


class KnownCredentials:
    """The credentials of one run: the client secret, each access token an auth it follows
    holds when text is masked, and the token of every request a session it watches sent and
    got an answer to (so a token renewed during the run, the rejected one, is kept too).

    For the command's own thread; its repr shows no credential."""

    def __init__(self) -> None:
        self._values: list[SecretText] = []
        self._auths: list[SalesforceAuth] = []

    def add(self, value: str | None) -> None:
        """Mask ``value`` (a secret or a token) from now on; ``None`` or ``""`` is ignored."""
        if value and value not in self._values:
            self._values.append(SecretText(value))

    def follow(self, auth: SalesforceAuth) -> None:
        """Mask whichever token ``auth`` holds whenever text is masked."""
        self._auths.append(auth)

    def watch(self, session: requests.Session) -> None:
        """Remember the token each request of ``session`` carried, once it is answered. An
        answer to a request resent with a renewed token keeps the rejection in its history,
        so the token it replaced is seen too."""
        session.hooks["response"].append(self._answered)

    def _answered(self, r: requests.Response, **kwargs: Any) -> None:
        for answer in (*r.history, r):
            headers = answer.request.headers
            sent, session = headers.get("Authorization"), headers.get("X-SFDC-Session")
            if isinstance(sent, str) and sent.startswith(_BEARER):
                self.add(sent[len(_BEARER) :])
            if isinstance(session, str):
                self.add(session)

    def values(self) -> tuple[str, ...]:
        """Every credential known now."""
        held = (auth.token for auth in self._auths)
        current = (token.get("access_token") for token in held if token is not None)
        return (*self._values, *(SecretText(t) for t in current if isinstance(t, str)))

    def redact(self, text: str) -> str:
        """``text`` (an error, a warning, a log line) with every known credential masked, and
        whatever looks like one (see :func:`~requests_sf_auth._redaction.redact`)."""
        return redact(text, *self.values())

    def mask(self, text: str) -> str:
        """``text`` (an answer printed as output) with every known credential masked, and
        nothing else changed."""
        return mask(text, *self.values())

    def mask_values(self, value: Any) -> Any:
        """A JSON-like ``value`` with every string in it, keys included, masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.mask_values(item) for item in value]
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_values(v) for k, v in value.items()}
        return value

    def __repr__(self) -> str:
        return f"<KnownCredentials: {len(self.values())}, not shown>"
