"""Plain helpers the tests share; the fixtures are in ``conftest.py``."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
import requests

T = TypeVar("T")


def once_resumed(call: Callable[[], T]) -> T:
    """``call()`` once token requests may go ahead again: an error the plugin raised without
    asking the org, during a pause after failures (it carries ``retry_after``), is waited out
    and the call made again."""
    for _ in range(10):
        try:
            return call()
        except requests.RequestException as exc:
            wait = getattr(exc, "retry_after", None)
            if wait is None:
                raise
            time.sleep(wait)
    raise AssertionError("token requests stayed paused through 10 waits")


@contextlib.contextmanager
def repeating(every: float, action: Callable[[], object]) -> Iterator[None]:
    """Call ``action`` every ``every`` seconds in a thread of its own while the block runs,
    such as ending the org's sessions under a load; stopped and joined on the way out."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            action()

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()


@contextlib.contextmanager
def logger_at_debug(name: str) -> Iterator[logging.Logger]:
    """The logger ``name`` at DEBUG while the block runs; its level and handlers as they were
    afterwards, so that a handler a test adds goes away with it."""
    logger = logging.getLogger(name)
    level, handlers = logger.level, list(logger.handlers)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def wait_for(condition: Callable[[], object], within: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``within``
    seconds (a bound against hanging, not a measurement)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition did not hold within {within} s")
        time.sleep(0.01)


def run_together(count: int, action: Callable[[], Any]) -> list[Any]:
    """Start ``count`` threads that call ``action`` at the same moment; return results or
    exceptions."""
    barrier = threading.Barrier(count)

    def task() -> Any:
        barrier.wait()
        try:
            return action()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: task(), range(count)))


def run_watched(within: float, *calls: Callable[[], Any]) -> list[Any]:
    """Run each of ``calls`` in a daemon thread of its own, all at once, and return their
    results or exceptions. Fails the test if any is still running after ``within`` seconds,
    so that a deadlock fails it instead of hanging the suite (a bound, not a measurement)."""
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + within
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"still blocked after {within} s: deadlocked")
    return outcomes


def logged_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the plugin's loggers emitted so far, as messages."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and record.name.startswith("requests_sf_auth")
    ]


Scripted = tuple[int, dict[str, str], bytes]


@contextlib.contextmanager
def scripted_instance(answers: list[Scripted]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A bare HTTP server on 127.0.0.1 that answers each request with the next of ``answers``
    (status, headers, body; the last one repeats), for answers no org would give, such as a
    body its own Content-Encoding cannot decode. Yields its URL and the headers of every
    request it received, in order."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            received.append(dict(self.headers.items()))
            status, headers, body = answers[min(len(received), len(answers)) - 1]
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def raw_echo(answer: Callable[[bytes, bytes], bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server on 127.0.0.1 that reads each HTTP request (head and body, by its
    Content-Length) and writes back ``answer(head, body)`` as raw bytes, then hangs up: for
    answers no HTTP server library would send, such as a status line echoing the request.
    Yields its URL and the bodies it received, in order."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:  # the accept timed out, or the listener is closed
                continue
            with connection, contextlib.suppress(OSError):  # a client that hung up first
                connection.settimeout(5)
                data = _read_until(connection, lambda d: b"\r\n\r\n" in d)
                head, _, body = data.partition(b"\r\n\r\n")
                found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                length = int(found.group(1)) if found else 0
                body = _read_until(connection, lambda d, n=length: len(d) >= n, body)
                received.append(body)
                connection.sendall(answer(head, body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    finally:
        stopping.set()
        thread.join(5)
        listener.close()


def _read_until(
    connection: socket.socket, done: Callable[[bytes], bool], data: bytes = b""
) -> bytes:
    while not done(data):
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionResetError("the client hung up")
        data += chunk
    return data


def status_line_echoing_the_form(head: bytes, body: bytes) -> bytes:
    """A gateway's block line in place of a status line, listing the form's values."""
    values = b" ".join(pair.partition(b"=")[2] for pair in body.split(b"&"))
    return b"BLOCKED " + values + b"\r\n\r\n"
