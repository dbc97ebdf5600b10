"""`aad-guard token ...` given no token: a usage error (exit 2) that says how to pass one."""

from __future__ import annotations

import io

import pytest

from aad_guard.cli import main


@pytest.mark.parametrize(
    ("action", "options"), [("inspect", []), ("check", ["--client-id", "api"])]
)
@pytest.mark.parametrize(("argument", "stdin"), [("  ", ""), ("-", "\n  \n")])
def test_an_empty_token_is_a_usage_error(
    action: str,
    options: list[str],
    argument: str,
    stdin: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        main(["token", action, argument, *options])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "no token given" in captured.err
    assert captured.out == ""
