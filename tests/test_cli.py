"""The command line, run as a real subprocess against the local org."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from requests_sf_auth.testing import LocalOrg


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    return subprocess.run(
        [sys.executable, "-m", "requests_sf_auth", *args],
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def org_env(org: LocalOrg) -> dict[str, str]:
    env = {
        "SF_DOMAIN": org.url,
        "SF_CLIENT_ID": org.client_id,
        "SF_CLIENT_SECRET": org.client_secret,
    }
    if org.ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = org.ca_bundle
    return env


def test_demo_observes_every_step_and_exits_zero() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo passed: 5 of 5 steps observed" in result.stdout
    for step in ("[1] ok", "[2] ok", "[3] ok", "[4] ok", "[5] ok"):
        assert step in result.stdout
    assert "1 token request" in result.stdout


def test_check_passes_every_stage_on_a_healthy_org(org: LocalOrg) -> None:
    result = run("check", env=org_env(org))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * 4
    assert "running as integration@acme.example on " + org.url in result.stdout
    assert "3 offered, latest 67.0" in result.stdout
    assert org.client_secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("failure", "fix"),
    [
        ("no_run_as_user", "Run As"),
        ("login_domain", "My Domain"),
        ("invalid_client", "Consumer Secret"),
        ("ip_restricted", "IP restrictions"),
    ],
)
def test_check_stops_at_the_token_stage_with_a_plain_language_fix(
    salesforce_org: LocalOrg, failure: str, fix: str
) -> None:
    salesforce_org.fail_token_requests(failure)
    result = run("check", env=org_env(salesforce_org))
    assert result.returncode == 4
    assert "FAILED token:" in result.stdout
    assert fix in result.stdout
    assert salesforce_org.client_secret not in result.stdout + result.stderr


def test_check_warns_about_login_domains_and_goes_on_to_the_token_stage() -> None:
    with socket.socket() as probe:  # a closed loopback port: the check must not leave loopback
        probe.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {
        "SF_CLIENT_ID": "id",
        "SF_CLIENT_SECRET": "secret",
        **dict.fromkeys(("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"), dead_proxy),
        **dict.fromkeys(("NO_PROXY", "no_proxy"), ""),
    }
    result = run("check", "--domain", "https://login.salesforce.com", env=env)
    assert "warn   domain: login.salesforce.com is a login domain" in result.stdout
    assert "FAILED token:" in result.stdout
    assert result.returncode == 4


def test_check_reports_an_invalid_domain_shape() -> None:
    env = {"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret"}
    result = run("check", "--domain", "http://acme.my.salesforce.com", env=env)
    assert result.returncode == 3
    assert "plain http" in result.stdout


def test_check_stops_at_the_versions_stage_when_the_api_cannot_list_them(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.fail_api_requests(503)  # the version list meets an overloaded instance
    result = run("check", env=org_env(salesforce_org))
    assert result.returncode == 5
    assert "ok     token:" in result.stdout
    assert "FAILED api versions: GET /services/data/ failed: 503" in result.stdout
    assert "identity" not in result.stdout  # the check stops at the first failed stage


@pytest.mark.parametrize(
    "command", [["token"], ["request", "GET", "limits"]], ids=["token", "request"]
)
def test_token_and_request_exit_4_with_the_fix_when_no_token_can_be_had(
    salesforce_org: LocalOrg, command: list[str]
) -> None:
    salesforce_org.fail_token_requests("invalid_client")
    result = run(*command, env=org_env(salesforce_org))
    assert result.returncode == 4
    assert "invalid_client" in result.stderr
    assert "Consumer Secret" in result.stderr
    assert result.stdout == ""
    assert salesforce_org.client_secret not in result.stderr
    assert salesforce_org.api_requests == 0


def test_check_reports_the_identity_stage_when_the_api_refuses(salesforce_org: LocalOrg) -> None:
    salesforce_org.reject_api_with = "This session is not valid for use with the REST API"
    result = run("check", env=org_env(salesforce_org))
    assert result.returncode == 6
    assert "FAILED identity" in result.stdout


def test_token_masks_the_token_unless_asked(salesforce_org: LocalOrg) -> None:
    masked = run("token", env=org_env(salesforce_org))
    assert masked.returncode == 0
    live = salesforce_org.live_tokens()
    assert all(t not in masked.stdout for t in live)
    assert "masked" in masked.stdout
    assert "instance_url" in masked.stdout
    assert "T" in masked.stdout.split("issued_at")[1].splitlines()[0]  # an ISO time

    shown = run("token", "--json", "--show-token", env=org_env(salesforce_org))
    data = json.loads(shown.stdout)
    assert data["access_token"] in salesforce_org.live_tokens()
    assert data["instance_url"] == salesforce_org.url
    assert set(data) >= {"id", "scope", "issued_at", "instance_url"}
    assert "signature" not in data


def test_secret_comes_from_a_file_or_stdin(salesforce_org: LocalOrg, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(salesforce_org.client_secret + "\n")
    flags = ["--domain", salesforce_org.url, "--client-id", salesforce_org.client_id]
    from_file = run("token", *flags, "--client-secret-file", str(secret_file))
    assert from_file.returncode == 0, from_file.stderr
    from_stdin = run(
        "token", *flags, "--client-secret-file", "-", stdin=salesforce_org.client_secret
    )
    assert from_stdin.returncode == 0, from_stdin.stderr


def test_there_is_no_flag_that_takes_the_secret_itself() -> None:
    result = run("token", "--client-secret", "abc")
    assert result.returncode == 2
    assert "abc" not in result.stderr


@pytest.mark.parametrize(
    ("env", "args", "names"),
    [
        ({}, ["token"], "SF_DOMAIN"),
        ({"SF_DOMAIN": "acme.my.salesforce.com"}, ["token"], "SF_CLIENT_ID"),
        ({"SF_DOMAIN": "a.my.salesforce.com", "SF_CLIENT_ID": "x"}, ["token"], "SF_CLIENT_SECRET"),
        ({}, ["request", "GET"], "path"),
        ({}, ["nonsense"], "invalid choice"),
        (
            {},
            [
                "token",
                "--client-secret-file",
                "/no/such/file",
                "--domain",
                "a.b",
                "--client-id",
                "x",
            ],
            "--client-secret-file",
        ),
    ],
)
def test_usage_errors_are_one_line_naming_the_setting_with_exit_code_2(
    env: dict[str, str], args: list[str], names: str
) -> None:
    result = run(*args, env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert names in result.stderr


@pytest.mark.parametrize("command", ["demo", "check", "token", "request"])
def test_every_command_has_help_with_usage_and_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: requests-sf-auth " + command)
    assert "example: requests-sf-auth" in result.stdout


def test_request_resolves_relative_paths_and_pretty_prints_json(org: LocalOrg) -> None:
    result = run(
        "request",
        "GET",
        "sobjects/Account/describe",
        "--param",
        "fields=Id",
        "-H",
        "X-Trace: 7",
        env=org_env(org),
    )
    assert result.returncode == 0, result.stderr
    echoed = json.loads(result.stdout)
    assert echoed["path"] == "/services/data/v67.0/sobjects/Account/describe"
    assert echoed["query"] == {"fields": ["Id"]}
    assert echoed["headers"]["X-Trace"] == "7"
    assert result.stdout.startswith("{\n  ")


def test_request_sends_json_data_inline_or_from_a_file(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    env = org_env(salesforce_org)
    inline = run("request", "POST", "sobjects/Account", "-d", '{"Name": "Acme"}', env=env)
    assert json.loads(json.loads(inline.stdout)["body"]) == {"Name": "Acme"}
    body = tmp_path / "account.json"
    body.write_text('{"Name": "From file"}')
    from_file = run("request", "PATCH", "sobjects/Account/001", "-d", f"@{body}", env=env)
    assert json.loads(from_file.stdout)["method"] == "PATCH"
    assert json.loads(json.loads(from_file.stdout)["body"]) == {"Name": "From file"}
    bad = run("request", "POST", "sobjects/Account", "-d", "{not json", env=env)
    assert bad.returncode == 2
    assert "-d is not valid JSON" in bad.stderr


def test_request_shows_status_and_headers_and_fails_on_http_errors(
    salesforce_org: LocalOrg,
) -> None:
    env = org_env(salesforce_org)
    salesforce_org.reject_api_with = "This session is not valid for use with the REST API"
    result = run("request", "GET", "limits", "-i", env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP 401")
    assert "WWW-Authenticate: Token" in result.stdout
    missing = run("request", "GET", "/nowhere", env=env)
    assert missing.returncode == 1
    assert "NOT_FOUND" in missing.stdout
