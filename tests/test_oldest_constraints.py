"""The floors `make test-oldest` pins are the ones pyproject.toml declares."""

from __future__ import annotations

import tomllib
from importlib import metadata

import pytest
from tools.oldest_constraints import (
    PYPROJECT,
    mismatches,
    pins,
    pythons,
    runtime_requirements,
)


def test_every_runtime_dependency_and_extra_is_pinned_to_its_floor() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = runtime_requirements(project)
    lines = pins(requirements)
    names = {line.split("==")[0] for line in lines}
    assert {"anyio", "cryptography", "fastapi", "h11", "httpx", "pyjwt", "starlette"} <= names
    assert len(lines) == len(requirements)


def test_a_marker_stays_and_extras_go() -> None:
    assert pins(['PyJWT[crypto]>=2.14.0; python_version < "3.14"']) == [
        'pyjwt==2.14.0; python_version < "3.14"'
    ]


@pytest.mark.parametrize("spec", ["anyio", "anyio<5", "anyio>=4,>=4.2", "anyio==4.2"])
def test_a_requirement_without_one_floor_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="exactly one '>=' floor"):
        pins([spec])


def test_two_floors_for_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two floors"):
        pins(["anyio>=4.14.2", "AnyIO>=4.5"])


def test_the_pythons_are_the_classified_minor_versions() -> None:
    classifiers = [
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Typing :: Typed",
    ]
    assert pythons(classifiers) == ["3.11", "3.12"]


def test_an_installed_version_equal_to_its_pin_is_no_mismatch() -> None:
    installed = metadata.version("packaging")
    short = ".".join(installed.split(".")[:2])  # "24.2" pins the same release as "24.2.0"
    assert mismatches([f"packaging=={installed}.0", f"packaging=={installed}"]) == []
    assert mismatches([f"packaging=={short}.999"]) == [
        f"packaging: {installed}, expected {short}.999"
    ]
    assert mismatches(["no-such-distribution==1.0"]) == [
        "no-such-distribution: not installed, expected 1.0"
    ]
