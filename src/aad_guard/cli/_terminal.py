r"""Text for a terminal: what a token says is shown, never acted on.

A token's claims are written by whoever made the token. An escape sequence in a claim
(ESC, CSI, a carriage return, a bidirectional override) would move the cursor, erase or
reorder lines, and could hide `token check`'s verdict. Every character that is not printable
is written as its Python escape instead (`\x1b`, `\u202e`), so it can be seen and not obeyed.
"""

from __future__ import annotations

import json
from typing import TextIO

__all__ = ["Terminal", "printable"]


def printable(text: str) -> str:
    """`text` with every non-printable character (`str.isprintable`) written as an escape.

    Line breaks are escaped too: a value always stays on its line.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class Terminal:
    """Writes a command's report to `stream`, one printable line at a time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def line(self, text: str = "") -> None:
        """Write `text` as one line: nothing in it can start another or act on the terminal."""
        self._stream.write(f"{printable(text)}\n")

    def json(self, document: object) -> None:
        r"""Write `document` as indented JSON, ASCII only (lone surrogates as `\udxxx`)."""
        # `json.dumps` escapes line breaks inside strings, so each of its lines is one line.
        for text in json.dumps(document, indent=2, ensure_ascii=True, default=str).split("\n"):
            self.line(text)
