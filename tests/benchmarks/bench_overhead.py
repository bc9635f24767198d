"""What requests-sf-auth costs, side by side with a static Bearer header and peer libraries.

Run it as a script (pytest does not collect it):

    python tests/benchmarks/bench_overhead.py [--json PATH] [--quick]

Everything runs in one process against the built-in local org (``--org-process`` serves the
org from a child process instead, so that its work does not share this interpreter's GIL). The
contenders are interleaved, request by request or round by round, in a shuffled order, so
machine drift hits them all alike. Peers are measured
where installed (``pip install -e '.[bench]'``); a peer that fails on a Salesforce-shaped token
response is reported as a finding, not a crash. Figures come from one machine and vary across
machines: compare ratios, not microseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.auth import AuthBase

from requests_sf_auth import SalesforceAuth
from requests_sf_auth._backoff import RENEWAL_BURST
from requests_sf_auth.testing import LocalOrg

LIMITS = "/services/data/v67.0/limits"

_ORG_CHILD = r"""
import json, sys
from requests_sf_auth.testing import LocalOrg
org = LocalOrg(tls=sys.argv[1] == "https", record=False, api_limit=10**9).start()
print(json.dumps({"url": org.url, "client_id": org.client_id,
                  "client_secret": org.client_secret, "ca_bundle": org.ca_bundle}), flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "expire":
        org.expire_tokens()
    elif command == "stats":
        pass
    else:
        break
    print(json.dumps({"token_requests": org.token_requests, "api_requests": org.api_requests,
                      "rejected": org.rejected_requests}), flush=True)
org.stop()
"""


class InProcessOrg:
    """The LocalOrg in this very process: the default, so that everything runs in one."""

    def __init__(self, scheme: str) -> None:
        # A daily limit far above what a run uses: the 90% warning never fires mid-figure.
        self._org = LocalOrg(tls=scheme == "https", record=False, api_limit=10**9).start()
        self.url = self._org.url
        self.client_id = self._org.client_id
        self.client_secret = self._org.client_secret
        self.ca_bundle = self._org.ca_bundle

    def command(self, name: str) -> dict[str, int]:
        if name == "expire":
            self._org.expire_tokens()
        return {
            "token_requests": self._org.token_requests,
            "api_requests": self._org.api_requests,
            "rejected": self._org.rejected_requests,
        }

    def stop(self) -> None:
        self._org.stop()


class OrgProcess:
    """A LocalOrg in a child process, steered over its stdin (``--org-process``): its request
    handling then does not compete with the contenders for this interpreter's GIL."""

    def __init__(self, scheme: str) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-c", _ORG_CHILD, scheme],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._child.stdin is None or self._child.stdout is None:
            raise RuntimeError("the org process has no pipes")
        self._stdin, self._stdout = self._child.stdin, self._child.stdout
        info = json.loads(self._stdout.readline())
        self.url: str = info["url"]
        self.client_id: str = info["client_id"]
        self.client_secret: str = info["client_secret"]
        self.ca_bundle: str | None = info["ca_bundle"]
        self._lock = threading.Lock()

    def command(self, name: str) -> dict[str, int]:
        with self._lock:
            self._stdin.write(name + "\n")
            self._stdin.flush()
            answer: dict[str, int] = json.loads(self._stdout.readline())
            return answer

    def stop(self) -> None:
        self._stdin.write("quit\n")
        self._stdin.flush()
        self._child.wait(timeout=10)


Org = InProcessOrg | OrgProcess


class StaticBearer(AuthBase):
    """The physical limit: a fixed header, no token logic at all."""

    def __init__(self, token: str) -> None:
        self.header = f"Bearer {token}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self.header
        return r


@dataclass
class Contender:
    name: str
    session: requests.Session
    hot_call: Callable[[requests.PreparedRequest], Any]
    note: str = ""


@dataclass
class Results:
    machine: str
    hot_path: dict[str, float] = field(default_factory=dict)
    end_to_end: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    storm: dict[str, dict[str, int]] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    renewal_waits: dict[str, dict[str, int]] = field(default_factory=dict)
    refusal_logins: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


def _session(org: Org) -> requests.Session:
    session = requests.Session()
    session.verify = org.ca_bundle or True
    session.trust_env = False  # so that REQUESTS_CA_BUNDLE cannot replace the org's CA
    return session


def _static_token(org: Org) -> str:
    answer = requests.post(
        org.url + "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": org.client_id,
            "client_secret": org.client_secret,
        },
        verify=org.ca_bundle or True,
        timeout=10,
    )
    token: str = answer.json()["access_token"]
    return token


def _ours(org: Org) -> Contender:
    token_session = requests.Session()
    token_session.verify = org.ca_bundle or True
    auth = SalesforceAuth(org.url, org.client_id, org.client_secret, token_session=token_session)
    session = _session(org)
    session.auth = auth
    return Contender("requests-sf-auth", session, auth)


def _static(org: Org) -> Contender:
    auth = StaticBearer(_static_token(org))
    session = _session(org)
    session.auth = auth
    return Contender("static header", session, auth, "never renews: fails after expiry")


def _peer_requests_oauthlib(org: Org) -> Contender:
    from oauthlib.oauth2 import BackendApplicationClient
    from requests_oauthlib import OAuth2Session

    session = OAuth2Session(client=BackendApplicationClient(client_id=org.client_id))
    session.verify = org.ca_bundle or True
    session.trust_env = False
    session.fetch_token(
        token_url=org.url + "/services/oauth2/token",
        client_id=org.client_id,
        client_secret=org.client_secret,
        include_client_id=True,
    )
    client = session._client

    def hot(r: requests.PreparedRequest) -> Any:
        return client.add_token(r.url, r.method, r.body, r.headers)

    return Contender("requests-oauthlib OAuth2Session", session, hot)


def _peer_requests_oauth2client(org: Org) -> Contender:
    from requests_oauth2client import OAuth2Client, OAuth2ClientCredentialsAuth

    token_session = requests.Session()
    token_session.verify = org.ca_bundle or True
    client = OAuth2Client(
        token_endpoint=org.url + "/services/oauth2/token",
        client_id=org.client_id,
        client_secret=org.client_secret,
        session=token_session,
    )
    auth = OAuth2ClientCredentialsAuth(client)
    session = _session(org)
    session.auth = auth
    session.get(org.url + LIMITS).raise_for_status()
    return Contender("requests_oauth2client", session, auth)


def _peer_requests_auth(org: Org) -> Contender:
    import requests_auth

    auth = requests_auth.OAuth2ClientCredentials(
        org.url + "/services/oauth2/token",
        client_id=org.client_id,
        client_secret=org.client_secret,
    )
    session = _session(org)
    session.auth = auth
    session.get(org.url + LIMITS).raise_for_status()
    return Contender("requests_auth OAuth2ClientCredentials", session, auth)


def working_peers(found: list[Contender]) -> list[str]:
    return [key for key, make in PEERS.items() if any(c.name.startswith(key) for c in found)]


PEERS = {
    "requests-oauthlib": _peer_requests_oauthlib,
    "requests_oauth2client": _peer_requests_oauth2client,
    "requests_auth": _peer_requests_auth,
}


def contenders(org: Org, scheme: str, results: Results) -> list[Contender]:
    found = [_static(org), _ours(org)]
    for name, make in PEERS.items():
        try:
            found.append(make(org))
        except ImportError:
            results.findings.append(f"{name}: not installed (pip install -e '.[bench]')")
        except Exception as exc:
            finding = f"{name} over {scheme}: {type(exc).__name__}: {exc}"
            if finding not in results.findings:
                results.findings.append(finding)
    return found


# -- the figures -------------------------------------------------------------------------------


def hot_path(found: list[Contender], org: Org, rounds: int, calls: int) -> dict[str, float]:
    """µs per auth call with the token held, net of the loop's own cost."""
    request = requests.Request("GET", org.url + LIMITS).prepare()
    hooks = request.hooks["response"]

    def loop(call: Callable[[requests.PreparedRequest], Any]) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            call(request)
            hooks.clear()  # the plugin registers its 401 hook on every request it signs
        return (time.perf_counter() - started) / calls * 1e6

    def bare(r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r

    samples: dict[str, list[float]] = {c.name: [] for c in found}
    baseline: list[float] = []
    for _ in range(rounds):
        order = list(found)
        random.shuffle(order)
        baseline.append(loop(bare))
        for contender in order:
            samples[contender.name].append(loop(contender.hot_call))
    empty = statistics.median(baseline)
    return {name: max(statistics.median(s) - empty, 0.0) for name, s in samples.items()}


def end_to_end(found: list[Contender], org: Org, pairs: int) -> dict[str, dict[str, float]]:
    """Median µs of one GET over each contender's keep-alive session, and its ratio to the
    static header with a 95% interval.

    Requests are interleaved one by one, in a shuffled order each time, so that drift in the
    machine or the server hits every contender alike. The ratio is paired (see
    :func:`paired_ratio`), which is far steadier than a ratio of two medians taken apart.
    """
    url = org.url + LIMITS
    for contender in found:
        for _ in range(50):
            contender.session.get(url)
    samples: dict[str, list[float]] = {c.name: [] for c in found}
    for _ in range(pairs):
        order = list(found)
        random.shuffle(order)
        for contender in order:
            started = time.perf_counter()
            contender.session.get(url).content
            samples[contender.name].append((time.perf_counter() - started) * 1e6)
    static = samples["static header"]
    figures = {}
    for name, times in samples.items():
        low, high = ratio_interval(times, static)
        figures[name] = {
            "median_us": statistics.median(times),
            "ratio": paired_ratio(times, static),
            "ratio_low": low,
            "ratio_high": high,
        }
    return figures


def paired_ratio(times: list[float], static: list[float]) -> float:
    """1 + the median of (contender - static) over requests sent side by side, divided by the
    static median."""
    paired = statistics.median(t - s for t, s in zip(times, static, strict=True))
    return 1 + paired / statistics.median(static)


def ratio_interval(
    times: list[float], static: list[float], rounds: int = 200
) -> tuple[float, float]:
    """A 95% interval for :func:`paired_ratio`, by resampling blocks of consecutive pairs
    (a block bootstrap), so that the machine's drift within a run stays inside a block.

    It measures the noise within one run only. What differs between runs, the process's
    memory layout and the machine's load, moves the ratio too, by as much on this machine.
    """
    block = max(50, len(times) // 60)
    starts = range(0, len(times) - block + 1, block)
    pairs = [(times[i : i + block], static[i : i + block]) for i in starts]
    rng = random.Random(0)  # the same data gives the same interval
    ratios = []
    for _ in range(rounds):
        drawn = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        ratios.append(
            paired_ratio([t for d in drawn for t in d[0]], [s for d in drawn for s in d[1]])
        )
    ratios.sort()
    return ratios[int(rounds * 0.025)], ratios[int(rounds * 0.975) - 1]


def storm(contender: Contender, org: Org, threads: int, seconds: float) -> dict[str, int]:
    """Many threads on one session while the org ends every session once, mid-run."""
    url = org.url + LIMITS
    before = org.command("stats")["token_requests"]
    stop = threading.Event()
    counts = {"total": 0, "failed": 0}
    lock = threading.Lock()

    def worker() -> None:
        get = contender.session.get  # one session shared by every thread, as services do
        while not stop.is_set():
            try:
                ok = get(url).status_code == 200
            except requests.RequestException:
                ok = False
            with lock:
                counts["total"] += 1
                counts["failed"] += not ok

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(seconds / 2)
    org.command("expire")
    time.sleep(seconds / 2)
    stop.set()
    for w in workers:
        w.join()
    token_requests = org.command("stats")["token_requests"] - before
    return {"token_requests": token_requests, **counts}


class InlineRenewal(AuthBase):
    """The usual hand-written baseline: a token with a known lifetime, renewed under a lock by
    whichever request finds it due, while every other request waits; a failed fetch is simply
    tried again by the next request."""

    def __init__(self, org: LocalOrg, lifetime: float, leeway: float) -> None:
        self.org, self.lifetime, self.leeway = org, lifetime, leeway
        self.header: str | None = None
        self.due = 0.0
        self.lock = threading.Lock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.header is None or time.monotonic() >= self.due:
            with self.lock:
                if self.header is None or time.monotonic() >= self.due:
                    answer = requests.post(
                        self.org.url + "/services/oauth2/token",
                        data={
                            "grant_type": "client_credentials",
                            "client_id": self.org.client_id,
                            "client_secret": self.org.client_secret,
                        },
                        timeout=10,
                    )
                    answer.raise_for_status()
                    self.header = f"Bearer {answer.json()['access_token']}"
                    self.due = time.monotonic() + self.lifetime - self.leeway
        r.headers["Authorization"] = self.header
        return r


def renewal_waits(threads: int, seconds: float) -> dict[str, dict[str, int]]:
    """Scheduled renewals while ``threads`` threads loop, the token endpoint taking 0.3 s to
    answer: how many requests waited for a renewal. A request waited when the token it went
    out with was issued after it started, with no rejection on the way."""
    figures = {}
    makers: dict[str, Callable[[LocalOrg], AuthBase]] = {
        "inline renewal (hand-written)": lambda org: InlineRenewal(org, 1.0, 0.5),
        "requests-sf-auth": lambda org: org.auth(token_lifetime=1.0, leeway=0.5),
    }
    for name, make in makers.items():
        with LocalOrg(record=False) as org:
            session = requests.Session()
            session.auth = make(org)
            session.get(org.url + LIMITS)
            org.token_delay = 0.3
            figures[name] = _count_waits(org, session, threads, seconds)
            figures[name]["token_requests"] = org.token_requests - 1
    return figures


def _count_waits(
    org: LocalOrg, session: requests.Session, threads: int, seconds: float
) -> dict[str, int]:
    counts = {"requests": 0, "waited": 0, "failed": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < stop:
            started = time.time()
            response = session.get(org.url + LIMITS)
            sent = str(response.request.headers["Authorization"]).removeprefix("Bearer ")
            issued = org.token_issued_at(sent)
            waited = issued is not None and issued > started and not response.history
            with lock:
                counts["requests"] += 1
                counts["waited"] += waited
                counts["failed"] += response.status_code != 200

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return counts


class NaiveFetch(AuthBase):
    """The usual hand-written baseline under failure: fetch a token whenever none is held."""

    def __init__(self, org: LocalOrg) -> None:
        self.org = org

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        answer = requests.post(
            self.org.url + "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.org.client_id},
            timeout=10,
        )
        answer.raise_for_status()
        return r


class SimulatedClock:
    """A monotonic clock that the loop advances: minutes of backoff pass in a second."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


FLAKY_401 = "API answers 401 to 1 in 3"
FAILURE_CASES = ("endpoint refuses", "API refuses tokens", FLAKY_401)
FIRST_MINUTE_LIMIT = {FLAKY_401: 1 + RENEWAL_BURST + 1}  # the first token, the burst, a refill


def refusal_logins(minutes: int, per_second: int) -> dict[str, dict[str, int]]:
    """Token requests per minute while the org refuses permanently, with the default
    token_backoff, for a worker making ``per_second`` requests a second. Time is simulated
    for the backoff (every request is real, to the local org), so ten minutes run in
    seconds. Three failures: the token endpoint refusing the client, the API refusing every
    token it issues, and the API answering 401 to one request in three whatever the token (a
    flaky instance), which looks like an expiry each time. The baseline fetches a token for
    every request."""
    figures = {}
    steps = minutes * 60 * per_second
    # One refusal warning per pause is right for a service, and noise in a report.
    logging.getLogger("requests_sf_auth").setLevel(logging.ERROR)
    for name in (*FAILURE_CASES, "baseline: fetch per request"):
        with LocalOrg(record=False) as org:
            if name == "API refuses tokens":
                org.reject_api_with = "Session expired or invalid"
            elif name == FLAKY_401:
                pass  # scheduled step by step below
            else:
                org.fail_token_requests("invalid_client", times=None)
            session = requests.Session()
            clock = SimulatedClock()
            if name.startswith("baseline"):
                session.auth = NaiveFetch(org)
                steps_run = 60 * per_second  # one simulated minute is enough to show it
            else:
                auth = org.auth()
                auth._lifecycle._backoff.clock = clock  # the simulated clock
                session.auth = auth
                steps_run = steps
            per_minute = [0] * minutes
            for step in range(steps_run):
                clock.now += 1 / per_second
                if name == FLAKY_401 and step % 3 == 1:
                    org.fail_api_requests(401)
                before = org.token_requests
                with contextlib.suppress(requests.RequestException):
                    session.get(org.url + LIMITS)
                per_minute[step // (60 * per_second)] += org.token_requests - before
            figures[name] = {
                "first_minute": per_minute[0],
                "most_in_a_later_minute": max(per_minute[1:])
                if steps_run > 60 * per_second
                else -1,
                "requests": steps_run,
            }
    return figures


def memory(
    contender: Contender, org: Org, hot_calls: int, requests_total: int, refresh_every: int
) -> dict[str, float]:
    """Growth in traced memory, in KiB, over hot-path calls and over requests with refreshes."""
    request = requests.Request("GET", org.url + LIMITS).prepare()
    hooks = request.hooks["response"]

    def hot(n: int) -> None:
        for _ in range(n):
            contender.hot_call(request)
            hooks.clear()

    def traffic(n: int) -> None:
        for i in range(n):
            if i and i % refresh_every == 0:
                org.command("expire")
            contender.session.get(org.url + LIMITS).content

    figures = {}
    for label, run, count in (
        ("hot_path_kib", hot, hot_calls),
        ("requests_kib", traffic, requests_total),
    ):
        run(max(count // 20, 10))  # warm caches and pools first
        gc.collect()
        tracemalloc.start()
        start, _ = tracemalloc.get_traced_memory()
        run(count)
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures[label] = (end - start) / 1024
    return figures


# -- report ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    parser.add_argument(
        "--org-process",
        action="store_true",
        help="serve the local org from a child process instead of this one",
    )
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    results = Results(
        machine=f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, requests {requests.__version__}"
    )
    saved_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    for scheme in ("http", "https"):
        org: Org = OrgProcess(scheme) if args.org_process else InProcessOrg(scheme)
        if org.ca_bundle:
            # Peers build their own sessions, where this variable beats session.verify.
            os.environ["REQUESTS_CA_BUNDLE"] = org.ca_bundle
        try:
            found = contenders(org, scheme, results)
            results.end_to_end[scheme] = end_to_end(found, org, pairs=12_000 // scale)
            if scheme == "https":  # the only scheme every peer accepts
                results.hot_path = hot_path(found, org, rounds=9, calls=50_000 // scale)
                # Each storm ends every session at the org, so each contender starts fresh.
                makers = [_static, _ours, *(PEERS[name] for name in working_peers(found))]
                for make in makers:
                    fresh = make(org)
                    results.storm[fresh.name] = storm(
                        fresh, org, threads=32, seconds=4 / min(scale, 2)
                    )
                for contender in found:
                    results.memory[contender.name] = memory(
                        contender,
                        org,
                        hot_calls=100_000 // scale,
                        requests_total=5_000 // scale,
                        refresh_every=500 // scale,
                    )
        finally:
            org.stop()
            if saved_bundle is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = saved_bundle
    results.renewal_waits = renewal_waits(threads=8, seconds=3 / min(scale, 3))
    results.refusal_logins = refusal_logins(minutes=10 // min(scale, 5), per_second=10)
    print_report(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results.__dict__, handle, indent=2)
    return 0


def print_report(results: Results) -> None:
    out = print
    out(f"requests-sf-auth overhead benchmark -- {results.machine}")
    out("Figures are from this one machine; compare the ratios.\n")
    static = results.hot_path.get("static header", 0.0) or 1e-9
    out("Hot path: one auth(prepared_request) call, token held, net of loop cost (https URL)")
    out(f"  {'contender':<40}{'us/call':>10}{'ratio':>10}")
    for name, us in results.hot_path.items():
        out(f"  {name:<40}{us:>10.3f}{us / static:>10.2f}")
    out("\nEnd to end: median GET over one keep-alive session against the local org;")
    out("ratio paired request by request with the static header")
    out(f"  {'contender':<40}{'http us':>10}{'ratio':>8}{'https us':>11}{'ratio':>8}")
    names = list(dict.fromkeys(n for s in results.end_to_end.values() for n in s))
    for name in names:
        cells = []
        for scheme in ("http", "https"):
            figures = results.end_to_end.get(scheme, {})
            if name in figures:
                median, ratio = figures[name]["median_us"], figures[name]["ratio"]
                cells.append(f"{median:>10.1f}{ratio:>8.3f}")
            else:
                cells.append(f"{'-':>10}{'-':>8}")
        out(f"  {name:<40}{cells[0]}{' '}{cells[1]}")
    out("\nStorm: 32 threads for a few seconds, the org ends every session once mid-run (https)")
    out(f"  {'contender':<40}{'token requests':>15}{'failed':>9}{'total':>9}")
    for name, figures in results.storm.items():
        out(
            f"  {name:<40}{figures['token_requests']:>15}{figures['failed']:>9}"
            f"{figures['total']:>9}"
        )
    out("\nMemory: traced growth over 100,000 hot-path calls, and 5,000 requests with a refresh")
    out("every 500 (https)")
    out(f"  {'contender':<40}{'hot path KiB':>14}{'requests KiB':>14}")
    for name, figures in results.memory.items():
        out(f"  {name:<40}{figures['hot_path_kib']:>14.1f}{figures['requests_kib']:>14.1f}")
    print_failure_rows(results)
    if results.findings:
        out("\nFindings")
        for finding in results.findings:
            out(f"  - {finding}")
    print_targets(results, static)


def print_failure_rows(results: Results) -> None:
    out = print
    out("\nScheduled renewal: 8 threads for a few seconds, token lifetime 1 s, leeway 0.5 s, the")
    out("token endpoint taking 0.3 s (http)")
    out(f"  {'contender':<40}{'requests':>10}{'waited':>8}{'failed':>8}{'renewals':>10}")
    for name, figures in results.renewal_waits.items():
        out(
            f"  {name:<40}{figures['requests']:>10}{figures['waited']:>8}"
            f"{figures['failed']:>8}{figures['token_requests']:>10}"
        )
    out("\nPermanent failure: token requests per minute, a worker making 10 requests a second,")
    out("default token_backoff (simulated minutes, real requests, http)")
    out(f"  {'case':<40}{'requests':>10}{'1st minute':>12}{'later, max':>12}")
    for name, figures in results.refusal_logins.items():
        later = figures["most_in_a_later_minute"]
        out(
            f"  {name:<40}{figures['requests']:>10}{figures['first_minute']:>12}"
            f"{later if later >= 0 else '-':>12}"
        )


def print_targets(results: Results, static: float) -> None:
    out = print
    out("\nTargets for requests-sf-auth")
    ours = "requests-sf-auth"
    checks = []
    for scheme in ("http", "https"):
        if scheme in results.end_to_end:
            f = results.end_to_end[scheme][ours]
            interval = (
                f" (95% interval within this run: {f['ratio_low']:.3f} to {f['ratio_high']:.3f})"
            )
            checks.append((f"end-to-end ratio over {scheme} <= 1.01", f["ratio"], 1.01, interval))
    checks.append(("hot-path ratio <= 3", results.hot_path[ours] / static, 3.0, ""))
    for label, value, limit, note in checks:
        out(f"  {'met   ' if value <= limit else 'MISSED'} {label}: {value:.3f}{note}")
    s = results.storm.get(ours, {})
    storm_ok = s.get("token_requests") == 2 and s.get("failed") == 0
    out(f"  {'met   ' if storm_ok else 'MISSED'} storm: 2 token requests and 0 failed: {s}")
    m = results.memory.get(ours, {})
    flat = all(v < 1024 for v in m.values())
    out(f"  {'met   ' if flat else 'MISSED'} memory growth under 1 MB in both loops: {m}")
    waited = results.renewal_waits.get(ours, {}).get("waited")
    out(f"  {'met   ' if waited == 0 else 'MISSED'} requests that waited for a renewal: {waited}")
    for case in FAILURE_CASES:
        f = results.refusal_logins.get(case, {})
        limit = FIRST_MINUTE_LIMIT.get(case, 10)
        ok = f.get("first_minute", 99) <= limit and f.get("most_in_a_later_minute", 99) <= 1
        first, later = f.get("first_minute"), f.get("most_in_a_later_minute")
        out(
            f"  {'met   ' if ok else 'MISSED'} {case}: at most {limit} token requests in the "
            f"first minute ({first}) and 1 a minute after ({later})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
