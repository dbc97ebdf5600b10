"""`make demo` prints the lines of MSAL that get a token from its issuer: they work as printed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from examples.fastapi_api.demo import MSAL_BEGIN, MSAL_END

from tests.helpers import bearer, run_python, serving

# Slow: MSAL against the demo served by uvicorn.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_the_printed_msal_lines_get_a_token_the_demo_api_admits() -> None:
    command = ["examples.fastapi_api.demo", "--port", "0", "--issuer-port", "0"]
    with serving(command, ready="Ctrl-C stops both servers.", cwd=ROOT) as lines:
        text = "".join(lines)
        snippet = text.split(MSAL_BEGIN + "\n")[1].split(MSAL_END)[0]
        api_url = next(line for line in lines if "Swagger UI:" in line).split()[-1]
        result = run_python(snippet)
        assert result.returncode == 0, result.stderr
        token = result.stdout.strip()
        stats = httpx.get(api_url.removesuffix("/docs") + "/admin/stats", headers=bearer(token))
    assert snippet.startswith("import msal\n")
    assert stats.status_code == 200, stats.text
