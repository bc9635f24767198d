"""Plain helpers the tests share; the fixtures are in ``conftest.py``."""

from __future__ import annotations

import contextlib
import logging
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
