"""Shared fixtures; helpers that are plain functions live in ``helpers.py``. The fake org is the
shipped ``requests_sf_auth.testing.LocalOrg``, through the ``salesforce_org`` and
``salesforce_org_https`` fixtures its pytest plugin registers: the suite tests against the same
org users get."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import requests_sf_auth
from requests_sf_auth.testing import LocalOrg


def pytest_sessionstart(session: pytest.Session) -> None:
    # scripts/test sets this for the runs that test a built wheel or sdist: a module imported
    # from a source tree instead would let a file missing from the artefact go unnoticed.
    if os.environ.get("REQUESTS_SF_AUTH_TEST_INSTALLED"):
        imported = Path(requests_sf_auth.__file__).resolve()
        installed = Path(sysconfig.get_paths()["purelib"]).resolve()
        if installed not in imported.parents:
            raise pytest.UsageError(f"requests_sf_auth came from {imported}, not {installed}")


@pytest.fixture(params=["http", "https"])
def org(request: pytest.FixtureRequest) -> LocalOrg:
    """A started local org, once over HTTP and once over HTTPS with its own CA."""
    name = "salesforce_org" if request.param == "http" else "salesforce_org_https"
    started: LocalOrg = request.getfixturevalue(name)
    return started


@pytest.fixture
def other_host() -> Iterator[LocalOrg]:
    """A second server on loopback standing for a host that is not ours: it records every
    request, so a test can prove no token ever reached it."""
    with LocalOrg() as stranger:
        yield stranger


@pytest.fixture
def sf_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything the ``requests_sf_auth`` logger emits, at DEBUG and above."""
    caplog.set_level(logging.DEBUG, logger="requests_sf_auth")
    return caplog


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, shared by the token-store tests."""
    import redis

    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed: apt-get install redis-server (scripts/test does)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    """The shared redis-server, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_url).flushall()
    return redis_url
