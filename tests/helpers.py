"""Plain helpers the tests share; the fixtures are in ``conftest.py``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
