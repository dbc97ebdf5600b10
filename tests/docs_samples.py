"""The Python samples of README.md and docs/: found in the Markdown, with what they promise.

A sample is a fenced ```python block. It may be followed by an HTML comment that the rendered
page hides and the suite reads, listing requests to send to the `app` the sample defines::

    <!-- sample: GET /tasks scopes=Tasks.Read -> 200; GET /tasks -> 401 -->

A block preceded by `<!-- sample: continues -->` goes on from the page's previous sample
(its code runs after that sample's code). A comment line right after a `print(...)` line is
the output that `print` must write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["PLACEHOLDERS", "ROOT", "Request", "Sample", "samples"]

ROOT: Final = Path(__file__).resolve().parents[1]

# What the samples leave to the reader, filled in as the local issuer's values.
PLACEHOLDERS: Final = {
    "<api-client-id>": "6e5a2b8c-0000-4000-8000-0000000a0001",
    "<tenant-id>": "72f988bf-0000-4000-8000-00000000a001",
    "<swagger-spa-client-id>": "0c1d2e3f-0000-4000-8000-0000000c0001",
}

_BLOCK = re.compile(
    r"(?P<continues><!-- sample: continues -->\n)?"
    r"^```python\n(?P<code>.*?)^```\n(?:\s*<!-- sample: (?P<checks>.*?) -->)?",
    re.DOTALL | re.MULTILINE,
)
_REQUEST = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>/\S*)"
    r"(?: scopes=(?P<scopes>\S+))?(?: roles=(?P<roles>\S+))?"
    r" -> (?P<status>\d{3})$"
)


@dataclass(frozen=True, slots=True)
class Request:
    """One request a sample's `app` is sent, with the token it carries and the answer due."""

    method: str
    path: str
    scopes: tuple[str, ...] | None
    roles: tuple[str, ...] | None
    status: int

    @property
    def anonymous(self) -> bool:
        return self.scopes is None and self.roles is None

    @classmethod
    def parse(cls, text: str) -> Request:
        match = _REQUEST.match(text.strip())
        if match is None:
            raise ValueError(
                f"not a sample request: {text!r} (want 'GET /path [scopes=A,B] -> 200')"
            )
        scopes, roles = match["scopes"], match["roles"]
        return cls(
            method=match["method"],
            path=match["path"],
            scopes=tuple(scopes.split(",")) if scopes else None,
            roles=tuple(roles.split(",")) if roles else None,
            status=int(match["status"]),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """A Python block of a Markdown page."""

    page: Path
    line: int
    code: str
    requests: tuple[Request, ...]

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def is_test_module(self) -> bool:
        """A pytest module (it defines tests): pytest runs it, and every test must pass."""
        return re.search(r"^(async )?def test_", self.code, re.MULTILINE) is not None

    def source(self) -> str:
        """The code with its placeholders filled in."""
        code = self.code
        for placeholder, value in PLACEHOLDERS.items():
            code = code.replace(placeholder, value)
        return code

    def expected_output(self) -> list[str]:
        """The comment lines that follow `print(...)` lines: what the sample says it prints."""
        expected: list[str] = []
        after_print = False
        for line in self.code.splitlines():
            stripped = line.strip()
            if after_print and stripped.startswith("# "):
                expected.append(stripped[2:])
                continue
            after_print = stripped.startswith("print(")
        return expected


def samples() -> list[Sample]:
    """Every Python block of README.md and docs/**/*.md, in page order."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found: list[Sample] = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            checks = match["checks"]
            requests = tuple(Request.parse(part) for part in checks.split(";")) if checks else ()
            line = text.count("\n", 0, match.start("code"))
            code = match["code"]
            if match["continues"]:
                if not found or found[-1].page != page:
                    raise ValueError(f"{page.name}:{line} continues no sample")
                code = found[-1].code + "\n" + code
            found.append(Sample(page, line, code, requests))
    return found
