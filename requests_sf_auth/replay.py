"""Sending a request a second time, after its token was rejected, inside requests' hook model.

The recipe is requests' own ``HTTPDigestAuth.handle_401``: consume and close the rejected
response so its connection returns to the pool, copy the request, rewind its body, carry over
cookies the rejection set, send through the same adapter with the same keyword arguments, and
keep the rejection in ``history``.
"""

from __future__ import annotations

import io
from typing import Any

from requests import PreparedRequest, Response
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar

__all__ = ["replay"]

# What HTTPAdapter.send takes. Hooks may receive more: requests-cache, for one, passes
# allow_redirects along, which the adapter would refuse.
_ADAPTER_KWARGS = frozenset({"stream", "timeout", "verify", "cert", "proxies"})


def _rewind(request: PreparedRequest) -> bool:
    """Put the body back where it started; False when that is impossible.

    No body, ``bytes`` and ``str`` (which is what form data, ``json=`` and multipart ``files=``
    are prepared into) need nothing. A file-like body goes back to the position requests
    recorded when it prepared the request, not to 0. Generators, iterators and unseekable
    streams cannot be rewound.
    """
    # Typed as bytes | str | None, but requests stores file objects and generators here too.
    body: object = request.body
    if body is None or isinstance(body, (bytes, str)):
        return True
    position = getattr(request, "_body_position", None)
    seek = getattr(body, "seek", None)
    if not isinstance(position, int) or seek is None:
        return False
    try:
        seek(position)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


def replay(
    rejected: Response, headers: dict[str, str], send_kwargs: dict[str, Any]
) -> Response | None:
    """Send ``rejected.request`` again with ``headers`` (the new credentials) replaced,
    through the adapter that sent it, with the adapter's share of ``send_kwargs``.

    Returns the new response, whose ``history`` ends with ``rejected`` and whose ``request``
    is the copy that was sent, or ``None`` (sending nothing) when the body cannot be rewound.
    """
    prep = rejected.request.copy()
    if not _rewind(prep):
        return None
    rejected.content  # noqa: B018 - reading the body lets the connection go back to the pool
    rejected.close()

    jar = getattr(prep, "_cookies", None)
    if isinstance(jar, RequestsCookieJar):
        extract_cookies_to_jar(jar, rejected.request, rejected.raw)
        prep.prepare_cookies(jar)
    prep.headers.update(headers)

    kwargs = {k: v for k, v in send_kwargs.items() if k in _ADAPTER_KWARGS}
    response: Response = rejected.connection.send(prep, **kwargs)
    response.history.append(rejected)
    response.request = prep
    return response
