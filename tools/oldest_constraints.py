"""Pins every runtime dependency to the floor pyproject.toml declares, for `make test-oldest`.

    python tools/oldest_constraints.py constraints  # `name==floor` lines for `pip -c`
    python tools/oldest_constraints.py pythons      # the Python versions the classifiers list
    python tools/oldest_constraints.py check FILE   # installed versions equal FILE's pins

The floors are read, never copied: `[project].dependencies` and every extra. A requirement
without exactly one `>=` bound has no floor to test and is an error.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
CLASSIFIER = "Programming Language :: Python :: "


def runtime_requirements(project: dict[str, Any]) -> list[str]:
    """The requirements a user can install: the dependencies and every extra's."""
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(spec for group in extras.values() for spec in group)]


def pins(requirements: Iterable[str]) -> list[str]:
    """One `name==floor` constraint per requirement (constraints carry no extras).

    Raises:
        ValueError: a requirement has no single `>=` floor.
    """
    lines: dict[str, str] = {}
    for spec in requirements:
        requirement = Requirement(spec)
        floors = [item.version for item in requirement.specifier if item.operator == ">="]
        if len(floors) != 1:
            raise ValueError(f"{spec!r} needs exactly one '>=' floor to be tested at")
        marker = f"; {requirement.marker}" if requirement.marker else ""
        name = canonicalize_name(requirement.name)
        line = f"{name}=={floors[0]}{marker}"
        if lines.setdefault(name, line) != line:
            raise ValueError(f"{name!r} is declared with two floors")
    return sorted(lines.values())


def pythons(classifiers: Iterable[str]) -> list[str]:
    """`3.11`, `3.12`, ...: the minor versions the classifiers claim."""
    versions = (
        item.removeprefix(CLASSIFIER) for item in classifiers if item.startswith(CLASSIFIER)
    )
    return [version for version in versions if version.count(".") == 1]


def mismatches(constraints: Iterable[str]) -> list[str]:
    """Each pinned distribution whose installed version is not its pin, or that is missing."""
    wrong = []
    for line in constraints:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate():
            continue
        (pinned,) = (item.version for item in requirement.specifier)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed == "not installed" or Version(installed) != Version(pinned):
            wrong.append(f"{requirement.name}: {installed}, expected {pinned}")
    return wrong


def main(argv: list[str]) -> int:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    match argv:
        case ["constraints"]:
            print("\n".join(pins(runtime_requirements(project))))
        case ["pythons"]:
            print(" ".join(pythons(project.get("classifiers", []))))
        case ["check", path]:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            wrong = mismatches(line for line in lines if line.strip())
            for problem in wrong:
                print(f"not at the declared floor: {problem}", file=sys.stderr)
            return 1 if wrong else 0
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
