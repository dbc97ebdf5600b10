"""The house rules a reader can rely on, checked over all of src/: no module-level mutable
state, and no module longer than a reader takes in at once without a reason at its top.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
MODULES = sorted(SRC.rglob("*.py"))
MAX_LINES = 400
# A longer module says why in its docstring's first lines, with this phrase.
LONG_MODULE_MARKER = f"Longer than {MAX_LINES} lines because"

# Modules allowed to break the size rule while they are split: none since the testing kit's
# split; an entry would come out when its module is within the rule.
LONG_MODULES_BEING_SPLIT: frozenset[str] = frozenset()
# Modules allowed module-level dicts, lists and sets while they are changed: none since the
# testing kit's split; an entry would come out when its module keeps the rule.
MUTABLE_STATE_BEING_REMOVED: frozenset[str] = frozenset()

_MUTABLE_LITERALS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
_MUTABLE_CONSTRUCTORS = frozenset(
    {"list", "dict", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque"}
)
# `__all__` is a list by convention, read by `import *` and tools, never changed.
_CONVENTIONAL_LISTS = frozenset({"__all__"})


def relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _is_mutable(value: ast.expr | None) -> bool:
    if isinstance(value, _MUTABLE_LITERALS):
        return True
    if isinstance(value, ast.Call):
        function = value.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        return name in _MUTABLE_CONSTRUCTORS
    return False


def _targets(statement: ast.Assign | ast.AnnAssign | ast.AugAssign) -> list[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    return [ast.unparse(target) for target in targets]


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run at import: the module's, and those of its classes and blocks."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.ClassDef):
            yield from _top_level(statement.body)
        elif isinstance(statement, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(statement, block, []))
            for handler in getattr(statement, "handlers", []):
                yield from _top_level(handler.body)


def mutable_state(path: Path) -> list[str]:
    """Where `path` keeps state that outlives a call: mutable module or class attributes,
    and `global` statements.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [
        f"line {node.lineno}: global {', '.join(node.names)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Global)
    ]
    for statement in _top_level(tree.body):
        if isinstance(statement, ast.Assign | ast.AnnAssign) and _is_mutable(statement.value):
            names = [name for name in _targets(statement) if name not in _CONVENTIONAL_LISTS]
            if names:
                found.append(f"line {statement.lineno}: {', '.join(names)}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_no_module_keeps_mutable_state(path: Path) -> None:
    """Two validators, two apps or two tests in one process never share state by accident."""
    if relative(path) not in MUTABLE_STATE_BEING_REMOVED:
        assert mutable_state(path) == []


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_a_long_module_says_why_at_its_top(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    lines = source.count("\n")
    if lines <= MAX_LINES or relative(path) in LONG_MODULES_BEING_SPLIT:
        return
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert LONG_MODULE_MARKER in "\n".join(docstring.splitlines()[:5]), (
        f"{relative(path)} has {lines} lines: split it, or give the reason in its docstring"
    )


def test_the_allowlists_name_only_modules_that_need_them() -> None:
    """An entry comes out when its module keeps the rule: the lists only ever shrink."""
    by_name = {relative(path): path for path in MODULES}
    for name in LONG_MODULES_BEING_SPLIT:
        assert name in by_name and by_name[name].read_text().count("\n") > MAX_LINES, name
    for name in MUTABLE_STATE_BEING_REMOVED:
        assert name in by_name and mutable_state(by_name[name]), name


@pytest.mark.parametrize(
    ("source", "offending"),
    [
        ("CACHE = {}", True),
        ("SEEN: Final = set()", True),
        ("ITEMS = [x for x in range(3)]", True),
        ("class A:\n    registry = dict()", True),
        ("def f():\n    global COUNT", True),
        ("if True:\n    ORDER = []", True),
        ("NAMES = frozenset({'a'})", False),
        ("PAIRS = (1, 2)", False),
        ("TABLE = MappingProxyType({'a': 1})", False),
        ("__all__ = ['A']", False),
        ("def f():\n    local = []", False),
    ],
)
def test_the_mutable_state_finder_tells_state_from_constants(
    tmp_path: Path, source: str, offending: bool
) -> None:
    module = tmp_path / "module.py"
    module.write_text(source + "\n")
    assert bool(mutable_state(module)) is offending
