"""The README cannot rot: its Python examples run against the local org, its command-line
examples run as subprocesses, and CI runs exactly its test command."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from requests_sf_auth.testing import LocalOrg

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)


def test_python_examples_run_in_order_against_a_local_org(
    salesforce_org: LocalOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_DOMAIN", salesforce_org.url)
    monkeypatch.setenv("SF_CLIENT_ID", salesforce_org.client_id)
    monkeypatch.setenv("SF_CLIENT_SECRET", salesforce_org.client_secret)
    blocks = fenced("python")
    assert len(blocks) >= 4
    namespace: dict[str, Any] = {"__name__": "readme"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)  # noqa: S102
    assert namespace["me"]["name"] == "Integration User"
    assert namespace["created"].status_code == 201
    assert namespace["describe"].json()["name"] == "Account"
    assert "invalid_client | invalid client credentials | check client_secret" in printed.getvalue()
    assert namespace["job"].status_code == 200
    assert namespace["new_tokens"][0]["instance_url"] == salesforce_org.url
    assert namespace["careful_auth"].token is None  # revoked on exit
    # One token for the first-screen example, one shared by the quick-start examples, one for
    # the lifecycle example, one for the store example, and one failed request with the
    # deliberately wrong secret.
    assert salesforce_org.token_requests == 5
    assert salesforce_org.revoke_requests == 1


def test_pytest_examples_pass_under_pytest_with_requests_ca_bundle_set(tmp_path: Path) -> None:
    """The README's test functions run as a user's would: collected by pytest, with the
    fixtures the installed plugin registers, and ``REQUESTS_CA_BUNDLE`` set to a bundle
    without the local org's CA, as on many CI images."""
    blocks = [block for block in fenced("python") if re.search(r"^def test_", block, re.M)]
    names = re.findall(r"^def (test_\w+)", "".join(blocks), flags=re.MULTILINE)
    assert len(names) >= 3, "the README shows the HTTP, canned-answer and HTTPS tests"
    imports = "from requests_sf_auth import SalesforceAuth, SalesforceSession\n"
    (tmp_path / "test_readme_examples.py").write_text(imports + "\n\n".join(blocks))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or requests.certs.where()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "REQUESTS_CA_BUNDLE": bundle},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(names)} passed" in result.stdout


def test_command_line_examples_run_against_a_local_org(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path),  # the token cache, kept out of the user's own
        "SF_DOMAIN": salesforce_org.url,
        "SF_CLIENT_ID": salesforce_org.client_id,
        "SF_CLIENT_SECRET": salesforce_org.client_secret,
    }
    commands = [
        line[2:]
        for block in fenced("console")
        for line in block.splitlines()
        if line.startswith("$ ")
    ]
    assert len(commands) >= 4
    for command in commands:
        program, *args = shlex.split(command)
        assert program == "requests-sf-auth"
        result = subprocess.run(
            [sys.executable, "-m", "requests_sf_auth", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"


def test_the_readme_starts_with_the_demo_and_test_commands() -> None:
    demo, test = fenced("sh")[:2]
    assert demo.strip().endswith("requests-sf-auth demo")
    assert "pip install ." in demo
    assert test.strip() == "./scripts/test"


def test_the_first_screen_says_what_it_does_then_the_commands_then_an_example_then_support() -> (
    None
):
    first_screen = README[: README.index("\n## ")]
    what = first_screen.index("made invisible")
    commands = first_screen.index("./scripts/test")
    example = first_screen.index("```python")
    supported = first_screen.index("**Supported:**")
    assert what < commands < example < supported
    assert len(fenced("python")[0].strip().splitlines()) <= 5


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = fenced("sh")[1].strip()
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ci_lines[-1] == test_command
