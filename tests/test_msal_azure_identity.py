"""azure-identity's async credentials against the local issuer over HTTPS, then the API.

azure-identity's async transport is aiohttp's, which runs on asyncio only; on trio the same
credential takes azure-core's `TrioRequestsTransport`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import TrioRequestsTransport
from azure.identity.aio import CertificateCredential, ClientSecretCredential
from fastapi import Depends, FastAPI

from aad_guard import AADGuardMiddleware, Principal, TokenValidator, require_roles
from aad_guard.testing import LocalIssuerServer
from tests.certificates import ClientCertificate

# Slow: azure-identity flows over HTTPS.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DAEMON = "0c1d2e3f-0000-4000-8000-0000000c0003"
SECRET = "daemon-secret"


@pytest.fixture
def server() -> Iterator[LocalIssuerServer]:
    with LocalIssuerServer(tls=True) as server:
        server.issuer.signin.register_client(DAEMON, secret=SECRET, roles=["Tasks.Admin"])
        yield server


def ca(server: LocalIssuerServer) -> str:
    assert server.ca_path is not None
    return str(server.ca_path)


def transport_options(backend: str, server: LocalIssuerServer) -> dict[str, Any]:
    """Nothing on asyncio: azure-identity's own transport (aiohttp); on trio, azure-core's."""
    if backend == "asyncio":
        return {}
    return {"transport": TrioRequestsTransport(connection_verify=ca(server))}


def credential(
    server: LocalIssuerServer, backend: str, *, secret: str = SECRET
) -> ClientSecretCredential:
    return ClientSecretCredential(
        server.issuer.tenant_id,
        DAEMON,
        secret,
        authority=server.url,
        disable_instance_discovery=True,
        connection_verify=ca(server),
        **transport_options(backend, server),
    )


def build_api(server: LocalIssuerServer, http: httpx.AsyncClient) -> FastAPI:
    app = FastAPI()

    @app.get("/admin")
    async def admin(user: Annotated[Principal, Depends(require_roles("Tasks.Admin"))]) -> str:
        return user.client_id or ""

    validator = TokenValidator(
        client_id=server.issuer.client_id, authority=server.url, http_client=http
    )
    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


async def call_admin(server: LocalIssuerServer, token: str) -> tuple[int, object]:
    """Call the API's app-role route with `token`; its keys are fetched over HTTPS."""
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca(server))) as http:
        transport = httpx.ASGITransport(app=build_api(server, http))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            answer = await api.get("/admin", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.json()


async def test_client_secret_credential_gets_a_token_the_api_admits(
    server: LocalIssuerServer, anyio_backend: str
) -> None:
    async with credential(server, anyio_backend) as cred:
        token = await cred.get_token(f"api://{server.issuer.client_id}/.default")
    assert await call_admin(server, token.token) == (200, DAEMON)
    assert token.expires_on > server.issuer.clock()


async def test_wrong_secret_raises_with_entras_error(
    server: LocalIssuerServer, anyio_backend: str
) -> None:
    async with credential(server, anyio_backend, secret="wrong") as cred:
        with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
            await cred.get_token(f"api://{server.issuer.client_id}/.default")


async def test_certificate_credential_gets_a_token_the_api_admits(
    server: LocalIssuerServer, anyio_backend: str
) -> None:
    certificate = ClientCertificate.new()
    server.issuer.signin.register_client(
        "cert-daemon", certificate=certificate.pem, roles=["Tasks.Admin"]
    )
    credential = CertificateCredential(
        server.issuer.tenant_id,
        "cert-daemon",
        certificate_data=certificate.key_pem + certificate.pem,
        authority=server.url,
        disable_instance_discovery=True,
        connection_verify=ca(server),
        **transport_options(anyio_backend, server),
    )
    async with credential:
        token = await credential.get_token(f"api://{server.issuer.client_id}/.default")
    assert await call_admin(server, token.token) == (200, "cert-daemon")
