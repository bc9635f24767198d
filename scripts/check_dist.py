#!/usr/bin/env python3
"""Check the sdist and the wheel in DIST against this checkout, before any test runs them.

    scripts/check_dist.py DIST

The wheel must hold every module of the package and ``py.typed``, declare the console script and
the pytest plugin, and carry this checkout's version and the license. The sdist must hold every
file the wheel is built from, the test suite, the test command, CI's entry point, the README,
the changelog and the license, so that its own tests can run from it. Prints one line per
failure and exits 1 on any.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "requests_sf_auth"
ENTRY_POINTS = {
    "console_scripts": "requests-sf-auth = requests_sf_auth._cli:main",
    "pytest11": "requests_sf_auth = requests_sf_auth.testing.pytest_plugin",
}
SDIST_DOCUMENTS = [
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "pyproject.toml",
    "setup.cfg",
    "MANIFEST.in",
    "scripts/test",
    "scripts/check_dist.py",
    ".ci/run",
]


def source_files(folder: str, pattern: str) -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / folder).rglob(pattern)
        if "__pycache__" not in p.parts
    )


def version() -> str:
    text = (ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no __version__ in {PACKAGE}/__init__.py")
    return found.group(1)


def check_wheel(wheel: Path, expected_version: str) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{PACKAGE}-{expected_version}.dist-info"
        problems = [
            f"wheel lacks {name}"
            for name in [*source_files(PACKAGE, "*.py"), f"{PACKAGE}/py.typed"]
            if name not in names
        ]
        if f"{info}/METADATA" not in names:
            return [*problems, f"wheel lacks {info}/METADATA (is the version {expected_version}?)"]
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = (
            archive.read(f"{info}/entry_points.txt").decode()
            if (f"{info}/entry_points.txt" in names)
            else ""
        )
    if metadata["Version"] != expected_version:
        problems.append(f"wheel version {metadata['Version']} is not {expected_version}")
    if metadata["License-Expression"] != "MIT" or "LICENSE" not in metadata.get_all(
        "License-File", []
    ):
        problems.append("wheel metadata does not name the MIT license and its LICENSE file")
    if f"{info}/licenses/LICENSE" not in names:
        problems.append("wheel lacks the LICENSE text")
    for group, line in ENTRY_POINTS.items():
        section = re.search(rf"^\[{group}\]\n(.*?)(?:^\[|\Z)", entry_points, re.M | re.S)
        if section is None or line not in section.group(1).splitlines():
            problems.append(f"wheel does not declare [{group}] {line}")
    return problems


def check_sdist(sdist: Path, expected_version: str) -> list[str]:
    top = f"requests_sf_auth-{expected_version}"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(top + "/") for name in archive.getnames()}
    wanted = [
        *source_files(PACKAGE, "*.py"),
        f"{PACKAGE}/py.typed",
        *source_files("tests", "*.py"),
        *SDIST_DOCUMENTS,
    ]
    return [f"sdist lacks {name}" for name in wanted if name not in names]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    dist = Path(argv[1])
    expected_version = version()
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"{dist} should hold one wheel and one sdist, not {wheels + sdists}")
        return 1
    problems = check_wheel(wheels[0], expected_version) + check_sdist(sdists[0], expected_version)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{wheels[0].name} and {sdists[0].name}: complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
