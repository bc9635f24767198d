"""The benchmark script keeps working: a quick run produces every figure for the plugin.

It asserts on counts and structure only, never on times; the figures themselves are read by
people, from the script's own table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from requests_sf_auth._backoff import RENEWAL_BURST

SCRIPT = Path(__file__).parent / "benchmarks" / "bench_overhead.py"


def test_a_quick_benchmark_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    ours, static = "requests-sf-auth", "static header"
    assert set(figures["hot_path"]) >= {ours, static}
    assert set(figures["end_to_end"]) == {"http", "https"}
    for scheme in ("http", "https"):
        ratio = figures["end_to_end"][scheme][ours]
        assert set(ratio) == {"median_us", "ratio", "ratio_low", "ratio_high"}
        assert ratio["ratio_low"] <= ratio["ratio_high"]
    assert figures["storm"][ours]["token_requests"] == 2
    assert figures["storm"][ours]["failed"] == 0
    assert figures["storm"][static]["failed"] > 0  # the baseline cannot renew: the storm bit
    assert all(kib < 1024 for kib in figures["memory"][ours].values())
    assert figures["renewal_waits"][ours]["waited"] == 0
    assert figures["renewal_waits"][ours]["failed"] == 0
    for case in ("endpoint refuses", "API refuses tokens"):
        assert figures["refusal_logins"][case]["first_minute"] <= 10
        assert figures["refusal_logins"][case]["most_in_a_later_minute"] <= 1
    flaky = figures["refusal_logins"]["API answers 401 to 1 in 3"]
    assert flaky["first_minute"] <= 1 + RENEWAL_BURST + 1  # the first token, the burst, a refill
    assert flaky["most_in_a_later_minute"] <= 1
    baseline = figures["refusal_logins"]["baseline: fetch per request"]
    assert baseline["first_minute"] == baseline["requests"]  # one login per request
    assert "Targets for requests-sf-auth" in result.stdout
