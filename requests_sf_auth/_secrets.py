"""Values that hold a secret (the client secret, an access token, an answer that carries one)
and hide it from ``repr``, so that a traceback's captured locals, as error trackers such as
Sentry record them, or a debugger's variable view never show it. Each is an ordinary
``bytes``, ``str`` or ``dict`` to every other use."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

__all__ = ["SecretBytes", "SecretForm", "SecretMapping", "SecretText"]


class SecretForm(bytes):
    """A form body that holds a secret."""

    @classmethod
    def encode_fields(cls, fields: dict[str, str] | str) -> SecretForm:
        text = fields if isinstance(fields, str) else urlencode(fields)
        return cls(text.encode())

    def __repr__(self) -> str:
        return "'<form, redacted>'"

    __str__ = __repr__


class SecretBytes(bytes):
    """A private key, as PEM bytes."""

    def __repr__(self) -> str:
        return "b'***'"

    __str__ = __repr__


class SecretText(str):
    """A token, an ``Authorization`` value, or an answer's text that may hold one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class SecretMapping(dict[str, Any]):
    """A decoded answer that may hold a token."""

    def __repr__(self) -> str:
        return f"<answer with fields {sorted(self)}, values redacted>"
