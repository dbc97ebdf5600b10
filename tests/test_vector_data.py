"""The test vectors live in the repository, each with its source, and are never silently absent."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from tests.vectors import VECTORS_DIR

TESTS = Path(__file__).resolve().parent


def test_the_vectors_are_inside_the_repository() -> None:
    assert VECTORS_DIR == TESTS / "data" / "vectors"
    assert (VECTORS_DIR / "real_tokens.json").is_file()


def test_every_vector_file_is_named_in_the_provenance_note() -> None:
    note = (VECTORS_DIR / "README.md").read_text(encoding="utf-8")
    data = [path.relative_to(VECTORS_DIR) for path in VECTORS_DIR.rglob("*.json")]
    assert len(data) >= 20
    unnamed = [
        path.as_posix()
        for path in data
        if f"`{path.as_posix()}`" not in note and f"`{path.name}`" not in note
    ]
    assert unnamed == []


def test_the_wycheproof_vectors_come_with_their_licence() -> None:
    licence = (VECTORS_DIR / "jose" / "wycheproof" / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence
    assert "Version 2.0" in licence


def test_the_loader_fails_loudly_without_its_data(tmp_path: Path) -> None:
    """A checkout without tests/data/vectors must stop the run, not run zero vector tests."""
    shutil.copy(TESTS / "vectors.py", tmp_path / "vectors.py")
    spec = importlib.util.spec_from_file_location("vectors_without_data", tmp_path / "vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(RuntimeError, match="test vectors are missing") as raised:
        spec.loader.exec_module(module)
    assert str(tmp_path / "data" / "vectors") in str(raised.value)
