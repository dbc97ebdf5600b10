"""FastAPI route requirements, the caller dependency and the OpenAPI security scheme."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp

from aad_guard import (
    AADGuardMiddleware,
    Principal,
    TokenValidator,
    current_principal,
    require_roles,
    require_scope_or_role,
    require_scopes,
    swagger_ui_init_oauth,
)
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import bearer
from tests.socket_apps import fastapi_sockets

pytestmark = pytest.mark.anyio

TENANT = "72f988bf-0000-4000-8000-00000000a001"
API_KEY = APIKeyHeader(name="X-Key")  # annotations are resolved in module globals


def build(validator: TokenValidator, *, required: bool = True) -> FastAPI:
    app = FastAPI()

    @app.get("/tasks")
    async def list_tasks(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> str:
        return user.tenant_id

    # A default value, not an annotation: annotations are resolved in module globals.
    admin_scope = require_scopes(f"api://{validator.client_id}/Tasks.Admin")

    @app.delete("/tasks/1")
    async def delete_task(user: Principal = Depends(admin_scope)) -> str:  # noqa: B008, FAST002
        return "deleted"

    @app.get("/admin")
    async def admin(user: Annotated[Principal, Depends(require_roles("Tasks.All"))]) -> bool:
        return user.is_app

    @app.get("/either")
    async def either(
        user: Annotated[
            Principal,
            Depends(require_scope_or_role(scopes=["Tasks.Read"], roles=["Tasks.All"])),
        ],
    ) -> str:
        return "ok"

    @app.get("/me")
    async def me(user: Annotated[Principal | None, Depends(current_principal)]) -> str | None:
        return None if user is None else user.tenant_id

    @app.get("/secure")
    async def secure(
        user: Annotated[Principal | None, Security(current_principal, scopes=["Tasks.Read"])],
    ) -> str:
        return "ok"

    app.add_middleware(
        AADGuardMiddleware, validator=validator, required=required, exclude_paths=["/openapi.json"]
    )
    return app


@pytest.fixture
async def validator(issuer: LocalIssuer, clock: FakeClock) -> AsyncIterator[TokenValidator]:
    async with issuer.client() as client:
        yield TokenValidator(
            client_id=issuer.client_id, tenant=TENANT, clock=clock, http_client=client
        )


@pytest.fixture
async def client(validator: TokenValidator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build(validator, required=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


async def test_route_admits_a_token_with_the_scope(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/tasks", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    assert response.status_code == 200
    assert response.json() == issuer.tenant_id


async def test_missing_scope_is_403_insufficient_scope_with_the_scope_named(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/tasks", headers=bearer(issuer.token(scopes=["Other"])))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", error_description="The access token does not grant '
        'the scope or role this request requires.", scope="Tasks.Read"'
    )
    assert response.json()["error"] == "insufficient_scope"


async def test_scopes_are_case_sensitive(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    response = await client.get("/tasks", headers=bearer(issuer.token(scopes=["tasks.read"])))
    assert response.status_code == 403


async def test_anonymous_caller_at_a_requirement_gets_a_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_forged_token_without_the_scope_is_401_not_403(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    header, payload, _ = issuer.token(scopes=["Other"]).split(".")
    response = await client.get("/tasks", headers=bearer(f"{header}.{payload}.AAAA"))
    assert response.status_code == 401


async def test_full_scope_uris_match_the_short_scp_names(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    allowed = await client.delete("/tasks/1", headers=bearer(issuer.token(scopes=["Tasks.Admin"])))
    refused = await client.delete("/tasks/1", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    assert allowed.status_code == 200
    assert refused.status_code == 403


async def test_role_requirement_admits_app_only_tokens_with_the_role(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    app_token = issuer.token(app_only=True, roles=["Tasks.All"])
    allowed = await client.get("/admin", headers=bearer(app_token))
    refused = await client.get("/admin", headers=bearer(issuer.token(scopes=["Tasks.All"])))
    assert allowed.json() is True
    assert refused.status_code == 403
    assert 'scope="Tasks.All"' in refused.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"scopes": ["Tasks.Read"]}, 200),
        ({"app_only": True, "roles": ["Tasks.All"]}, 200),
        ({"scopes": ["Other"]}, 403),
    ],
)
async def test_scope_or_role_admits_either(
    options: dict[str, object], status: int, client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/either", headers=bearer(issuer.token(**options)))  # type: ignore[arg-type]
    assert response.status_code == status


async def test_current_principal_is_none_when_anonymous(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    assert (await client.get("/me")).json() is None
    assert (await client.get("/me", headers=bearer(issuer.token()))).json() == issuer.tenant_id


async def test_current_principal_under_security_requires_the_scopes(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    allowed = await client.get("/secure", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    refused = await client.get("/secure", headers=bearer(issuer.token(scopes=["Other"])))
    anonymous = await client.get("/secure")
    assert [allowed.status_code, refused.status_code, anonymous.status_code] == [200, 403, 401]


async def test_openapi_declares_the_tenants_authorization_code_flow(
    client: httpx.AsyncClient, validator: TokenValidator
) -> None:
    document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["EntraID"]
    flow = scheme["flows"]["authorizationCode"]
    base = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0"
    assert scheme["type"] == "oauth2"
    assert flow["authorizationUrl"] == f"{base}/authorize"
    assert flow["tokenUrl"] == f"{base}/token"
    read, admin = (f"api://{validator.client_id}/{name}" for name in ("Tasks.Read", "Tasks.Admin"))
    assert flow["scopes"] == {admin: "Tasks.Admin", read: "Tasks.Read"}
    # Routes name the scopes as the scheme declares them: what Swagger UI asks Entra for.
    assert document["paths"]["/tasks"]["get"]["security"] == [{"EntraID": [read]}]
    assert document["paths"]["/tasks/1"]["delete"]["security"] == [{"EntraID": [admin]}]
    # `current_principal` routes carry the scheme too, so Swagger UI sends them the token.
    assert document["paths"]["/secure"]["get"]["security"] == [{"EntraID": [read]}]
    assert document["paths"]["/me"]["get"]["security"] == [{"EntraID": []}]


OTHER_TENANT = "b0b0b0b0-0000-4000-8000-00000000b0b0"


def two_apps(make_validator: MakeValidator, wrapped: bool) -> list[tuple[ASGIApp, str, str]]:
    """Two FastAPI apps of different tenants and scopes, each with its tenant and scope."""
    apps: list[tuple[ASGIApp, str, str]] = []
    for tenant, scope in [(TENANT, "Tasks.Read"), (OTHER_TENANT, "Mail.Send")]:
        app = FastAPI()

        @app.get("/route")
        async def route(user: Principal = Depends(require_scopes(scope))) -> None:  # noqa: B008, FAST002
            return None

        validator = make_validator(client_id=f"{scope}-api", tenant=tenant)
        public = ["/openapi.json"]
        if wrapped:
            apps.append(
                (AADGuardMiddleware(app, validator=validator, exclude_paths=public), tenant, scope)
            )
        else:
            app.add_middleware(AADGuardMiddleware, validator=validator, exclude_paths=public)
            apps.append((app, tenant, scope))
    return apps


@pytest.mark.parametrize("wrapped", [False, True], ids=["add_middleware", "wrapped"])
async def test_two_apps_in_one_process_each_describe_their_own_tenant_and_scopes(
    wrapped: bool, make_validator: MakeValidator
) -> None:
    apps = two_apps(make_validator, wrapped)
    for app, tenant, scope in [*reversed(apps), *apps]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            document = (await client.get("/openapi.json")).json()
        flow = document["components"]["securitySchemes"]["EntraID"]["flows"]["authorizationCode"]
        full = f"api://{scope}-api/{scope}"
        assert flow["authorizationUrl"].split("/")[3] == tenant
        assert flow["tokenUrl"].split("/")[3] == tenant
        assert flow["scopes"] == {full: scope}
        assert document["paths"]["/route"]["get"]["security"] == [{"EntraID": [full]}]


async def test_a_wrapped_app_describes_its_middleware_before_any_request(
    make_validator: MakeValidator,
) -> None:
    app = FastAPI()

    @app.get("/route")
    async def route(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> None:
        return None

    AADGuardMiddleware(app, validator=make_validator(client_id="api", tenant=TENANT))
    flow = app.openapi()["components"]["securitySchemes"]["EntraID"]["flows"]["authorizationCode"]
    assert TENANT in flow["authorizationUrl"]
    assert flow["scopes"] == {"api://api/Tasks.Read": "Tasks.Read"}


async def test_other_security_schemes_are_left_as_they_are(make_validator: MakeValidator) -> None:
    app, plain = FastAPI(), FastAPI()

    @app.get("/entra")
    async def entra(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> None:
        return None

    @app.get("/key")
    async def with_key(value: Annotated[str, Security(API_KEY)]) -> None:
        return None

    for each in (app, plain):
        AADGuardMiddleware(each, validator=make_validator(client_id="api"))
    document = app.openapi()
    assert document["paths"]["/key"]["get"]["security"] == [{"APIKeyHeader": []}]
    assert set(document["components"]["securitySchemes"]) == {"APIKeyHeader", "EntraID"}
    assert "components" not in plain.openapi()  # no requirement, no scheme


async def test_router_dependencies_and_hidden_routes_are_documented_as_they_run(
    make_validator: MakeValidator, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    router = APIRouter(dependencies=[Depends(require_roles("Jobs.Run"))])

    @router.get("/jobs")
    async def jobs(user: Annotated[Principal, Depends(require_scopes("Jobs.Read"))]) -> None:
        return None

    @app.get("/hidden", include_in_schema=False)
    async def hidden(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> None:
        return None

    @app.get("/me")
    async def me(
        user: Annotated[Principal, Security(current_principal, scopes=["Profile.Read"])],
        _: Annotated[Principal, Depends(require_scopes("Tasks.Read"))],
    ) -> None:
        return None

    app.include_router(router)
    guarded = AADGuardMiddleware(app, validator=make_validator(client_id="api"))
    document = app.openapi()
    paths = document["paths"]
    assert paths["/jobs"]["get"]["security"] == [{"EntraID": ["api://api/Jobs.Read"]}]
    assert "/hidden" not in paths
    assert paths["/me"]["get"]["security"] == [
        {"EntraID": ["api://api/Profile.Read", "api://api/Tasks.Read"]}
    ]
    flow = document["components"]["securitySchemes"]["EntraID"]["flows"]["authorizationCode"]
    assert set(flow["scopes"]) == {
        f"api://api/{n}" for n in ("Jobs.Read", "Profile.Read", "Tasks.Read")
    }
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        token = issuer.token(audience="api", scopes=["Jobs.Read"])
        refused = await client.get("/jobs", headers=bearer(token))  # the router wants a role
        token = issuer.token(audience="api", scopes=["Jobs.Read"], roles=["Jobs.Run"])
        allowed = await client.get("/jobs", headers=bearer(token))
    assert [refused.status_code, allowed.status_code] == [403, 200]


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


async def test_dependencies_resolve_their_annotations_where_older_fastapi_looks(
    validator: TokenValidator,
) -> None:
    # FastAPI before 0.123.7 evaluates a string annotation only in `call.__globals__` (an
    # object with `__call__` has none), and turns what it cannot resolve into a required
    # query parameter: every protected route then answered 422 with a valid token.
    every_route = [*build(validator).routes, *fastapi_sockets().routes]
    routes = [route for route in every_route if isinstance(route, APIRoute | APIWebSocketRoute)]
    calls = {id(call): call for route in routes for call in _calls(route.dependant)}
    assert calls
    for call in calls.values():
        names = getattr(inspect.unwrap(call), "__globals__", {})
        for parameter in inspect.signature(call).parameters.values():
            if isinstance(parameter.annotation, str):
                eval(parameter.annotation, dict(names))  # noqa: S307  # what FastAPI did


def test_requirements_must_name_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        require_scopes()
    with pytest.raises(ValueError, match="non-empty"):
        require_roles("")
    with pytest.raises(ValueError, match="not a string"):
        require_scope_or_role(scopes="Tasks.Read")
    # Names go back to the client in the challenge's `scope` attribute (RFC 6749 §3.3).
    for name in ("Tasks Read", "T\u2713", 'Tasks"Read', "Tasks\\Read", "Tasks\nRead"):
        with pytest.raises(ValueError, match="RFC 6749"):
            require_scopes(name)
        with pytest.raises(ValueError, match="RFC 6749"):
            require_roles(name)


def test_swagger_ui_settings_use_pkce() -> None:
    settings = swagger_ui_init_oauth(client_id="spa", scopes=["api://x/Tasks.Read", "openid"])
    assert settings == {
        "clientId": "spa",
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": "api://x/Tasks.Read openid",
    }


async def test_a_cached_token_still_fails_a_route_requiring_a_scope_it_lacks(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token(scopes=["Tasks.Read"])
    assert (await client.get("/tasks", headers=bearer(token))).status_code == 200
    assert (await client.get("/tasks", headers=bearer(token))).status_code == 200
    response = await client.delete("/tasks/1", headers=bearer(token))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
