"""The example task service, exercised in-process and through `make demo`'s script."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from examples.fastapi_api.service import create_app
from examples.fastapi_api.settings import Settings, SettingsError

from aad_guard.testing import (
    DEFAULT_API_CLIENT_ID,
    DEFAULT_CALLER_CLIENT_ID,
    DEFAULT_TENANT_ID,
    OTHER_TENANT_ID,
    LocalIssuer,
)
from tests.helpers import bearer, serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def issuer() -> LocalIssuer:
    """The example runs on the real clock, so its tokens are minted on it too."""
    return LocalIssuer()


@pytest.fixture
async def api(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with issuer.client() as idp:
        settings = Settings(
            client_id=issuer.client_id,
            operator_tenant=issuer.tenant_id,
            swagger_client_id=DEFAULT_CALLER_CLIENT_ID,
        )
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
    their_delete = issuer.token(tenant_id=OTHER_TENANT_ID, scopes=["Tasks.Delete"])
    not_theirs = await api.delete(f"/tasks/{task_id}", headers=bearer(their_delete))
    assert not_theirs.status_code == 404  # another tenant's task does not exist for them
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


@pytest.mark.parametrize("app_only", [True, False], ids=["app", "user"])
@pytest.mark.anyio
async def test_admin_role_of_a_customer_tenant_does_not_see_every_tenant(
    api: httpx.AsyncClient, issuer: LocalIssuer, app_only: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Any customer tenant can assign the API's Tasks.Admin role to its own callers."""
    token = issuer.token(
        tenant_id=OTHER_TENANT_ID,
        app_only=app_only,
        scopes=None if app_only else ["Tasks.Read"],
        roles=["Tasks.Admin"],
    )
    with caplog.at_level(logging.INFO, logger="aad_guard"):
        refused = await api.get("/admin/stats", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert "tenants" not in refused.text
    (record,) = [r for r in caplog.records if r.name == "aad_guard"]
    assert (
        record.__dict__["aad_guard_tenant_id"] == OTHER_TENANT_ID
    )  # who tried, in the refusal's log


@pytest.mark.slow
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
    assert verdicts == ["ok "] * 8
    assert "-> 401" in result.stdout and "-> 403" in result.stdout
    assert "The access token has expired." in result.stdout
    assert "Every answer as expected." in result.stdout


@pytest.mark.slow
def test_demo_keeps_serving_until_ctrl_c_then_stops_cleanly() -> None:
    command = ["examples.fastapi_api.demo", "--port", "0", "--issuer-port", "0"]
    # The demo prints its last line once both servers are up.
    with serving(command, ready="Ctrl-C stops both servers.", cwd=ROOT) as lines:
        api_url = next(line for line in lines if "Swagger UI:" in line).split()[-1]
        curl = next(line for line in lines if "curl -H" in line)
        token = curl.split("Bearer ")[1].split("'")[0]
        tasks = httpx.get(api_url.removesuffix("/docs") + "/tasks", headers=bearer(token))
        assert tasks.status_code == 200


LOCAL = "http://127.0.0.1:8400"
ENTRA_APP = {"AAD_GUARD_CLIENT_ID": "api-id", "AAD_GUARD_OPERATOR_TENANT": DEFAULT_TENANT_ID}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "AAD_GUARD_CLIENT_ID is not set"),
        ({"AAD_GUARD_AUTHORITY": "https://login.microsoftonline.com"},
         "AAD_GUARD_CLIENT_ID is not set"),
        ({"AAD_GUARD_TENANT": DEFAULT_TENANT_ID}, "AAD_GUARD_CLIENT_ID is not set"),
        ({**ENTRA_APP, "AAD_GUARD_CLIENT_ID": ""}, "AAD_GUARD_CLIENT_ID is set but empty"),
        ({**ENTRA_APP, "AAD_GUARD_CLIENT_ID": "  "}, "AAD_GUARD_CLIENT_ID is set but empty"),
        ({**ENTRA_APP, "AAD_GUARD_TENANT": ""}, "AAD_GUARD_TENANT is set but empty"),
        ({"AAD_GUARD_CLIENT_ID": "api-id"}, "AAD_GUARD_OPERATOR_TENANT is not set"),
        ({"AAD_GUARD_CLIENT_ID": "api-id", "AAD_GUARD_TENANT": "common"},
         "AAD_GUARD_OPERATOR_TENANT is not set"),
        ({**ENTRA_APP, "AAD_GUARD_OPERATOR_TENANT": "contoso.com"},
         "AAD_GUARD_OPERATOR_TENANT must be a tenant id"),
        ({**ENTRA_APP, "AAD_GUARD_TENANT": OTHER_TENANT_ID},
         "AAD_GUARD_OPERATOR_TENANT must be AAD_GUARD_TENANT"),
        ({"AAD_GUARD_LOCAL_ISSUER": ""}, "AAD_GUARD_LOCAL_ISSUER is set but empty"),
        ({"AAD_GUARD_LOCAL_ISSUER": LOCAL, "AAD_GUARD_CLIENT_ID": "api-id"},
         "AAD_GUARD_CLIENT_ID configures a real app registration"),
        ({"AAD_GUARD_LOCAL_ISSUER": LOCAL, "AAD_GUARD_AUTHORITY": LOCAL},
         "AAD_GUARD_AUTHORITY configures a real app registration"),
        ({"AAD_GUARD_LOCAL_ISSUER": "https://login.microsoftonline.com"},
         "AAD_GUARD_LOCAL_ISSUER must be a loopback URL"),
        ({"AAD_GUARD_LOCAL_ISSUER": "http://127.0.0.1.nip.io:8400"},
         "AAD_GUARD_LOCAL_ISSUER must be a loopback URL"),
        ({"AAD_GUARD_LOCAL_ISSUER": "127.0.0.1:8400"},
         "AAD_GUARD_LOCAL_ISSUER must be a loopback URL"),
    ],
)  # fmt: skip
def test_partial_or_contradictory_configuration_is_refused_at_start(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)


def test_local_issuer_is_trusted_only_when_asked_for() -> None:
    local = Settings.from_env({"AAD_GUARD_LOCAL_ISSUER": LOCAL})
    assert local == Settings.local()
    assert (local.client_id, local.authority) == (DEFAULT_API_CLIENT_ID, LOCAL)
    assert local.swagger_client_id == DEFAULT_CALLER_CLIENT_ID  # `python -m aad_guard.testing`'s
    assert local.operator_tenant == DEFAULT_TENANT_ID
    for other in ("http://localhost:8401", "http://[::1]:8401", "http://127.0.0.2:8401"):
        assert Settings.from_env({"AAD_GUARD_LOCAL_ISSUER": other}).authority == other


def test_settings_read_a_real_app_registration() -> None:
    settings = Settings.from_env({**ENTRA_APP, "AAD_GUARD_TENANT": "common"})
    assert (settings.client_id, settings.tenant) == ("api-id", "common")
    assert settings.operator_tenant == DEFAULT_TENANT_ID
    assert settings.authority == "https://login.microsoftonline.com"
    assert settings.swagger_client_id is None
    single = Settings.from_env(
        {"AAD_GUARD_CLIENT_ID": "api-id", "AAD_GUARD_TENANT": OTHER_TENANT_ID}
    )
    assert single.operator_tenant == OTHER_TENANT_ID  # the one tenant it admits


@pytest.mark.slow
def test_uvicorn_does_not_start_the_app_without_configuration() -> None:
    environ = {name: value for name, value in os.environ.items() if "AAD_GUARD" not in name}
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "examples.fastapi_api.app:app", "--port", "0"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "SettingsError: AAD_GUARD_CLIENT_ID is not set" in result.stderr
    assert "AAD_GUARD_LOCAL_ISSUER=http://127.0.0.1:8400" in result.stderr
    assert "Uvicorn running" not in result.stderr


@pytest.mark.slow
def test_uvicorn_serves_the_app_against_a_local_issuer_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if "AAD_GUARD" in name]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AAD_GUARD_LOCAL_ISSUER", LOCAL)
    command = ["uvicorn", "examples.fastapi_api.app:app", "--port", "0"]
    with serving(command, ready="INFO:     Uvicorn running on", cwd=ROOT) as lines:
        url = lines[-1].split()[4]
        assert httpx.get(f"{url}/health").status_code == 200
        anonymous = httpx.get(f"{url}/tasks")
        assert anonymous.status_code == 401  # refused before any key is needed


def test_observability_recipe_prints_the_guards_metrics_and_spans() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "examples.fastapi_api.observability"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "answers: 200 200 401 401 403" in lines
    guard = [line for line in lines if " aad_guard." in line]
    expected = [
        'span aad_guard.keys.fetch {"aad_guard.fetch.reason": "cold"',
        (
            'span aad_guard.validate {"aad_guard.authentication.result": "none", '
            '"error.type": "missing_token"}'
        ),
        (
            'metric aad_guard.authentication.duration {"aad_guard.authentication.result": '
            '"failure", "error.type": "invalid_audience"} 1'
        ),
        (
            'metric aad_guard.authorization.attempts {"aad_guard.authorization.requirement": '
            '"scopes", "aad_guard.authorization.result": "failure", '
            '"error.type": "insufficient_scope"} 1'
        ),
        (
            'metric aad_guard.token_cache.size {"aad_guard.tenant": "organizations", '
            '"server.address": "127.0.0.1"} 2'
        ),
    ]
    for start in expected:
        assert any(line.startswith(start) for line in guard), start
