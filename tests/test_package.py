"""The package as it is released: metadata, version, changelog, and a build that installs.

``test_the_sdist_and_the_wheel_install_and_run_the_demo`` (marked ``slow``) does
what a release does: ``python -m build`` makes the sdist and builds the wheel
from it, ``twine check`` reads both, and each is installed in a fresh virtual
environment, from which ``corral --version`` and ``corral demo`` run. The wheel
installs offline (corral has no dependencies); the sdist needs its build
backend, fetched from the package index like any user's pip would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import corral
from corral._version import __version__
from tests.conftest import service_missing

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SEMVER = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?"


def test_corral_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corral", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"corral {__version__}"
    assert corral.__version__ == __version__
    assert re.fullmatch(SEMVER, __version__), "the version follows semantic versioning"


def test_the_changelog_keeps_unreleased_on_top_and_a_section_per_version() -> None:
    headings = re.findall(r"^## (.+)$", (REPO / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == "Unreleased", "CHANGELOG.md starts with an '## Unreleased' section"
    versions = []
    for heading in headings[1:]:
        match = re.fullmatch(rf"({SEMVER}) \((\d{{4}}-\d{{2}}-\d{{2}}|unreleased)\)", heading)
        assert match, f"a release heading is '## X.Y.Z (YYYY-MM-DD)', not {heading!r}"
        versions.append(tuple(int(part) for part in match.group(1).split("-")[0].split(".")))
    assert versions == sorted(versions, reverse=True), "newest release first"
    assert __version__ in [heading.split()[0] for heading in headings[1:]], (
        f"corral/_version.py says {__version__}, which has no section in CHANGELOG.md"
    )


def test_the_metadata_is_complete() -> None:
    project = PYPROJECT["project"]
    for field in ("description", "readme", "license", "requires-python", "keywords", "authors"):
        assert project.get(field), field
    classifiers = project["classifiers"]
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert "Typing :: Typed" in classifiers
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(project["urls"])
    assert project["dependencies"] == [], "the embedded default needs nothing"
    assert {"redis", "dev", "docs", "examples"} <= set(project["optional-dependencies"])
    site_url = re.search(r"^site_url: (\S+)$", (REPO / "mkdocs.yml").read_text(), re.MULTILINE)
    assert site_url is not None
    assert project["urls"]["Documentation"] == site_url.group(1)


def _tracked_package_data() -> set[str]:
    """Every file of the package that is not Python source: Lua, SQL, py.typed, static files."""
    listed = subprocess.run(
        ["git", "ls-files", "corral"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    if not listed:  # not a git checkout (e.g. an unpacked sdist): read the tree
        listed = [str(p.relative_to(REPO)) for p in (REPO / "corral").rglob("*") if p.is_file()]
    return {name for name in listed if not name.endswith((".py", ".pyc"))}


def _venv(where: Path) -> Path:
    venv.create(where, with_pip=True, clear=True)
    return where / "bin"


def _run(
    args: list[str | Path], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _check_installed(bin_dir: Path, cwd: Path) -> None:
    version = _run([bin_dir / "corral", "--version"], cwd)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"corral {__version__}"
    where = _run([bin_dir / "python", "-c", "import corral; print(corral.__file__)"], cwd)
    assert str(REPO) not in where.stdout, "the installed copy must run, not the checkout"
    demo = _run([bin_dir / "corral", "demo"], cwd, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "final counts:" in demo.stdout
    assert "stalled 1 time(s)" in demo.stdout


@pytest.mark.slow
def test_the_sdist_and_the_wheel_install_and_run_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # No isolation: the build backend comes from the dev tools, so building needs no network.
    built = _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO], tmp_path
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (sdist,) = dist.glob("corral-*.tar.gz")
    (wheel,) = dist.glob("corral-*-py3-none-any.whl")
    assert sdist.name == f"corral-{__version__}.tar.gz"

    checked = _run([sys.executable, "-m", "twine", "check", "--strict", sdist, wheel], tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"corral-{__version__}.dist-info/METADATA").decode()
    missing = _tracked_package_data() - names
    assert not missing, f"the wheel lacks package data: {sorted(missing)}"
    assert "corral/backends/redis/lua/includes/queue.lua" in names
    assert not any(name.startswith(("tests/", "docs/", "examples/")) for name in names)
    for line in (
        f"Version: {__version__}",
        "Requires-Python: >=3.11",
        "Provides-Extra: redis",
        "License-Expression: MIT",
        "Project-URL: Documentation, ",
    ):
        assert line in metadata, line

    run_dir = tmp_path / "elsewhere"  # not the checkout: the installed copy must be used
    run_dir.mkdir()
    from_wheel = _venv(tmp_path / "wheel-venv")
    installed = _run([from_wheel / "pip", "install", "--no-index", "--no-deps", wheel], run_dir)
    assert installed.returncode == 0, installed.stderr
    _check_installed(from_wheel, run_dir)

    from_sdist = _venv(tmp_path / "sdist-venv")
    installed = _run([from_sdist / "pip", "install", sdist], run_dir)
    if installed.returncode != 0 and "hatchling" in installed.stderr.lower():
        service_missing(
            f"the package index is needed to build the sdist: {installed.stderr[-300:]}"
        )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    _check_installed(from_sdist, run_dir)
