"""`aad-guard mcp check URL`: what spec-strict MCP clients refuse about a server."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import pytest

from aad_guard.cli import main
from aad_guard.cli._mcp_check import findings
from aad_guard.testing import DEFAULT_TENANT_ID

from .mcp_harness import mcp_deployment


def refusals(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("REFUSE")]


def test_a_multi_tenant_server_without_the_mirror(capsys: pytest.CaptureFixture[str]) -> None:
    with mcp_deployment(tenant="organizations") as (url, issuer):
        assert main(["mcp", "check", url]) == 1
    found = refusals(capsys.readouterr().out)
    assert len(found) == 2
    assert (
        f"issuer {issuer.url}/{{tenantid}}/v2.0 is not {issuer.url}/organizations/v2.0" in found[0]
    )
    assert "lacks code_challenge_methods_supported" in found[1]


def test_a_single_tenant_server_misses_only_the_pkce_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with mcp_deployment(tenant=DEFAULT_TENANT_ID) as (url, _):
        assert main(["mcp", "check", url, "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert [f["level"] for f in found] == ["ok", "ok", "ok", "refuse", "warn"]
    assert "code_challenge_methods_supported" in found[3]["message"]


def test_the_mirror_passes(capsys: pytest.CaptureFixture[str]) -> None:
    with mcp_deployment(tenant="organizations", mirror=True) as (url, _):
        assert main(["mcp", "check", url]) == 0
    assert refusals(capsys.readouterr().out) == []


def served_documents(
    resource: Mapping[str, object], challenge: str = 'Bearer resource_metadata="{prm}"'
) -> httpx.Client:
    """A made-up MCP server and authorization server, as documents."""
    prm = "https://mcp.example/.well-known/oauth-protected-resource/mcp"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(401, headers={"WWW-Authenticate": challenge.format(prm=prm)})
        if str(request.url) == prm:
            return httpx.Response(200, json=resource)
        if str(request.url) == "https://as.example/.well-known/oauth-authorization-server":
            return httpx.Response(
                200,
                json={
                    "issuer": "https://as.example",
                    "code_challenge_methods_supported": ["S256"],
                    "registration_endpoint": "https://as.example/register",
                },
            )
        return httpx.Response(404)

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("resource", "difference"),
    [
        ("https://mcp.example/mcp/", "trailing slash"),
        ("http://mcp.example/mcp", "scheme"),
        ("https://other.example/mcp", "host"),
        ("https://mcp.example", "path"),
    ],
)
def test_a_resource_that_differs_from_the_url(resource: str, difference: str) -> None:
    document = {
        "resource": resource,
        "authorization_servers": ["https://as.example"],
        "scopes_supported": [f"{resource}/Tools.Read"],
    }
    found = findings("https://mcp.example/mcp", served_documents(document))
    [refused] = [f for f in found if f.level == "refuse"]
    assert refused.message.endswith("(AADSTS9010010)")
    assert f"in {difference}:" in refused.message


def test_short_form_scopes_and_offline_access_in_the_challenge() -> None:
    document = {
        "resource": "https://mcp.example/mcp",
        "authorization_servers": ["https://as.example"],
        "scopes_supported": ["Tools.Read", "api://other/Tools.Write"],
    }
    client = served_documents(
        document, 'Bearer resource_metadata="{prm}", scope="offline_access Tools.Read"'
    )
    found = {f.message.split(":")[0]: f.level for f in findings("https://mcp.example/mcp", client)}
    assert found == {
        "resource is the server URL https": "ok",
        "the challenge's scope names offline_access": "warn",
        "short-form scopes Tools.Read": "refuse",
        "scopes api": "refuse",
        "the authorization server's issuer is https": "ok",
        "PKCE S256 is advertised": "ok",
    }


def test_a_server_without_metadata() -> None:
    def nothing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.method == "GET" else 200)

    found = findings(
        "https://mcp.example/mcp", httpx.Client(transport=httpx.MockTransport(nothing))
    )
    assert [f.level for f in found] == ["warn", "warn", "refuse"]
    assert found[-1].message.startswith("no protected-resource metadata at https://mcp.example/")


def documents_client(routes: Mapping[str, httpx.Response | Exception]) -> httpx.Client:
    """Answers each URL as `routes` says (an answer or a transport error), else 404."""

    def answer(request: httpx.Request) -> httpx.Response:
        found = routes.get(f"{request.method} {request.url}", httpx.Response(404))
        if isinstance(found, Exception):
            raise found
        return found

    return httpx.Client(transport=httpx.MockTransport(answer))


URL = "https://mcp.example/mcp"
PRM = "GET https://mcp.example/.well-known/oauth-protected-resource/mcp"


def test_a_server_that_does_not_answer() -> None:
    client = documents_client({f"POST {URL}": httpx.ConnectError("refused")})
    found = findings(URL, client)
    assert found[0].level == "refuse"
    assert found[0].message.startswith(f"{URL} did not answer")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"authorization_servers": ["https://as.example"]}, "the metadata has no resource"),
        ({"resource": URL}, "the metadata names no authorization_servers"),
        ({"resource": URL, "authorization_servers": ["https://as.example/t"]}, "no authorization"),
    ],
)
def test_incomplete_documents(document: dict[str, object], message: str) -> None:
    challenge = httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})
    client = documents_client({f"POST {URL}": challenge, PRM: httpx.Response(200, json=document)})
    found = findings(URL, client)
    assert any(f.level == "refuse" and f.message.startswith(message) for f in found), found


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=["a list"]),
        httpx.Response(200, content=b" " * (1024 * 1024 + 1)),
        httpx.ReadTimeout("slow"),
    ],
)
def test_a_metadata_document_that_is_no_json_object_is_not_found(
    answer: httpx.Response | Exception,
) -> None:
    challenge = httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="a, b", x=y'})
    found = findings(URL, documents_client({f"POST {URL}": challenge, PRM: answer}))
    assert found[-1].message.startswith("no protected-resource metadata")


def test_the_cli_prints_usage_errors() -> None:
    with pytest.raises(SystemExit) as usage:
        main(["mcp"])
    assert usage.value.code == 2
