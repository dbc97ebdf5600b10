"""The example MCP server: `make demo-mcp`'s script, as a user runs it, then Ctrl-C."""

from __future__ import annotations

import pytest
from examples.mcp_server.client import SignInScript

from aad_guard.testing import LocalIssuerServer

from .helpers import serving


def test_demo_passes_every_step_then_serves_until_ctrl_c() -> None:
    command = ["examples.mcp_server.demo", "--port", "0", "--issuer-port", "0"]
    with serving(command, ready="Serving ") as printed:
        lines = [line.rstrip("\n") for line in printed]
    assert lines[1].startswith("whoami      -> {'result': 'Local User (tenant ")
    assert lines[2].endswith("/mcp/Notes.Read offline_access")
    assert lines[3] == "add_note    -> {'result': 1}"
    assert "after a 403 and a step-up to " in lines[4]
    assert lines[4].endswith("/mcp/Notes.Write")
    assert lines[5].startswith("reset_notes -> refused")
    assert any("PKCE S256 is advertised" in line for line in lines)
    assert lines[-2] == "script passed"


@pytest.mark.anyio
async def test_a_refused_sign_in_is_the_clients_error() -> None:
    user = SignInScript()
    with LocalIssuerServer() as server:
        await user.open(f"{server.url}/organizations/oauth2/v2.0/authorize?client_id=nobody")
    with pytest.raises(RuntimeError, match="the sign-in failed"):
        await user.callback()


def test_demo_main_with_no_wait_returns_after_the_script(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.mcp_server import demo

    assert demo.main(["--no-wait", "--port", "0", "--issuer-port", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "script passed"
