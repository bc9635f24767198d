"""The HTTP plumbing under :class:`~requests_sf_auth.testing.LocalOrg`: a threaded HTTP/1.1
server with keep-alive, optional TLS, and the ways of answering that fault tests need (one byte
at a time, a huge body, never). It knows nothing of Salesforce: each request is handed, as an
:class:`Exchange`, to the ``answer`` callable the server was built with.

It stays on :mod:`http.server` rather than a WSGI or ASGI server because the fault modes work
below any such interface: a handshake off the accept loop, a trickled status line, a connection
held open until the org stops, and every open connection cut at shutdown.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Exchange", "Server"]

_HUGE_BODY = 30 * 1024 * 1024
_TRICKLE_SECONDS = 0.2

Headers = Iterable[tuple[str, str]] | Mapping[str, str]


class Server(ThreadingHTTPServer):
    """Serves on ``address`` and calls ``answer(exchange)`` for every request, in the
    connection's own thread. ``stopping`` is set by the owner before :meth:`close_all`, and
    releases answers that wait (``hang``, ``trickle``)."""

    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 drops connections when many threads connect at once, and the
    # client's SYN retransmit then stalls each of them for a second.
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        *,
        answer: Callable[[Exchange], None],
        context: ssl.SSLContext | None,
        stopping: threading.Event,
    ) -> None:
        self.answer = answer
        self.context = context
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Exchange)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.context is not None:
            # The handshake happens in the handler's thread, so one slow client cannot stall
            # the accept loop.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._connections_lock:
            self._connections.add(sock)
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(10)
                request.do_handshake()
            super().finish_request(request, client_address)
        except (OSError, ssl.SSLError):
            pass

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Cut every open connection, so that no keep-alive client or waiting answer outlives
        the server."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-request is routine in fault tests


class Exchange(BaseHTTPRequestHandler):
    """One connection's requests, each read whole (chunked bodies included) and handed to the
    server's ``answer``. The answer reads :attr:`method`, :attr:`path`, :attr:`query`,
    ``headers`` and :attr:`body`, and replies once with :meth:`send` or one of the faulty
    replies. :attr:`status` is what was answered (0 until then); ``on_status`` is called
    with it just before the reply goes out."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the client's
    # delayed ACK would hold every answer back by about 40 ms.
    disable_nagle_algorithm = True
    server: Server
    timeout = 30
    method = ""
    path = ""
    query = ""
    body = b""
    status = 0
    on_status: Callable[[int], None] | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.method = self.command
        # A proxy's request names an absolute URL: keep its path, as a server behind it sees.
        parts = urlsplit(self.path)
        self.path, self.query = parts.path, parts.query
        self.body = self._read_body()
        self.status = 0
        self.on_status = None
        self.server.answer(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answered(self, status: int) -> None:
        self.status = status
        if self.on_status is not None:
            self.on_status(status)

    # -- replies --------------------------------------------------------------------------

    def send(
        self,
        status: int,
        body: bytes | object,
        content_type: str = "application/json",
        headers: Headers = (),
    ) -> None:
        """Answer ``status`` with ``body``: bytes as they are, anything else as JSON."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._answered(status)
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(payload)

    def trickle(self, body: bytes) -> None:
        """A 200 with ``body``, headers and body one byte at a time, as a hostile or broken
        peer might: each byte comes well within any read timeout, so only an overall deadline
        ends it."""
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.close_connection = True
        self._answered(200)
        for byte in head + body:
            if self.server.stopping.wait(_TRICKLE_SECONDS):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return

    def send_huge_error(self) -> None:
        """A 500 with a 30 MB HTML body."""
        self._answered(500)
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(_HUGE_BODY))
        self.end_headers()
        chunk = b"<p>" + b"x" * 65530 + b"</p>\n"
        sent = 0
        try:
            while sent < _HUGE_BODY:
                piece = chunk[: _HUGE_BODY - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            self.close_connection = True

    def hang(self) -> None:
        """Never answer: hold the connection until the server stops."""
        self.server.stopping.wait()
        self.close_connection = True
