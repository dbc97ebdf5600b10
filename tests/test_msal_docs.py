"""docs/testing.md's "With MSAL" and "With azure-identity" samples run as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import run_python

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


def samples(section: str) -> list[str]:
    """The ```python blocks of the `## {section}` section."""
    text = DOCS.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


SAMPLES = [
    (section, index, code)
    for section in ("With MSAL", "With azure-identity")
    for index, code in enumerate(samples(section))
]


def test_each_section_has_its_samples() -> None:
    assert [(section, index) for section, index, _ in SAMPLES] == [
        ("With MSAL", 0), ("With MSAL", 1), ("With MSAL", 2),
        ("With azure-identity", 0), ("With azure-identity", 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "index", "code"), SAMPLES, ids=[f"{s}-{i}" for s, i, _ in SAMPLES]
)
def test_sample_runs(section: str, index: int, code: str) -> None:
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
