"""The example task service, exercised in-process and through `make demo`'s script."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from examples.fastapi_api.app import Settings, create_app

from aad_guard.testing import DEFAULT_CALLER_CLIENT_ID, LocalIssuer
from tests.helpers import bearer, serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def issuer() -> LocalIssuer:
    """The example runs on the real clock, so its tokens are minted on it too."""
    return LocalIssuer()


@pytest.fixture
async def api(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with issuer.client() as idp:
        settings = Settings(client_id=issuer.client_id, swagger_client_id=DEFAULT_CALLER_CLIENT_ID)
        app = create_app(settings, http_client=idp)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tasks.test") as client:
            yield client


@pytest.mark.anyio
async def test_tasks_are_created_listed_and_deleted_per_tenant(
    api: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    writer = bearer(issuer.token(scopes=["Tasks.Write"]))
    created = await api.post("/tasks", json={"title": "Ship"}, headers=writer)
    assert created.status_code == 201
    assert created.json()["created_by"] == "Local User"
    mine = await api.get("/tasks", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    other_tenant = issuer.token(tenant_id="b0b0b0b0-0000-4000-8000-00000000b0b0")
    theirs = await api.get("/tasks", headers=bearer(other_tenant))
    assert [task["title"] for task in mine.json()] == ["Ship"]
    assert theirs.status_code == 403  # the default token has access_as_user, not Tasks.Read
    task_id = created.json()["id"]
    refused = await api.delete(f"/tasks/{task_id}", headers=writer)
    deleted = await api.delete(
        f"/tasks/{task_id}", headers=bearer(issuer.token(scopes=["Tasks.Delete"]))
    )
    assert (refused.status_code, deleted.status_code) == (403, 204)


@pytest.mark.anyio
async def test_health_and_docs_are_public_and_stats_need_the_app_role(
    api: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert '"clientId": "0c1d2e3f-0000-4000-8000-0000000c0001"' in docs.text
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text  # served here: works offline
    assert (await api.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
    assert "oauth2" in (await api.get("/docs/oauth2-redirect")).text
    scheme = (await api.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert "EntraID" in scheme
    app_token = issuer.token(app_only=True, roles=["Tasks.Admin"])
    assert (await api.get("/admin/stats", headers=bearer(app_token))).status_code == 200
    user_token = issuer.token(scopes=["Tasks.Read"])
    assert (await api.get("/admin/stats", headers=bearer(user_token))).status_code == 403


def test_demo_script_gets_every_expected_answer() -> None:
    """`make demo`'s scripted session, on free loopback ports, stopping after the script."""
    result = subprocess.run(
        [sys.executable, "-m", "examples.fastapi_api.demo", "--no-wait", "--port", "0",
         "--issuer-port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    verdicts = [line[:3] for line in lines if line.startswith(("ok ", "BAD"))]
    assert verdicts == ["ok "] * 7
    assert "-> 401" in result.stdout and "-> 403" in result.stdout
    assert "The access token has expired." in result.stdout
    assert "Every answer as expected." in result.stdout


def test_demo_keeps_serving_until_ctrl_c_then_stops_cleanly() -> None:
    command = ["examples.fastapi_api.demo", "--port", "0", "--issuer-port", "0"]
    # The demo prints its last line once both servers are up.
    with serving(command, ready="Ctrl-C stops both servers.", cwd=ROOT) as lines:
        api_url = next(line for line in lines if "Swagger UI:" in line).split()[-1]
        curl = next(line for line in lines if "curl -H" in line)
        token = curl.split("Bearer ")[1].split("'")[0]
        tasks = httpx.get(api_url.removesuffix("/docs") + "/tasks", headers=bearer(token))
        assert tasks.status_code == 200


def test_settings_default_to_the_local_issuer_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AAD_GUARD_CLIENT_ID", raising=False)
    monkeypatch.delenv("AAD_GUARD_SWAGGER_CLIENT_ID", raising=False)
    local = Settings.from_env()
    assert local.authority == "http://127.0.0.1:8400"
    assert local.swagger_client_id == DEFAULT_CALLER_CLIENT_ID  # `python -m aad_guard.testing`'s
    monkeypatch.setenv("AAD_GUARD_CLIENT_ID", "api-id")
    monkeypatch.setenv("AAD_GUARD_TENANT", "common")
    settings = Settings.from_env()
    assert (settings.client_id, settings.tenant) == ("api-id", "common")
    assert settings.authority == "https://login.microsoftonline.com"
    assert settings.swagger_client_id is None
