"""A multi-tenant task service: each tenant sees its own tasks; scopes and app roles decide.

`create_app(settings)` builds it; `app.py` builds it from the environment, for
`uvicorn examples.fastapi_api.app:app` (settings.py says which variables, README.md how).
Swagger UI's files are served by the API itself (from the `swagger-ui-bundle-v2` package),
so the docs work offline.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
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
    InsufficientScopeError,
    Principal,
    require_roles,
    require_scopes,
    swagger_ui_init_oauth,
)
from examples.fastapi_api.settings import Settings

READ = require_scopes("Tasks.Read", "Tasks.Write")
WRITE = require_scopes("Tasks.Write")
DELETE = require_scopes("Tasks.Delete")


def require_operator(role: str, *, tenant_id: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency for routes that cross tenants: the app role `role`, in tenant `tenant_id`.

    In a multi-tenant API each customer tenant assigns the API's app roles to its own users
    and apps, so a role says what a caller may do in its own tenant, never in others'. A
    route that shows or changes every tenant's data also needs the operator's own tenant:
    from any other, the role is 403 `insufficient_scope`, as if it were missing.
    """
    has_role = require_roles(role)

    # A default value, not `Annotated`: string annotations cannot see this closure.
    async def operator(principal: Principal = Depends(has_role)) -> Principal:  # noqa: B008
        if principal.tenant_id == tenant_id:
            return principal
        error = InsufficientScopeError(
            f"The {role} role of tenant {principal.tenant_id} does not operate this service.",
            roles=(role,),
        )
        error.tenant_id = principal.tenant_id  # for the refusal's log line
        raise error

    return operator


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

    operator = require_operator("Tasks.Admin", tenant_id=settings.operator_tenant)

    @app.get("/admin/stats", dependencies=[Depends(operator)])
    async def stats() -> dict[str, int]:
        """Every tenant's figures: for the operator's own admins, not customers' ones."""
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
