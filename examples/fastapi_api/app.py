"""A multi-tenant task service: each tenant sees its own tasks; scopes and app roles decide.

Configure it for a real Entra app registration with environment variables:

    AAD_GUARD_CLIENT_ID   the API's application (client) id
    AAD_GUARD_TENANT      a tenant id, or organizations / consumers / common (default organizations)
    AAD_GUARD_AUTHORITY   the cloud (default https://login.microsoftonline.com)
    AAD_GUARD_SWAGGER_CLIENT_ID  the app registration Swagger UI signs in with (optional)

and run `uvicorn examples.fastapi_api.app:app`. Without them it trusts the local issuer of
`python -m aad_guard.testing` (on 127.0.0.1:8400), whose sign-in page Swagger UI's Authorize
opens; `make demo` runs both for you. Swagger UI's files are served by the API itself (from
the `swagger-ui-bundle-v2` package), so the docs work offline.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from aad_guard import (
    AADGuardMiddleware,
    Principal,
    require_roles,
    require_scopes,
    swagger_ui_init_oauth,
)
from aad_guard.testing import DEFAULT_API_CLIENT_ID, DEFAULT_CALLER_CLIENT_ID

ENTRA = "https://login.microsoftonline.com"
LOCAL_ISSUER = "http://127.0.0.1:8400"  # `python -m aad_guard.testing`

READ = require_scopes("Tasks.Read", "Tasks.Write")
WRITE = require_scopes("Tasks.Write")
DELETE = require_scopes("Tasks.Delete")
ADMIN = require_roles("Tasks.Admin")


@dataclass(frozen=True)
class Settings:
    """Where the API's tokens come from."""

    client_id: str
    tenant: str = "organizations"
    authority: str = "https://login.microsoftonline.com"
    swagger_client_id: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from `AAD_GUARD_*` variables (see the module docstring).

        Without `AAD_GUARD_CLIENT_ID`, the API trusts the local issuer that
        `python -m aad_guard.testing` serves on loopback, and Swagger UI signs in as the
        client that it registers.
        """
        client_id = os.environ.get("AAD_GUARD_CLIENT_ID")
        local = client_id is None
        return cls(
            client_id=client_id or DEFAULT_API_CLIENT_ID,
            tenant=os.environ.get("AAD_GUARD_TENANT", "organizations"),
            authority=os.environ.get("AAD_GUARD_AUTHORITY", LOCAL_ISSUER if local else ENTRA),
            swagger_client_id=os.environ.get(
                "AAD_GUARD_SWAGGER_CLIENT_ID", DEFAULT_CALLER_CLIENT_ID if local else None
            ),
        )


class NewTask(BaseModel):
    title: str


class Task(BaseModel):
    id: int
    title: str
    created_by: str


@dataclass
class TaskStore:
    """Tasks kept in memory, apart per tenant."""

    tasks: dict[str, dict[int, Task]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def of(self, tenant_id: str) -> dict[int, Task]:
        return self.tasks.setdefault(tenant_id, {})


def serve_swagger_ui(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from the API's own origin: no CDN, so it works offline."""
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url="/docs/oauth2-redirect",
            init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def create_app(settings: Settings, *, http_client: httpx.AsyncClient | None = None) -> FastAPI:
    """Build the task service for `settings`; tests inject an `http_client`."""
    scopes = [f"api://{settings.client_id}/Tasks.Read"]
    app = FastAPI(
        title="Tasks",
        docs_url=None,  # served below, from local files
        redoc_url=None,
        swagger_ui_init_oauth=swagger_ui_init_oauth(
            client_id=settings.swagger_client_id or settings.client_id, scopes=scopes
        ),
    )
    serve_swagger_ui(app)
    store = TaskStore()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/tasks")
    async def list_tasks(user: Annotated[Principal, Depends(READ)]) -> list[Task]:
        return list(store.of(user.tenant_id).values())

    @app.post("/tasks", status_code=201)
    async def create_task(new: NewTask, user: Annotated[Principal, Depends(WRITE)]) -> Task:
        task = Task(id=next(store.ids), title=new.title, created_by=user.display_name)
        store.of(user.tenant_id)[task.id] = task
        return task

    @app.delete("/tasks/{task_id}", status_code=204)
    async def delete_task(task_id: int, user: Annotated[Principal, Depends(DELETE)]) -> None:
        if store.of(user.tenant_id).pop(task_id, None) is None:
            raise HTTPException(404, "no such task")

    @app.get("/admin/stats")
    async def stats(caller: Annotated[Principal, Depends(ADMIN)]) -> dict[str, int]:
        return {"tenants": len(store.tasks), "tasks": sum(map(len, store.tasks.values()))}

    app.add_middleware(
        AADGuardMiddleware,
        client_id=settings.client_id,
        tenant=settings.tenant,
        authority=settings.authority,
        http_client=http_client,
        exclude_paths=["/health", "/docs", "/openapi.json"],
    )
    return app


app = create_app(Settings.from_env())
