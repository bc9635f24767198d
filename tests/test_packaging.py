"""The package a user installs is the package the tests prove: one version everywhere, and the
entry points the metadata declares actually work. ``scripts/test`` also runs the whole suite
against the built wheel and from the unpacked sdist (see ``scripts/check_dist.py``)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import requests_sf_auth


def test_the_installed_metadata_the_module_and_the_command_line_agree_on_the_version() -> None:
    installed = metadata.version("requests-sf-auth")
    assert requests_sf_auth.__version__ == installed
    script = Path(sys.executable).parent / "requests-sf-auth"
    printed = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert printed == f"requests-sf-auth {installed}\n"


def test_the_installed_distribution_declares_its_license_and_its_pytest_plugin() -> None:
    distribution = metadata.distribution("requests-sf-auth")
    assert distribution.metadata["License-Expression"] == "MIT"
    plugins = [e for e in distribution.entry_points if e.group == "pytest11"]
    assert [e.value for e in plugins] == ["requests_sf_auth.testing.pytest_plugin"]
    assert plugins[0].load().__name__ == "requests_sf_auth.testing.pytest_plugin"


def test_the_benchmark_extra_brings_what_an_https_run_of_the_benchmark_needs() -> None:
    # The README installs '.[bench]' alone before running tests/benchmarks/bench_overhead.py,
    # whose https half serves the local org with a throwaway CA from the testing extra.
    requires = metadata.requires("requests-sf-auth") or []
    bench = [r.split(";")[0].replace(" ", "") for r in requires if 'extra == "bench"' in r]
    testing = [r.split(";")[0].replace(" ", "") for r in requires if 'extra == "testing"' in r]
    assert "requests-sf-auth[testing]" in bench
    assert any(r.startswith("trustme") for r in testing)
