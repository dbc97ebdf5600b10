"""The local issuer reads the RFC 8707 `resource` parameter as Entra v2 does (AADSTS9010010)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from aad_guard.testing import LocalIssuer

pytestmark = pytest.mark.anyio

RESOURCE = "https://mcp.contoso.example/mcp"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def authorize(issuer: LocalIssuer, scope: str, resource: str | None) -> httpx.Response:
    issuer.signin.register_client("mcp-client", redirect_uris=["http://localhost/cb"])
    params = {
        "client_id": "mcp-client",
        "redirect_uri": "http://localhost/cb",
        "response_type": "code",
        "scope": scope,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "s",
    }
    if resource is not None:
        params["resource"] = resource
    async with issuer.client() as client:
        return await client.get(
            f"{issuer.authority}/organizations/oauth2/v2.0/authorize", params=params
        )


def error_of(answer: httpx.Response) -> str | None:
    query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
    return query["error_description"][0] if "error_description" in query else None


@pytest.mark.parametrize(
    ("scope", "resource", "refused"),
    [
        (f"{RESOURCE}/Notes.Read offline_access", RESOURCE, False),
        (f"{RESOURCE}/Notes.Read", None, False),
        (f"{RESOURCE}/Notes.Read", RESOURCE + "/", True),  # a trailing slash breaks it
        (f"{RESOURCE}/Notes.Read", "https://mcp.contoso.example", True),
        ("api://6e5a2b8c-0000-4000-8000-0000000a0001/Notes.Read", RESOURCE, True),
    ],
)
async def test_a_resource_must_be_the_app_id_uri_of_the_scopes(
    scope: str, resource: str | None, refused: bool
) -> None:
    issuer = LocalIssuer()
    issuer.signin.identifier_uris.append(RESOURCE)
    answer = await authorize(issuer, scope, resource)
    description = error_of(answer)
    if refused:
        assert description is not None
        assert description.startswith("AADSTS9010010: The resource parameter provided")
    else:
        assert answer.status_code == 200, description
        assert "csrf_token" in answer.text
