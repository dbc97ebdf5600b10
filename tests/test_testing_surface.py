"""The testing kit's public face: small, and every name documented where it is defined."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import aad_guard.testing
from aad_guard.testing import KeySet, LocalIssuer, SignIn

DOCS_PAGE = "docs/testing.md"


def _attribute_docstrings(module_name: str) -> set[str]:
    """Names assigned at a module's top level with a string literal right after them."""
    tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    documented = set()
    for statement, following in zip(tree.body, tree.body[1:], strict=False):
        targets = (
            [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else statement.targets
            if isinstance(statement, ast.Assign)
            else []
        )
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            documented |= {target.id for target in targets if isinstance(target, ast.Name)}
    return documented


def test_every_public_name_of_the_kit_has_a_docstring() -> None:
    undocumented = []
    for name in aad_guard.testing.__all__:
        value = getattr(aad_guard.testing, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            if not inspect.getdoc(value):
                undocumented.append(name)
        elif not any(
            name in _attribute_docstrings(module)
            for module in sys.modules
            if module.startswith("aad_guard.") and name in vars(sys.modules[module])
        ):
            undocumented.append(name)
    assert undocumented == []


def test_every_public_name_of_the_kit_is_on_its_docs_page() -> None:
    text = Path(DOCS_PAGE).read_text(encoding="utf-8")
    assert [name for name in aad_guard.testing.__all__ if f"`{name}`" not in text] == []


def test_the_public_members_of_the_issuer_and_its_parts_have_docstrings() -> None:
    for cls in (LocalIssuer, KeySet, SignIn):
        members = [
            name
            for name, member in vars(cls).items()
            if not name.startswith("_") and (callable(member) or isinstance(member, property))
        ]
        assert members
        assert [name for name in members if not inspect.getdoc(getattr(cls, name))] == []


def test_the_issuer_keeps_its_parts_in_a_few_attributes() -> None:
    issuer = LocalIssuer()
    public = sorted(name for name in dir(issuer) if not name.startswith("_"))
    assert public == [
        "authority",
        "client",
        "client_id",
        "clock",
        "count",
        "domains",
        "handle",
        "issuer",
        "keys",
        "metadata",
        "mint",
        "requests",
        "resolve_tenant",
        "sign",
        "signin",
        "simulate",
        "tenant_id",
        "token",
        "transport",
    ]
