"""RFC 9728 protected-resource metadata, `resource_metadata=` challenges and scope forms."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aad_guard import AADGuardMiddleware, Principal, ProtectedResource, require_scopes, requires
from aad_guard.testing import LocalIssuer

pytestmark = pytest.mark.anyio

RESOURCE = "https://api.contoso.example/mcp"
METADATA = "https://api.contoso.example/.well-known/oauth-protected-resource/mcp"


@requires("Tools.Write", "api://ignored/Tools.Admin")
async def write(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name})


def app_for(issuer: LocalIssuer, resource: str | ProtectedResource) -> Starlette:
    routes = [
        Route("/mcp", hello),
        Route("/mcp/write", write, methods=["POST"]),
        Route("/other", hello),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(
        AADGuardMiddleware,
        resource=resource,
        client_id=issuer.client_id,
        tenant="organizations",
        http_client=issuer.client(),
    )
    return app


@pytest.fixture
def issuer() -> LocalIssuer:
    """On the real clock, as the middleware's own validator is."""
    return LocalIssuer()


@pytest.fixture
async def api(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    resource = ProtectedResource(
        RESOURCE,
        scopes=("Tools.Read", "api://other/Else.Read"),
        name="Notes",
        documentation="https://docs.contoso.example/notes",
    )
    transport = httpx.ASGITransport(app_for(issuer, resource))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.contoso.example") as c:
        yield c


async def test_the_path_inserted_document_names_the_resource(api: httpx.AsyncClient) -> None:
    answer = await api.get("/.well-known/oauth-protected-resource/mcp")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.json() == {
        "resource": RESOURCE,
        "authorization_servers": ["https://login.microsoftonline.com/organizations/v2.0"],
        "scopes_supported": [f"{RESOURCE}/Tools.Read", "api://other/Else.Read"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Notes",
        "resource_documentation": "https://docs.contoso.example/notes",
    }


async def test_the_root_document_names_the_origin_its_url_is_built_from(
    api: httpx.AsyncClient,
) -> None:
    root = (await api.get("/.well-known/oauth-protected-resource")).json()
    assert root["resource"] == "https://api.contoso.example"
    assert root["scopes_supported"][0] == f"{RESOURCE}/Tools.Read"


async def test_the_sdk_client_accepts_both_documents_for_the_server_url(
    api: httpx.AsyncClient,
) -> None:
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ):
        document = ProtectedResourceMetadata.model_validate_json((await api.get(path)).content)
        assert check_resource_allowed(RESOURCE, str(document.resource))


async def test_a_missing_token_gets_a_bare_challenge_with_resource_metadata(
    api: httpx.AsyncClient,
) -> None:
    refused = await api.post("/mcp")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA}"'


async def test_a_bad_token_gets_invalid_token_with_resource_metadata(
    api: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token(audience="someone-else")
    refused = await api.post("/mcp", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert challenge.endswith(f'resource_metadata="{METADATA}"')


async def test_a_route_requirement_names_full_form_scopes(
    api: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token(scopes=["Tools.Read"])
    refused = await api.post("/mcp/write", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert f'scope="{RESOURCE}/Tools.Write {RESOURCE}/Tools.Admin"' in challenge
    assert challenge.endswith(f'resource_metadata="{METADATA}"')


async def test_either_form_declared_is_enforced_by_the_short_form(
    api: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    for scope in ("Tools.Write", "Tools.Admin"):
        token = issuer.token(scopes=[scope])
        answer = await api.post("/mcp/write", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200


async def test_a_request_outside_the_resource_gets_no_resource_metadata(
    api: httpx.AsyncClient,
) -> None:
    refused = await api.get("/other")
    assert refused.headers["www-authenticate"] == "Bearer"


async def test_a_v1_token_for_the_app_id_uri_is_accepted(
    api: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    token = issuer.token(version="1.0", audience=RESOURCE)
    answer = await api.get("/mcp", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


async def test_the_mirror_names_its_own_origin_and_pkce(issuer: LocalIssuer) -> None:
    resource = ProtectedResource(RESOURCE, scopes=("Tools.Read",), mirror_authorization_server=True)
    transport = httpx.ASGITransport(app_for(issuer, resource))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.contoso.example") as c:
        protected = (await c.get("/.well-known/oauth-protected-resource/mcp")).json()
        assert protected["authorization_servers"] == ["https://api.contoso.example"]
        for path in (
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ):
            document = (await c.get(path)).json()
            metadata = OAuthMetadata.model_validate(document)
            assert str(metadata.issuer) == "https://api.contoso.example"
            assert document["code_challenge_methods_supported"] == ["S256"]
            assert document["authorization_endpoint"] == (
                "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
            )
            assert "registration_endpoint" not in document


async def test_without_the_mirror_no_authorization_server_metadata_is_served(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.get("/.well-known/oauth-authorization-server")
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "resource",
    ["http://api.contoso.example/mcp", "https://host/mcp?x=1", "https://host/mcp#f", "mcp", 7],
)
async def test_a_resource_that_is_no_https_identifier_is_a_configuration_error(
    issuer: LocalIssuer, resource: object
) -> None:
    transport = httpx.ASGITransport(app_for(issuer, resource))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://api.contoso.example") as c:
        answer = await c.get("/.well-known/oauth-protected-resource/mcp")
    assert answer.status_code == 503
    assert json.loads(answer.content)["error"] == "misconfigured"


async def test_openapi_names_scopes_with_the_resources_app_id_uri(issuer: LocalIssuer) -> None:
    app = FastAPI()

    @app.get("/tasks")
    async def tasks(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> str:
        return user.display_name

    app.add_middleware(
        AADGuardMiddleware,
        resource="https://api.contoso.example/tasks",
        client_id=issuer.client_id,
        http_client=issuer.client(),
    )
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.contoso.example") as c:
        await c.get("/.well-known/oauth-protected-resource/tasks")  # builds the middleware
        document = (await c.get("/openapi.json", headers=bearer(issuer))).json()
    flows = document["components"]["securitySchemes"]["EntraID"]["flows"]
    assert flows["authorizationCode"]["scopes"] == {
        "https://api.contoso.example/tasks/Tasks.Read": "Tasks.Read"
    }


def bearer(issuer: LocalIssuer) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(scopes=['Tasks.Read'])}"}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"scopes": "Tools.Read"}, ValueError),
        ({"scopes": ("",)}, ValueError),
        ({"authorization_servers": "https://as.example"}, ValueError),
        ({"authorization_servers": ("http://as.example",)}, ValueError),
        ({"authorization_servers": (7,)}, TypeError),
        ({"app_id_uri": 7}, TypeError),
    ],
)
def test_a_protected_resource_refuses_what_cannot_be_published(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        ProtectedResource(RESOURCE, **options)  # type: ignore[arg-type]


def test_declared_authorization_servers_and_app_id_uri_are_published(issuer: LocalIssuer) -> None:
    from aad_guard._resource import ResourceDocuments

    resource = ProtectedResource(
        "https://host.example/",
        scopes=("Tools.Read",),
        app_id_uri="api://notes/",
        authorization_servers=("https://as.example/tenant",),
    )
    documents = ResourceDocuments.build(
        resource, scopes=resource.scopes, entra_authority="x", entra_tenant="y"
    )
    root = json.loads(documents.get("/.well-known/oauth-protected-resource") or b"")
    assert root["resource"] == "https://host.example/"  # the path-inserted form is the root
    assert root["authorization_servers"] == ["https://as.example/tenant"]
    assert root["scopes_supported"] == ["api://notes/Tools.Read"]
    assert resource.covers("/anything")
