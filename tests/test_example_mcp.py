"""The example MCP server: `make demo-mcp`'s script, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

from .helpers import serving


def test_demo_script_passes_every_step() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "examples.mcp_server.demo", "--no-wait", "--port", "0",
         "--issuer-port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("whoami      -> {'result': 'Local User (tenant ")
    assert lines[3] == "add_note    -> {'result': 1}"
    assert lines[5].startswith("reset_notes -> refused")
    assert "PKCE S256 is advertised" in done.stdout
    assert lines[-1] == "script passed"


def test_demo_serves_until_ctrl_c() -> None:
    command = ["examples.mcp_server.demo", "--port", "0", "--issuer-port", "0"]
    with serving(command, ready="Serving ") as lines:
        assert lines[-2] == "script passed\n"
