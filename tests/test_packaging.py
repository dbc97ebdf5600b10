"""The wheel and sdist as users and packagers get them: built here, offline, and opened up."""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

import pytest

import aad_guard

# Slow: builds the sdist and the wheel, and runs tests in the unpacked sdist.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = aad_guard.__version__
# Files no distribution may carry, whatever the working tree holds.
JUNK_PARTS = frozenset(
    {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
)
JUNK_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Distributions:
    """The two files `python -m build` made, and what is inside them."""

    wheel: Path
    sdist: Path
    wheel_names: frozenset[str]
    sdist_names: frozenset[str]

    def wheel_text(self, name: str) -> str:
        with zipfile.ZipFile(self.wheel) as archive:
            return archive.read(name).decode()

    def wheel_metadata(self) -> Message:
        return HeaderParser().parsestr(self.wheel_text(f"{dist_info()}/METADATA"))


def dist_info() -> str:
    return f"aad_guard-{VERSION}.dist-info"


def clean_environment() -> dict[str, str]:
    """The environment without coverage's subprocess hook: builds are not measured."""
    return {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """Build both as a packager does, with the installed backend (no download, no isolation).

    `python -m build` builds the sdist, then the wheel from the unpacked sdist: a file the
    sdist lacks breaks the wheel too.
    """
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(  # noqa: S603 (the test runs its own command)
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env=clean_environment(),
        timeout=120,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = frozenset(archive.namelist())
    with tarfile.open(sdist) as archive:
        sdist_names = frozenset(member.name for member in archive.getmembers() if member.isfile())
    return Distributions(wheel, sdist, wheel_names, sdist_names)


def source_files(folder: str) -> set[str]:
    """The files under `folder` of the checkout, junk left out, relative to the root."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and not is_junk(path.relative_to(ROOT).as_posix())
    }


def is_junk(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(JUNK_PARTS.intersection(path.parts)) or name.endswith(JUNK_SUFFIXES)


# -- the version ----------------------------------------------------------------------------


def test_the_version_is_kept_once_and_read_by_the_metadata() -> None:
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert "version" not in PYPROJECT["project"]
    assert importlib.metadata.version("aad-guard") == VERSION


# -- the wheel ------------------------------------------------------------------------------


def test_the_wheel_is_the_package_and_its_metadata_only(built: Distributions) -> None:
    assert built.wheel.name == f"aad_guard-{VERSION}-py3-none-any.whl"
    top_level = {PurePosixPath(name).parts[0] for name in built.wheel_names}
    assert top_level == {"aad_guard", dist_info()}
    package = {
        "aad_guard/" + path.relative_to(ROOT / "src" / "aad_guard").as_posix()
        for path in (ROOT / "src" / "aad_guard").rglob("*")
        if path.is_file() and not is_junk(path.as_posix())
    }
    assert "aad_guard/py.typed" in package
    assert {name for name in built.wheel_names if name.startswith("aad_guard/")} == package
    assert f"{dist_info()}/licenses/LICENSE" in built.wheel_names


def test_the_wheel_metadata_names_version_licence_urls_and_dependencies(
    built: Distributions,
) -> None:
    metadata = built.wheel_metadata()
    assert metadata["Name"] == "aad-guard"
    assert metadata["Version"] == VERSION
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == PYPROJECT["project"]["requires-python"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL", []))
    assert set(urls) >= {"Homepage", "Documentation", "Changelog", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())
    requires = metadata.get_all("Requires-Dist", [])
    for dependency in PYPROJECT["project"]["dependencies"]:
        name = dependency.split(">")[0].split("[")[0].lower()
        assert any(line.lower().startswith(name) for line in requires), dependency
    assert "fastapi" in metadata.get_all("Provides-Extra", [])


def test_the_wheel_entry_points_resolve(built: Distributions) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(built.wheel_text(f"{dist_info()}/entry_points.txt"))
    assert dict(entry_points["console_scripts"]) == {"aad-guard": "aad_guard.cli:main"}
    assert dict(entry_points["pytest11"]) == {"aad_guard": "aad_guard.testing.pytest_plugin"}
    module, _, function = entry_points["console_scripts"]["aad-guard"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    importlib.import_module(entry_points["pytest11"]["aad_guard"])


# -- the sdist ------------------------------------------------------------------------------


def test_the_sdist_carries_sources_tests_with_their_data_docs_and_examples(
    built: Distributions,
) -> None:
    prefix = f"aad_guard-{VERSION}/"
    assert built.sdist.name == f"aad_guard-{VERSION}.tar.gz"
    assert all(name.startswith(prefix) for name in built.sdist_names)
    inside = {name.removeprefix(prefix) for name in built.sdist_names}
    expected = set().union(*map(source_files, ("src", "tests", "docs", "examples", "tools")))
    assert "tests/data/vectors/README.md" in expected
    assert "tests/data/vectors/jose/wycheproof/LICENSE" in expected
    assert expected <= inside, sorted(expected - inside)
    top = {"pyproject.toml", "PKG-INFO", "README.md", "LICENSE", "CHANGELOG.md", "SECURITY.md"}
    assert top <= inside
    # What `make test` and `make docs` run in the unpacked sdist.
    assert {"Makefile", "mkdocs.yml", "bench/__init__.py"} <= inside


def test_the_sdist_carries_no_environment_caches_or_build_output(built: Distributions) -> None:
    junk = sorted(name for name in built.sdist_names if is_junk(name))
    assert junk == []
    inside = {PurePosixPath(name).parts[1] for name in built.sdist_names}
    assert not inside & {"dist", "build", "htmlcov", ".coverage", ".ci"}
    assert not any("/bench/results/" in name for name in built.sdist_names)


def python_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter in `folder`, so `tests` is that folder's own package."""
    return subprocess.run(  # noqa: S603 (the test runs its own command)
        [sys.executable, *args],
        check=False,
        cwd=folder,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_unpacked_sdist_finds_its_test_vectors(built: Distributions, tmp_path: Path) -> None:
    """The sdist's own tests load their data from inside it, with nothing beside it."""
    with tarfile.open(built.sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"aad_guard-{VERSION}"
    loaded = python_in(unpacked, "-c", "import tests.vectors as v; print(v.VECTORS_DIR)")
    assert loaded.stdout.strip() == str(unpacked / "tests" / "data" / "vectors"), loaded.stderr
    # The tests that read the sdist's own files: its vectors, and the samples of its docs.
    # (`make test` in an unpacked sdist runs everything; that takes minutes, not seconds.)
    own_files = ["tests/test_vectors.py", "tests/test_vector_data.py", "tests/test_docs.py"]
    result = python_in(unpacked, "-m", "pytest", "-q", "-p", "no:cacheprovider", *own_files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
