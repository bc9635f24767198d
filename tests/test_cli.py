"""The command line, run as a real subprocess against the local org, with ``HOME`` and
``XDG_CACHE_HOME`` in a temporary directory and no proxy settings from the outside."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from requests_sf_auth import __version__
from requests_sf_auth.testing import LocalOrg

from helpers import raw_echo, status_line_echoing_the_form, wait_for

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECRET_LOOKING = "Sup3rS3cretValue"
COMMANDS = ["demo", "check", "token", "request"]
REMOTE = ["check", "token", "request"]  # the commands that talk to an org
ARGS = {"check": [], "token": [], "request": ["GET", "limits"]}
# Runs the command line like `python -m requests_sf_auth`, after a prelude that sets up the
# process: Ctrl-C raises KeyboardInterrupt even where the test runner's parent ignores
# SIGINT, as it does in a terminal.
LAUNCH = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); {}; "
    "runpy.run_module('requests_sf_auth', run_name='__main__', alter_sys=True)"
)
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of the test's own: every run's token cache lands in it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    return home


def cache_of(home: Path) -> Path:
    return home / "xdg-cache" / "requests-sf-auth"


def environment(env: dict[str, str | None] | None) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SF_") and k.lower() not in _PROXY_VARIABLES
    }
    for key, value in (env or {}).items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def command(*args: str, prelude: str = "") -> list[str]:
    if prelude:
        return [sys.executable, "-c", LAUNCH.format(prelude), *args]
    return [sys.executable, "-m", "requests_sf_auth", *args]


def run(
    *args: str,
    env: dict[str, str | None] | None = None,
    stdin: str | None = None,
    prelude: str = "",
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args, prelude=prelude),
        env=environment(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def org_env(org: LocalOrg) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "SF_DOMAIN": org.url,
        "SF_CLIENT_ID": org.client_id,
        "SF_CLIENT_SECRET": org.client_secret,
    }
    if org.ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = org.ca_bundle
    return env


def echo_env(url: str) -> dict[str, str | None]:
    """The settings for a raw echoing server at ``url`` standing in for an org, with a client
    secret that looks like one, so that an echo of it would show."""
    return {"SF_DOMAIN": url, "SF_CLIENT_ID": "3MVG9cid", "SF_CLIENT_SECRET": SECRET_LOOKING}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def echoed(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def header(echo: dict[str, object], name: str) -> str:
    """A header as the org received it, by case-insensitive name."""
    headers = echo["headers"]
    assert isinstance(headers, dict)
    found = [str(v) for k, v in headers.items() if k.lower() == name.lower()]
    assert len(found) == 1, headers
    return found[0]


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


# -- the basics ----------------------------------------------------------------------------


def test_demo_observes_every_step_and_exits_zero() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo passed: 5 of 5 steps observed" in result.stdout
    for step in ("[1] ok", "[2] ok", "[3] ok", "[4] ok", "[5] ok"):
        assert step in result.stdout
    assert "1 token request" in result.stdout


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"requests-sf-auth {__version__}\n"


@pytest.mark.parametrize("command_name", COMMANDS)
def test_every_command_has_help_with_usage_an_example_and_its_exit_codes(
    command_name: str,
) -> None:
    result = run(command_name, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: requests-sf-auth " + command_name)
    assert "example: requests-sf-auth" in result.stdout
    assert "exit codes:" in result.stdout
    assert re.search(r"^  0 +success$", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^  130 +interrupted", result.stdout, flags=re.MULTILINE)


def help_exit_codes(text: str) -> dict[int, str]:
    table = text.split("exit codes:\n", 1)[1].split("\n\n", 1)[0]
    rows = (re.fullmatch(r"  (\d+) +(.+)", line) for line in table.splitlines())
    return {int(row[1]): row[2] for row in rows if row}


def readme_exit_codes() -> dict[int, tuple[str, list[str]]]:
    table = README.split("| code | meaning | returned by |\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| (.+?) \|$", table, flags=re.MULTILINE)
    return {int(code): (meaning, commands.split(", ")) for code, meaning, commands in rows}


def test_help_and_the_readme_show_one_exit_code_table() -> None:
    top = help_exit_codes(run("--help").stdout)
    readme = readme_exit_codes()
    assert top == {code: meaning for code, (meaning, _) in readme.items()}
    assert set(top) == {0, 1, 2, 3, 4, 5, 130}
    for name in COMMANDS:
        own = help_exit_codes(run(name, "--help").stdout)
        assert own == {code: top[code] for code, (_, where) in readme.items() if name in where}


# -- check -----------------------------------------------------------------------------------


def test_check_passes_every_stage_on_a_healthy_org(org: LocalOrg) -> None:
    result = run("check", env=org_env(org))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * 4
    assert "running as integration@acme.example (Integration User) on " + org.url in result.stdout
    assert "3 offered, newest 67.0; using 67.0" in result.stdout
    assert result.stderr == ""
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
    assert "FAILED token:" in result.stderr
    assert fix in result.stderr
    assert "FAILED" not in result.stdout
    assert salesforce_org.client_secret not in result.stdout + result.stderr


def test_check_warns_about_login_domains_and_goes_on_to_the_token_stage() -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"  # the check must not leave loopback
    env: dict[str, str | None] = {
        "SF_CLIENT_ID": "id",
        "SF_CLIENT_SECRET": "secret",
        **dict.fromkeys(("HTTPS_PROXY", "https_proxy"), dead_proxy),
    }
    result = run("check", "--domain", "https://login.salesforce.com", env=env)
    assert "warn   domain: login.salesforce.com is a login domain" in result.stderr
    assert "MYDOMAIN.my.salesforce.com" in result.stderr
    assert "FAILED token: could not connect" in result.stderr
    assert result.returncode == 3


def test_check_reports_an_invalid_domain_shape_as_a_usage_error() -> None:
    env: dict[str, str | None] = {"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret"}
    result = run("check", "--domain", "http://acme.my.salesforce.com", env=env)
    assert result.returncode == 2
    assert "FAILED domain:" in result.stderr
    assert "plain http" in result.stderr
    assert result.stdout == ""


def test_check_suggests_the_spelling_and_the_my_domain_form_for_a_name_that_does_not_resolve() -> (
    None
):
    env: dict[str, str | None] = {"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret"}
    result = run("check", "--domain", "acme.my.salesforce.invalid", env=env)
    assert result.returncode == 3
    assert "FAILED token:" in result.stderr
    assert "acme.my.salesforce.invalid does not resolve" in result.stderr
    assert "check the spelling" in result.stderr
    assert "MYDOMAIN.my.salesforce.com" in result.stderr


def test_check_prints_salesforces_error_body_and_its_fix_when_the_identity_call_fails(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.reject_api_with = "This session is not valid for use with the REST API"
    result = run("check", env=org_env(salesforce_org))
    assert result.returncode == 1
    assert "FAILED identity: GET /services/data/v67.0/ answered HTTP 401" in result.stderr
    assert '"errorCode": "INVALID_SESSION_ID"' in result.stderr
    assert "This session is not valid for use with the REST API" in result.stderr
    assert "fix: " in result.stderr
    assert "API Enabled" in result.stderr
    assert "FAILED" not in result.stdout


def test_check_falls_back_to_a_call_any_api_user_may_make_when_the_user_record_is_refused(
    salesforce_org: LocalOrg,
) -> None:
    salesforce_org.add_response(
        "GET",
        "sobjects/User/0055g000001WXYZ",
        status=403,
        json=[{"errorCode": "INSUFFICIENT_ACCESS", "message": "insufficient access rights"}],
    )
    result = run("check", env=org_env(salesforce_org))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok     identity: the REST API accepts the token" in result.stdout
    assert "warn   identity: cannot read the run-as user's record" in result.stderr
    paths = [r.path for r in salesforce_org.received if r.path.startswith("/services/data/v")]
    assert paths == [
        "/services/data/v67.0/sobjects/User/0055g000001WXYZ",
        "/services/data/v67.0/",
    ]


def test_check_fails_naming_the_newest_version_when_the_requested_one_is_not_offered(
    salesforce_org: LocalOrg,
) -> None:
    result = run("check", "--api-version", "99.0", env=org_env(salesforce_org))
    assert result.returncode == 5
    assert "--api-version 99.0 is not offered by this org; the newest it offers is 67.0" in (
        result.stderr
    )
    assert "fix: pass --api-version 67.0" in result.stderr


def test_check_exits_5_when_the_org_lists_no_api_versions() -> None:
    with LocalOrg(api_versions=()) as bare:
        result = run("check", env=org_env(bare))
    assert result.returncode == 5
    assert "FAILED api versions: GET /services/data/ listed no versions" in result.stderr


def test_check_goes_on_with_the_newest_version_when_the_default_is_not_offered() -> None:
    with LocalOrg(api_versions=("65.0", "66.0")) as older:
        result = run("check", env=org_env(older))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "does not offer 67.0, the default; going on with 66.0" in result.stderr
        assert "using 66.0" in result.stdout
        assert "/services/data/v66.0/sobjects/User/0055g000001WXYZ" in [
            r.path for r in older.received
        ]


# What the org below issues: a token shaped like Salesforce's, and another one, which the
# command line never held, for an echo of someone else's request.
ISSUED = "00D5g000004ABCD!AR8AQ" + "Iss" * 30
OTHER = "00D5g000004ABCD!AR8AQ" + "Oth" * 30
VERSIONS = b'[{"label": "Summer", "url": "/services/data/v67.0", "version": "67.0"}]'


def raw_answer(status: str, body: bytes, content_type: str = "text/html") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
    return head.encode() + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


def echoing_org(api: Callable[[str, bytes], bytes]) -> Callable[[bytes, bytes], bytes]:
    """For :func:`raw_echo`: an org whose token endpoint issues ``ISSUED`` and whose API
    answers ``api(path, the request's head)``."""

    def answer(head: bytes, body: bytes) -> bytes:
        path = head.split(b" ", 2)[1].decode()
        if path == "/services/oauth2/token":
            host = re.search(rb"(?im)^host:\s*(\S+)", head)
            assert host is not None
            token = {
                "access_token": ISSUED,
                "instance_url": f"http://{host.group(1).decode()}",
                "id": "https://login.salesforce.com/id/00D5g000004ABCD/0055g000001WXYZ",
                "token_type": "Bearer",
                "issued_at": "1700000000000",
            }
            return raw_answer("200 OK", json.dumps(token).encode(), "application/json")
        return api(path, head)

    return answer


def blocked_page(listed: bytes) -> bytes:
    """A WAF's block page that lists what the request carried."""
    return raw_answer("403 Forbidden", b"<html><h1>Request blocked</h1><pre>" + listed + b"</pre>")


def header_values(head: bytes) -> bytes:
    """The values of a request's headers, without their names or an auth scheme: as a
    gateway's block page lists them."""
    lines = head.split(b"\r\n")[1:]
    return b" | ".join(line.partition(b": ")[2].rpartition(b" ")[2] for line in lines)


@pytest.mark.parametrize(
    "stage",
    ["versions refused", "versions unreadable", "identity refused", "another token", "at the cut"],
)
def test_check_masks_a_token_that_an_error_page_echoes_from_the_request(stage: str) -> None:
    def api(path: str, head: bytes) -> bytes:
        if stage == "versions refused":
            return blocked_page(head)
        if stage == "versions unreadable":
            return raw_answer("200 OK", b"<pre>" + header_values(head) + b"</pre>")
        if stage == "another token":
            return blocked_page(b"Authorization: Bearer " + OTHER.encode())
        if stage == "at the cut":  # the quote ends 40 characters into the token
            padding = b"python-requests " + b"." * 409
            return blocked_page(padding + header_values(head).rpartition(b" | ")[2])
        if path.startswith("/services/data/v67.0/sobjects/"):
            return blocked_page(header_values(head))
        body = VERSIONS if path == "/services/data/" else b"{}"
        return raw_answer("200 OK", body, "application/json")

    with raw_echo(echoing_org(api)) as (url, _):
        env = echo_env(url)
        result = run("check", env=env)
    expected = {"versions refused": 1, "versions unreadable": 5, "identity refused": 0}
    assert result.returncode == expected.get(stage, 1), result.stderr
    assert "python-requests" in result.stderr or stage == "another token"  # quoted...
    assert "***" in result.stderr
    shown = result.stdout + result.stderr
    assert ISSUED not in shown  # ...without the token
    assert OTHER not in shown  # nor one the run never held
    assert "IssIssIss" not in shown


def esapi_listing(head: bytes) -> bytes:
    """A WAF's table of a request's headers, each value HTML-encoded as OWASP ESAPI or
    AntiXSS encode it: every character but letters and digits as a numeric reference."""
    rows = []
    for line in head.decode().split("\r\n")[1:]:
        name, _, value = line.partition(": ")
        encoded = "".join(c if c.isalnum() else f"&#x{ord(c):X};" for c in value)
        rows.append(f"<tr><td>{name}</td><td>{encoded}</td></tr>")
    return f"<table>{''.join(rows)}</table>".encode()


def mime_base64(head: bytes) -> bytes:
    """A support blob: the request's head in base64 wrapped at 76 columns, as MIME has it."""
    return b"Support ID 42; send us this:\n" + base64.encodebytes(head + b"\r\n\r\n")


def base64_said(text: str) -> str:
    """What the runs of base64 in ``text`` say, lines joined, at any offset."""
    said = []
    for run in re.findall(r"[A-Za-z0-9+/=]{4,}(?:\s+[A-Za-z0-9+/=]{4,})*", text):
        joined = "".join(run.split())
        for start in range(4):
            chunk = joined[start:][: (len(joined) - start) // 4 * 4]
            with contextlib.suppress(ValueError):
                said.append(base64.b64decode(chunk).decode("latin-1"))
    return " ".join(said)


@pytest.mark.parametrize("command", ["request", "check"])
@pytest.mark.parametrize("listing", [esapi_listing, mime_base64], ids=["ESAPI", "MIME base64"])
def test_a_waf_page_listing_the_request_encoded_shows_the_token_in_no_spelling(
    listing: Callable[[bytes], bytes], command: str
) -> None:
    def api(path: str, head: bytes) -> bytes:
        return blocked_page(listing(head))

    args = ("request", "GET", "limits") if command == "request" else ("check",)
    with raw_echo(echoing_org(api)) as (url, _):
        env = echo_env(url)
        result = run(*args, env=env)
    assert result.returncode == 1, result.stderr
    shown = result.stdout + result.stderr
    assert "***" in shown
    assert "Request blocked" in shown  # the page is shown...
    for reading in (shown, html.unescape(shown), base64_said(shown)):
        assert "IssIssIss" not in reading  # ...without the token, however it is read


# -- token -----------------------------------------------------------------------------------


def test_token_leaves_the_access_token_out_unless_asked_and_says_so(
    salesforce_org: LocalOrg,
) -> None:
    for flags in ([], ["--json"]):
        result = run("token", *flags, env=org_env(salesforce_org))
        assert result.returncode == 0, result.stderr
        assert all(t not in result.stdout + result.stderr for t in salesforce_org.live_tokens())
        assert "access_token" not in result.stdout
        assert "access_token left out; pass --show-token" in result.stderr
    assert "access_token" not in json.loads(result.stdout)

    shown = run("token", "--json", "--show-token", env=org_env(salesforce_org))
    data = json.loads(shown.stdout)
    assert data["access_token"] in salesforce_org.live_tokens()
    assert "left out" not in shown.stderr


def test_token_json_keeps_salesforces_raw_fields_and_adds_derived_ones(org: LocalOrg) -> None:
    result = run("token", "--json", env=org_env(org))
    data = json.loads(result.stdout)
    assert data["instance_url"] == org.url
    assert data["token_type"] == "Bearer"
    assert re.fullmatch(r"\d{13}", data["issued_at"])  # as Salesforce sent it
    assert data["issued_at_iso"].endswith("Z")
    assert data["id"] == f"https://login.salesforce.com/id/{data['org_id']}/{data['user_id']}"
    assert data["org_id"] == "00D5g000004ABCD"
    assert data["user_id"] == "0055g000001WXYZ"
    assert "signature" not in data


def test_token_masks_the_token_wherever_else_the_answer_repeats_it(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_factory = lambda: ISSUED
    org.answer_fields = {"note": f"session {ISSUED}", f"key {ISSUED}": [ISSUED]}
    for flags in ([], ["--json"]):
        result = run("token", *flags, env=org_env(org))
        assert result.returncode == 0, result.stderr
        assert "session ***" in result.stdout
        assert ISSUED not in result.stdout + result.stderr
    shown = json.loads(run("token", "--json", "--show-token", env=org_env(org)).stdout)
    assert shown["access_token"] == ISSUED  # asked for: the token itself, whole
    assert shown["note"] == "session ***"


@pytest.mark.parametrize(
    ("setup", "code", "failure"),
    [("usage", 2, "usage"), ("connect", 3, "connect"), ("token", 4, "token")],
)
def test_token_json_reports_errors_as_json(
    salesforce_org: LocalOrg, setup: str, code: int, failure: str
) -> None:
    env = org_env(salesforce_org)
    if setup == "usage":
        env["SF_DOMAIN"] = None
    elif setup == "connect":
        env["SF_DOMAIN"] = f"http://127.0.0.1:{closed_port()}"
    else:
        salesforce_org.fail_token_requests("invalid_client")
    result = run("token", "--json", env=env)
    assert result.returncode == code
    assert result.stdout == ""
    report = json.loads(result.stderr)
    assert report["exit_code"] == code
    assert report["failure"] == failure
    assert report["message"]
    if setup == "token":
        assert report["error"] == "invalid_client"
        assert report["error_description"] == "invalid client credentials"
        assert "Consumer Secret" in report["hint"]
    assert salesforce_org.client_secret not in result.stderr


def test_a_status_line_echoing_the_form_keeps_the_secret_off_token_json_stderr() -> None:
    secret = "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4"
    with raw_echo(status_line_echoing_the_form) as (url, _):
        env = {"SF_DOMAIN": url, "SF_CLIENT_ID": "3MVG9cid", "SF_CLIENT_SECRET": secret}
        result = run("token", "--json", "-v", env=env)
    assert result.returncode == 3
    report = json.loads(result.stderr.splitlines()[-1])
    assert "BadStatusLine" in report["message"]
    assert secret not in result.stdout + result.stderr


def test_verbose_shows_the_librarys_log_without_secrets_or_tokens(
    salesforce_org: LocalOrg,
) -> None:
    quiet = run("request", "GET", "limits", env=org_env(salesforce_org))
    assert quiet.stderr == ""
    salesforce_org.expire_tokens()
    loud = run("request", "GET", "limits", "-vv", env=org_env(salesforce_org))
    assert loud.returncode == 0, loud.stderr
    assert "requests-sf-auth: info: GET /services/data/v67.0/limits: rejected with HTTP 401" in (
        loud.stderr
    )
    assert f"received a token for {salesforce_org.url}" in loud.stderr
    leaks = [salesforce_org.client_secret, *salesforce_org.live_tokens()]
    assert all(secret not in loud.stderr for secret in leaks)
    early = run("-v", "token", env=org_env(salesforce_org))
    assert "received a token" in early.stderr


# -- the secret never on the command line ------------------------------------------------------


@pytest.mark.parametrize(
    "flag",
    [
        ["--client-secret", SECRET_LOOKING],
        [f"--client-secret={SECRET_LOOKING}"],
        ["--client_secret", SECRET_LOOKING],
        ["--secret", SECRET_LOOKING],
        ["--consumer-secret", SECRET_LOOKING],
        ["--password", SECRET_LOOKING],
        ["--access-token", SECRET_LOOKING],
        ["--token", SECRET_LOOKING],
    ],
)
@pytest.mark.parametrize("command_name", REMOTE)
def test_flags_that_look_like_a_secret_are_refused_without_echoing_the_value(
    salesforce_org: LocalOrg, command_name: str, flag: list[str]
) -> None:
    result = run(command_name, *ARGS[command_name], *flag, env=org_env(salesforce_org))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is refused" in result.stderr
    assert "--client-secret-file" in result.stderr
    assert SECRET_LOOKING not in result.stdout + result.stderr
    assert salesforce_org.token_requests == 0


@pytest.mark.parametrize(
    "abbreviated", ["--client-secret-f", "--client-sec", "--dom", "--show-tok"]
)
def test_abbreviated_flags_are_not_taken_for_the_full_ones(
    salesforce_org: LocalOrg, tmp_path: Path, abbreviated: str
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(salesforce_org.client_secret)
    result = run("token", abbreviated, str(secret_file), env=org_env(salesforce_org))
    assert result.returncode == 2
    refused = (f"unrecognized {abbreviated} ", f"{abbreviated} is refused")
    assert any(what in result.stderr for what in refused), result.stderr
    assert str(secret_file) not in result.stderr
    assert salesforce_org.token_requests == 0


def test_a_secret_given_as_the_secret_file_name_is_never_echoed() -> None:
    env: dict[str, str | None] = {"SF_DOMAIN": "acme.my.salesforce.com", "SF_CLIENT_ID": "x"}
    for flags in (
        ["--client-secret-file", SECRET_LOOKING],
        [f"--client-secret-file={SECRET_LOOKING}"],
    ):
        result = run("token", *flags, env=env)
        assert result.returncode == 2
        assert "cannot read the file given to --client-secret-file" in result.stderr
        assert SECRET_LOOKING not in result.stderr


def test_unrecognized_arguments_are_named_without_their_values() -> None:
    result = run("token", "--bogus", SECRET_LOOKING, f"--other={SECRET_LOOKING}")
    assert result.returncode == 2
    assert "unrecognized --bogus --other and 2 value(s), not shown" in result.stderr
    assert SECRET_LOOKING not in result.stderr


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


@pytest.mark.parametrize(
    ("env", "args", "names"),
    [
        ({}, ["token"], "SF_DOMAIN"),
        ({"SF_DOMAIN": "acme.my.salesforce.com"}, ["token"], "SF_CLIENT_ID"),
        ({"SF_DOMAIN": "a.my.salesforce.com", "SF_CLIENT_ID": "x"}, ["token"], "SF_CLIENT_SECRET"),
        ({}, ["request", "GET"], "path"),
        ({}, ["nonsense"], "invalid choice"),
        ({}, ["token", "--timeout", "0"], "--timeout"),
        ({}, ["token", "--api-version", "latest"], "--api-version"),
        ({}, ["token", "--api-version", "\u0666\u0667"], "--api-version"),
    ],
)
def test_usage_errors_are_one_line_naming_the_setting_with_exit_code_2(
    env: dict[str, str | None], args: list[str], names: str
) -> None:
    result = run(*args, env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert names in result.stderr


def test_a_timeout_of_up_to_a_day_works_and_a_longer_one_is_a_usage_error(
    salesforce_org: LocalOrg,
) -> None:
    env = org_env(salesforce_org)
    longest = run("request", "GET", "limits", "--timeout", "86400", env=env)
    assert longest.returncode == 0, longest.stderr
    longer = run("request", "GET", "limits", "--timeout", "1e10", env=env)
    no_traceback(longer)
    assert longer.returncode == 2
    assert "--timeout" in longer.stderr
    assert "86400" in longer.stderr


# -- the token cache -------------------------------------------------------------------------


def test_five_request_runs_cost_one_token_request(salesforce_org: LocalOrg) -> None:
    for _ in range(5):
        assert run("request", "GET", "limits", env=org_env(salesforce_org)).returncode == 0
    assert salesforce_org.token_requests == 1
    assert salesforce_org.api_requests == 5


def test_the_cache_is_private_one_file_per_domain_and_client_and_holds_no_secret(
    salesforce_org: LocalOrg, home: Path
) -> None:
    with LocalOrg() as second:
        for org in (salesforce_org, second, salesforce_org):
            assert run("request", "GET", "limits", env=org_env(org)).returncode == 0
        assert (salesforce_org.token_requests, second.token_requests) == (1, 1)
        directory = cache_of(home)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        files = sorted(directory.iterdir())
        assert len([f for f in files if f.suffix == ".json"]) == 2
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
            content = file.read_text()
            for secret in (salesforce_org.client_secret, second.client_secret):
                assert secret not in content
        tokens = "".join(f.read_text() for f in files)
        assert all(t in tokens for t in salesforce_org.live_tokens() + second.live_tokens())


@pytest.mark.parametrize("xdg", [True, False])
def test_the_cache_lives_under_xdg_cache_home_or_else_under_home(
    salesforce_org: LocalOrg, home: Path, xdg: bool
) -> None:
    env = org_env(salesforce_org)
    if not xdg:
        env["XDG_CACHE_HOME"] = None
    assert run("request", "GET", "limits", env=env).returncode == 0
    expected = cache_of(home) if xdg else home / ".cache" / "requests-sf-auth"
    other = home / ".cache" if xdg else home / "xdg-cache"
    assert list(expected.glob("*.json"))
    assert not other.exists()


def test_no_cache_neither_reads_nor_writes_the_cache(salesforce_org: LocalOrg, home: Path) -> None:
    assert run("request", "GET", "limits", env=org_env(salesforce_org)).returncode == 0
    cached = {f.name: f.read_bytes() for f in cache_of(home).iterdir()}
    for _ in range(2):
        result = run("request", "GET", "limits", "--no-cache", env=org_env(salesforce_org))
        assert result.returncode == 0, result.stderr
    assert salesforce_org.token_requests == 3
    assert {f.name: f.read_bytes() for f in cache_of(home).iterdir()} == cached


def test_no_cache_creates_no_cache_directory(salesforce_org: LocalOrg, home: Path) -> None:
    result = run("token", "--no-cache", env=org_env(salesforce_org))
    assert result.returncode == 0, result.stderr
    assert not (home / "xdg-cache").exists()


def test_a_cached_token_that_died_is_renewed_on_the_next_run(salesforce_org: LocalOrg) -> None:
    env = org_env(salesforce_org)
    assert run("request", "GET", "limits", env=env).returncode == 0
    salesforce_org.expire_tokens()
    renewed = run("request", "GET", "limits", env=env)
    assert renewed.returncode == 0, renewed.stderr
    assert "DailyApiRequests" in json.loads(renewed.stdout)
    assert salesforce_org.token_requests == 2
    assert run("request", "GET", "limits", env=env).returncode == 0
    assert salesforce_org.token_requests == 2  # the renewed token went into the cache
    assert [r.status for r in salesforce_org.received if r.path.endswith("/limits")] == [
        200,
        401,
        200,
        200,
    ]


def test_check_and_token_fetch_a_fresh_token_and_leave_it_for_request(
    salesforce_org: LocalOrg,
) -> None:
    env = org_env(salesforce_org)
    assert run("token", env=env).returncode == 0
    assert run("token", env=env).returncode == 0
    assert salesforce_org.token_requests == 2
    assert run("request", "GET", "limits", env=env).returncode == 0
    assert salesforce_org.token_requests == 2
    assert run("check", env=env).returncode == 0
    assert salesforce_org.token_requests == 3


def test_loosened_cache_permissions_are_tightened_again(
    salesforce_org: LocalOrg, home: Path
) -> None:
    env = org_env(salesforce_org)
    assert run("request", "GET", "limits", env=env).returncode == 0
    directory = cache_of(home)
    directory.chmod(0o755)
    for file in directory.iterdir():
        file.chmod(0o644)
    assert run("request", "GET", "limits", env=env).returncode == 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in directory.iterdir()} == {0o600}
    assert salesforce_org.token_requests == 1


@pytest.mark.parametrize("blocked", ["cache home is a file", "token file is a directory"])
def test_an_unusable_cache_costs_one_warning_and_the_command_still_works(
    salesforce_org: LocalOrg, home: Path, blocked: str
) -> None:
    if blocked == "cache home is a file":
        (home / "xdg-cache").write_text("not a directory")
    else:
        assert run("request", "GET", "limits", env=org_env(salesforce_org)).returncode == 0
        (token_file,) = cache_of(home).glob("*.json")
        token_file.unlink()
        token_file.mkdir()
    before = salesforce_org.token_requests
    for _ in range(2):
        result = run("request", "GET", "limits", env=org_env(salesforce_org))
        assert result.returncode == 0, result.stderr
        assert "DailyApiRequests" in json.loads(result.stdout)
        (warning,) = result.stderr.splitlines()
        assert warning.startswith("requests-sf-auth: warning: the token cache in ")
        assert "going on without it" in warning
    assert salesforce_org.token_requests - before == 2


def test_a_cache_that_cannot_be_written_costs_one_warning_and_the_command_still_works(
    salesforce_org: LocalOrg, home: Path
) -> None:
    # Files may not grow past one byte: the directory checks pass, writing the token fails.
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))"
    result = run("request", "GET", "limits", env=org_env(salesforce_org), prelude=limit)
    assert result.returncode == 0, result.stderr
    assert "DailyApiRequests" in json.loads(result.stdout)
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(f"requests-sf-auth: warning: token store {cache_of(home)}")
    assert "requests go on with a token of this process's own" in warning
    assert not list(cache_of(home).glob("*.json"))


def test_a_cached_record_with_a_damaged_seal_costs_one_warning_and_is_replaced(
    salesforce_org: LocalOrg, home: Path
) -> None:
    env = org_env(salesforce_org)
    assert run("request", "GET", "limits", env=env).returncode == 0
    (token_file,) = cache_of(home).glob("*.json")
    records = json.loads(token_file.read_text())
    for record in records.values():
        record["seal"] = "\u00e9" + record["seal"][1:]  # one character of damage
    token_file.write_text(json.dumps(records))
    damaged = run("request", "GET", "limits", env=env)
    no_traceback(damaged)
    assert damaged.returncode == 0, damaged.stderr
    assert "DailyApiRequests" in json.loads(damaged.stdout)
    (warning,) = damaged.stderr.splitlines()
    assert warning.startswith("requests-sf-auth: warning: ignoring a token store entry not sealed")
    assert run("request", "GET", "limits", env=env).returncode == 0
    assert salesforce_org.token_requests == 2  # the damaged record was replaced


# -- request ---------------------------------------------------------------------------------


def test_request_resolves_relative_paths_and_pretty_prints_json(org: LocalOrg) -> None:
    result = run(
        "request",
        "GET",
        "test/echo/sobjects/Account/describe",
        "--param",
        "fields=Id",
        "-H",
        "X-Trace: 7",
        env=org_env(org),
    )
    echo = echoed(result)
    assert echo["path"] == "/services/data/v67.0/test/echo/sobjects/Account/describe"
    assert echo["query"] == {"fields": ["Id"]}
    assert header(echo, "X-Trace") == "7"
    assert result.stdout.startswith("{\n  ")


def test_a_json_body_is_sent_as_application_json_unless_h_names_another_type(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    env = org_env(salesforce_org)
    inline = echoed(
        run("request", "POST", "test/echo/sobjects/Account", "-d", '{"Name": "Acme"}', env=env)
    )
    assert json.loads(str(inline["body"])) == {"Name": "Acme"}
    assert header(inline, "Content-Type") == "application/json"
    body = tmp_path / "account.json"
    body.write_text('{"Name": "From file"}')
    from_file = echoed(
        run("request", "PATCH", "test/echo/sobjects/Account/001", "-d", f"@{body}", env=env)
    )
    assert from_file["method"] == "PATCH"
    assert json.loads(str(from_file["body"])) == {"Name": "From file"}
    assert header(from_file, "Content-Type") == "application/json"
    typed = echoed(
        run(
            "request",
            "POST",
            "test/echo/sobjects/Account",
            "-d",
            '{"Name": "Acme"}',
            "-H",
            "content-type: application/json; charset=UTF-8",
            env=env,
        )
    )
    assert header(typed, "Content-Type") == "application/json; charset=UTF-8"


def test_a_file_body_is_sent_byte_for_byte_with_the_type_h_names(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    csv = tmp_path / "accounts.csv"
    content = b'Name,Description\r\nAcme,"caf\xc3\xa9 \xff"\r\n'  # CRLF, UTF-8 and a stray byte
    csv.write_bytes(content)
    result = run(
        "request",
        "PUT",
        "test/echo/jobs/ingest/7503x/batches",
        "-d",
        f"@{csv}",
        "-H",
        "Content-Type: text/csv",
        env=org_env(salesforce_org),
    )
    echo = echoed(result)
    assert echo["body_sha256"] == hashlib.sha256(content).hexdigest()
    assert echo["body_length"] == len(content)
    assert header(echo, "Content-Type") == "text/csv"


def test_a_text_body_is_sent_as_it_is_with_the_type_h_names(salesforce_org: LocalOrg) -> None:
    xml = '<?xml version="1.0"?><jobInfo><operation>insert</operation></jobInfo>'
    result = run(
        "request",
        "POST",
        "/services/async/67.0/job",
        "-d",
        xml,
        "-H",
        "Content-Type: application/xml",
        env=org_env(salesforce_org),
    )
    echo = echoed(result)
    assert echo["body"] == xml
    assert header(echo, "Content-Type") == "application/xml"


@pytest.mark.parametrize("body", ["{not json", "Name\nAcme", "@FILE"])
def test_a_body_that_is_not_json_needs_its_type_named_and_nothing_is_sent(
    salesforce_org: LocalOrg, tmp_path: Path, body: str
) -> None:
    xml = tmp_path / "job.xml"
    xml.write_text("<jobInfo/>")
    result = run(
        "request",
        "POST",
        "sobjects/Account",
        "-d",
        body.replace("FILE", str(xml)),
        env=org_env(salesforce_org),
    )
    assert result.returncode == 2
    assert "is not JSON" in result.stderr
    assert "-H 'Content-Type: TYPE'" in result.stderr
    assert "text/csv" in result.stderr
    assert salesforce_org.token_requests == salesforce_org.api_requests == 0


def test_a_missing_body_file_is_a_usage_error_that_does_not_echo_its_name(
    salesforce_org: LocalOrg,
) -> None:
    # The name after @ may be a secret typed in the wrong place.
    result = run("request", "POST", "x", "-d", "@Sup3rS3cretValue", env=org_env(salesforce_org))
    assert result.returncode == 2
    assert "cannot read the -d @FILE (No such file or directory)" in result.stderr
    assert "Sup3rS3cretValue" not in result.stderr
    assert salesforce_org.api_requests == 0


@pytest.mark.parametrize(
    "args",
    [
        ["Sup3rS3cretValue"],
        ["--client-secret-file", "Sup3rS3cretValue", "check"],
        ["request", "GET", "limits", "-H", "Authorization Bearer Sup3rS3cretValue"],
        ["request", "GET", "limits", "--param", "Sup3rS3cretValue"],
        ["token", "--timeout", "Sup3rS3cretValue"],
    ],
    ids=["as the command", "flag before the command", "header", "param", "timeout"],
)
def test_a_value_typed_in_the_wrong_place_is_never_echoed_in_a_usage_error(
    salesforce_org: LocalOrg, args: list[str]
) -> None:
    result = run(*args, env=org_env(salesforce_org))
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert "Sup3rS3cretValue" not in result.stderr + result.stdout


def test_a_body_from_stdin_is_sent_and_sent_again_after_a_401(salesforce_org: LocalOrg) -> None:
    env = org_env(salesforce_org)
    assert run("request", "GET", "limits", env=env).returncode == 0
    salesforce_org.expire_tokens()  # the cached token: the first send gets a 401
    csv = "Name\nAcme\nGlobex\n"
    args = (
        "request",
        "PUT",
        "test/echo/jobs/ingest/7503x/batches",
        "-d",
        "@-",
        "-H",
        "Content-Type: text/csv",
    )
    result = run(*args, env=env, stdin=csv)
    assert echoed(result)["body"] == csv
    sends = [r for r in salesforce_org.received if r.path.endswith("/batches")]
    assert [(r.status, r.body) for r in sends] == [(401, csv.encode()), (200, csv.encode())]


class _CountingSink(BaseHTTPRequestHandler):
    """Reads a request body a megabyte at a time and answers its length and SHA-256, so that
    a body of any size costs this side no memory."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        left = int(self.headers["Content-Length"])
        digest, received = hashlib.sha256(), 0
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            received += len(chunk)
            left -= len(chunk)
        answer = json.dumps({"received": received, "sha256": digest.hexdigest()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def counting_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingSink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/upload"
    finally:
        server.shutdown()
        server.server_close()


def test_a_large_file_body_is_streamed_not_loaded_whole(
    salesforce_org: LocalOrg, tmp_path: Path
) -> None:
    size = 128 * 2**20
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.truncate(size)  # sparse: reads as zeros, takes no disk
    peak = tmp_path / "peak"
    # The run's own high-water mark of Python memory, written as it exits.
    measure = (
        "import atexit, tracemalloc; tracemalloc.start(); atexit.register(lambda: "
        f"open({str(peak)!r}, 'w').write(str(tracemalloc.get_traced_memory()[1])))"
    )
    with counting_sink() as url:
        args = ("request", "POST", url, "-d", f"@{big}", "-H", "Content-Type: text/csv")
        result = run(*args, env=org_env(salesforce_org), prelude=measure)
    assert result.returncode == 0, result.stderr
    zeros = hashlib.sha256()
    for _ in range(size // 2**20):
        zeros.update(bytes(2**20))
    assert json.loads(result.stdout) == {"received": size, "sha256": zeros.hexdigest()}
    assert int(peak.read_text()) < size // 4  # 32 MiB: the modules and a few buffers


def test_request_prints_an_answer_that_echoes_the_token_with_the_token_masked(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_factory = lambda: ISSUED
    echo = {"headers": {"Authorization": f"Bearer {ISSUED}"}, "session": ISSUED}
    org.add_response("GET", "limits", json=echo, headers={"X-Echo": ISSUED})
    org.add_response("GET", "sobjects", body=f"<pre>session={ISSUED}</pre>", headers={})
    for path in ("limits", "sobjects"):
        result = run("request", "GET", path, "-i", env=org_env(org))
        assert result.returncode == 0, result.stderr
        assert "***" in result.stdout
        assert ISSUED not in result.stdout + result.stderr


def test_request_masks_an_entity_encoded_echo_of_the_token_and_leaves_other_text_as_is(
    salesforce_org: LocalOrg,
) -> None:
    org = salesforce_org
    org.token_factory = lambda: ISSUED
    signature = "Kind regards &#x2014; J. Smith &amp; Co.!\n0055g000001WXYZ | 100%21 | 3030 | QUJD"
    echo = "".join(c if c.isalnum() else f"&#{ord(c)};" for c in ISSUED)
    record = {"Id": "0055g000001WXYZ", "Signature": signature, "LastLogin": echo}
    org.add_response("GET", "sobjects/User/0055g000001WXYZ", json=record)
    result = run("request", "GET", "sobjects/User/0055g000001WXYZ", env=org_env(org))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**record, "LastLogin": "***"}


def test_request_masks_the_token_it_replaced_after_a_401_too(salesforce_org: LocalOrg) -> None:
    org = salesforce_org
    assert run("request", "GET", "limits", env=org_env(org)).returncode == 0
    (cached,) = org.live_tokens()
    org.expire_tokens()
    org.add_response("GET", "sobjects", json={"your last session": cached})
    result = run("request", "GET", "sobjects", env=org_env(org))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"your last session": "***"}
    assert org.token_requests == 2  # the cached token was sent, refused and renewed


def test_an_api_status_line_echoing_the_token_is_masked_in_could_not_connect() -> None:
    def api(path: str, head: bytes) -> bytes:
        sent = re.search(rb"(?im)^authorization: bearer (\S+)", head)
        assert sent is not None
        return b"BLOCKED " + sent.group(1) + b"\r\n\r\n"

    with raw_echo(echoing_org(api)) as (url, _):
        env = echo_env(url)
        result = run("request", "GET", "limits", env=env)
    assert result.returncode == 3
    assert "BadStatusLine('BLOCKED ***" in result.stderr
    assert ISSUED not in result.stderr


def test_another_librarys_warning_quoting_the_token_is_masked_on_stderr() -> None:
    # urllib3 logs header lines it cannot parse at WARNING, quoting them, on its own logger.
    def api(path: str, head: bytes) -> bytes:
        block = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nX-Upstream-Request "
        return block + head.replace(b"\r\n", b" ") + b"\r\nConnection: close\r\n\r\nbad"

    with raw_echo(echoing_org(api)) as (url, _):
        env = echo_env(url)
        result = run("request", "GET", "limits", env=env)
    assert result.returncode == 1
    assert "warning: Failed to parse headers" in result.stderr
    assert ISSUED not in result.stderr


def test_request_shows_status_and_headers_and_fails_on_http_errors(
    salesforce_org: LocalOrg,
) -> None:
    env = org_env(salesforce_org)
    salesforce_org.reject_api_with = "This session is not valid for use with the REST API"
    result = run("request", "GET", "limits", "-i", env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP 401")
    assert "WWW-Authenticate: Token" in result.stdout
    assert "requests-sf-auth request: HTTP 401 Unauthorized" in result.stderr
    salesforce_org.heal()
    missing = run("request", "GET", "/nowhere", env=env)
    assert missing.returncode == 1
    assert "NOT_FOUND" in missing.stdout


# -- exit codes shared by every command ------------------------------------------------------


@pytest.mark.parametrize("command_name", COMMANDS)
def test_a_usage_error_exits_2_from_every_command(command_name: str) -> None:
    result = run(command_name, *ARGS.get(command_name, []), "--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized --no-such-flag" in result.stderr


@pytest.mark.parametrize("command_name", REMOTE)
def test_a_malformed_domain_exits_2_from_every_command(command_name: str) -> None:
    env: dict[str, str | None] = {"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret"}
    result = run(command_name, *ARGS[command_name], "--domain", "https://a b.com", env=env)
    assert result.returncode == 2
    assert "white space" in result.stderr


@pytest.mark.parametrize("cause", ["dns", "refused", "tls", "timeout"])
@pytest.mark.parametrize("command_name", REMOTE)
def test_could_not_connect_exits_3_from_every_command_that_connects(
    salesforce_org_https: LocalOrg, command_name: str, cause: str
) -> None:
    org = salesforce_org_https
    env = org_env(org)
    extra: list[str] = []
    if cause == "dns":
        env["SF_DOMAIN"] = "acme.my.salesforce.invalid"
        expected = "acme.my.salesforce.invalid does not resolve"
    elif cause == "refused":
        env["SF_DOMAIN"] = f"http://127.0.0.1:{closed_port()}"
        expected = "the connection was refused"
    elif cause == "tls":
        env["REQUESTS_CA_BUNDLE"] = None  # the org's certificate is from a CA no one trusts
        expected = "TLS failed (certificate verify failed"
    else:
        org.fail_token_requests("hang")
        extra = ["--timeout", "0.5"]
        expected = "no answer within the timeout"
    result = run(command_name, *ARGS[command_name], *extra, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "could not connect to " in result.stderr
    assert expected in result.stderr
    no_traceback(result)


def test_an_api_that_cannot_be_reached_exits_3_even_with_a_cached_token() -> None:
    with LocalOrg() as gone:
        env = org_env(gone)
        assert run("request", "GET", "limits", env=env).returncode == 0
    result = run("request", "GET", "limits", env=env)  # the cached token, and no org
    assert result.returncode == 3
    assert "the connection was refused" in result.stderr


@pytest.mark.parametrize("command_name", REMOTE)
def test_a_token_refusal_exits_4_from_every_command_that_needs_a_token(
    salesforce_org: LocalOrg, command_name: str
) -> None:
    salesforce_org.fail_token_requests("invalid_client_id")
    result = run(command_name, *ARGS[command_name], env=org_env(salesforce_org))
    assert result.returncode == 4
    assert "Consumer Key" in result.stderr
    no_traceback(result)


def test_a_token_the_library_refuses_to_send_exits_4_naming_the_fix(
    salesforce_org: LocalOrg,
) -> None:
    # A proxy from the environment would read the token of a plain-http org in cleartext.
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {**org_env(salesforce_org), "HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": ""}
    result = run("request", "GET", "limits", env=env)
    assert result.returncode == 4
    assert "add 127.0.0.1 to NO_PROXY" in result.stderr
    assert salesforce_org.api_requests == 0
    no_traceback(result)


def test_a_demo_step_not_observed_exits_5() -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"  # every call of the demo fails
    env: dict[str, str | None] = {"HTTP_PROXY": dead_proxy, "http_proxy": dead_proxy}
    result = run("demo", env=env)
    assert result.returncode == 5
    assert "[2] FAILED first_call" in result.stderr
    assert "demo FAILED" in result.stdout
    no_traceback(result)


def test_ctrl_c_as_the_token_request_begins_leaves_no_thread_to_wait_for(
    salesforce_org: LocalOrg,
) -> None:
    # The Ctrl-C lands while the token request's deadline timer is starting: Thread.start()
    # waits for the new thread, and that wait is where a KeyboardInterrupt can surface. A
    # timer left running would hold the exiting process until the deadline (2 x --timeout).
    interrupt_as_timers_start = (
        "import threading; start = threading.Timer.start\n"
        "def interrupted(timer): start(timer); raise KeyboardInterrupt\n"
        "threading.Timer.start = interrupted"
    )
    result = subprocess.run(
        command("token", "--timeout", "20", prelude=interrupt_as_timers_start),
        env=environment(org_env(salesforce_org)),
        capture_output=True,
        text=True,
        timeout=30,  # a bound against the timer's 40 s, not a measurement
        check=False,
    )
    assert result.returncode == 130, result.stdout + result.stderr
    assert result.stderr == "requests-sf-auth token: interrupted\n"


def test_ctrl_c_while_the_demo_starts_its_threads_leaves_none_waiting() -> None:
    # The Ctrl-C lands once 3 of the burst's 16 threads run: they wait for the other 13 at a
    # barrier, and threads left waiting there would keep the process from exiting.
    interrupt_at_the_third_worker = (
        "import threading; start = threading.Thread.start; workers = []\n"
        "def interrupted(thread):\n"
        "    start(thread)\n"
        "    if getattr(thread._target, '__name__', '') == 'call':\n"
        "        workers.append(thread)\n"
        "        if len(workers) == 3: raise KeyboardInterrupt\n"
        "threading.Thread.start = interrupted"
    )
    result = subprocess.run(
        command("demo", prelude=interrupt_at_the_third_worker),
        env=environment(None),
        capture_output=True,
        text=True,
        timeout=30,  # a bound against waiting forever, not a measurement
        check=False,
    )
    assert result.returncode == 130, result.stdout + result.stderr
    assert "[4] ok" in result.stdout  # the burst is step 5
    assert result.stderr == "requests-sf-auth demo: interrupted\n"


@pytest.mark.parametrize("command_name", COMMANDS)
def test_ctrl_c_exits_130_without_a_traceback(salesforce_org: LocalOrg, command_name: str) -> None:
    salesforce_org.fail_token_requests("hang")
    child = subprocess.Popen(
        command(command_name, *ARGS.get(command_name, []), prelude="pass"),
        env=environment(org_env(salesforce_org)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if command_name == "demo":
            assert child.stdout is not None
            assert "a local Salesforce org is serving" in child.stdout.readline()
        else:
            wait_for(lambda: salesforce_org.token_requests == 1)  # hanging in the token request
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, out + err
    assert err.strip().endswith("interrupted")
    assert "Traceback" not in out + err
