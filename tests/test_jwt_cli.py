"""The command line's JWT bearer flow: ``--username`` and ``--private-key-file`` (or
``SF_USERNAME`` and ``SF_PRIVATE_KEY_FILE``) select it for every command, against the local
org in a subprocess."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from requests_sf_auth.testing import KeyPair, LocalOrg

from test_cli import run

USER = "integration@acme.example"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def key_file(salesforce_org: LocalOrg, salesforce_key_pair: KeyPair, tmp_path: Path) -> Path:
    """The private key in a file, its public half trusted by the org for ``USER``."""
    salesforce_org.trust_jwt_key(USER, salesforce_key_pair.public_key)
    path = tmp_path / "server.key"
    path.write_text(salesforce_key_pair.private_key)
    return path


def jwt_env(org: LocalOrg, tmp_path: Path) -> dict[str, str | None]:
    return {"SF_DOMAIN": org.url, "SF_CLIENT_ID": org.client_id, "XDG_CACHE_HOME": str(tmp_path)}


def grant_types(org: LocalOrg) -> list[str]:
    return [
        dict(parse_qsl(r.body.decode()))["grant_type"]
        for r in org.received
        if r.path.endswith("/token")
    ]


def test_username_and_private_key_file_flags_select_the_jwt_flow_for_every_command(
    salesforce_org: LocalOrg, key_file: Path, tmp_path: Path, salesforce_key_pair: KeyPair
) -> None:
    flags = ["--username", USER, "--private-key-file", str(key_file)]
    env = jwt_env(salesforce_org, tmp_path)
    results = [
        run("check", *flags, env=env),
        run("token", "--json", *flags, env=env),
        run("request", "GET", "limits", *flags, env=env),
    ]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert set(grant_types(salesforce_org)) == {JWT_GRANT}
    key_lines = [
        line for line in salesforce_key_pair.private_key.splitlines() if "-----" not in line
    ]
    printed = "".join(r.stdout + r.stderr for r in results)
    assert not [line for line in key_lines if line in printed]


def test_sf_username_and_sf_private_key_file_select_it_and_the_cache_saves_token_requests(
    salesforce_org: LocalOrg, key_file: Path, tmp_path: Path
) -> None:
    env = {
        **jwt_env(salesforce_org, tmp_path),
        "SF_USERNAME": USER,
        "SF_PRIVATE_KEY_FILE": str(key_file),
    }
    results = [run("request", "GET", "limits", env=env) for _ in range(3)]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert grant_types(salesforce_org) == [JWT_GRANT]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--username", USER], "no private key for the JWT flow: pass --private-key-file"),
        (["--private-key-file", "server.key"], "no username for the JWT flow: pass --username"),
        (
            ["--username", USER, "--private-key-file", "/nonexistent/server.key"],
            "private_key_file cannot be read (No such file or directory)",
        ),
    ],
)
def test_an_incomplete_or_unreadable_jwt_setting_is_a_usage_error_naming_it(
    salesforce_org: LocalOrg, tmp_path: Path, flags: list[str], message: str
) -> None:
    result = run("token", *flags, env=jwt_env(salesforce_org, tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert salesforce_org.token_requests == 0


def test_a_key_pasted_where_its_path_belongs_is_never_printed(
    salesforce_org: LocalOrg, tmp_path: Path, salesforce_key_pair: KeyPair
) -> None:
    # CI keeps the key in a variable; SF_PRIVATE_KEY_FILE="$KEY" is an easy slip.
    pem = salesforce_key_pair.private_key
    env = {**jwt_env(salesforce_org, tmp_path), "SF_PRIVATE_KEY_FILE": pem}
    result = run("token", "--username", USER, env=env)
    assert result.returncode == 2
    assert "looks like the key itself" in result.stderr
    assert pem.splitlines()[1] not in result.stderr + result.stdout
