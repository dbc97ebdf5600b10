"""The pytest plugin: its fixtures, reached through the `pytest11` entry point alone."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from aad_guard import AADGuardMiddleware, TokenValidator
from aad_guard.testing import LocalIssuer, LocalIssuerServer
from aad_guard.testing.pytest_plugin import point_at_issuer

CLIENT_ID = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
TENANT_ID = "5a6b7c8d-0000-4000-8000-00000000b002"


def test_fixtures_are_registered_by_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from aad_guard.testing import LocalIssuer, LocalIssuerServer
        import httpx

        def test_fixtures(local_issuer, local_issuer_server):
            assert isinstance(local_issuer, LocalIssuer)
            assert isinstance(local_issuer_server, LocalIssuerServer)
            url = local_issuer_server.url + "/common/discovery/v2.0/keys"
            assert httpx.get(url).json()["keys"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.anyio
async def test_single_tenant_and_domain_apps_get_tokens_of_their_tenant() -> None:
    for tenant in (TENANT_ID, "contoso.example"):
        issuer = LocalIssuer(tenant_id=TENANT_ID) if tenant == "contoso.example" else LocalIssuer()
        app = Starlette(
            middleware=[Middleware(AADGuardMiddleware, client_id=CLIENT_ID, tenant=tenant)]
        )
        point_at_issuer(app, issuer)
        assert issuer.client_id == CLIENT_ID
        assert issuer.tenant_id == TENANT_ID
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            response = await client.get("/", headers={"Authorization": f"Bearer {issuer.token()}"})
        assert response.status_code == 404  # authenticated; the app has no routes


def test_a_shared_app_trusts_its_real_issuer_again_after_the_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from aad_guard import AADGuardMiddleware

        app = Starlette(middleware=[Middleware(AADGuardMiddleware, client_id="api")])

        def test_first(use_local_issuer):
            use_local_issuer(app)
            assert "http_client" in app.user_middleware[0].kwargs

        def test_later():
            assert app.user_middleware[0].kwargs == {"client_id": "api"}
            assert app.middleware_stack is None
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_apps_it_cannot_point_are_refused_with_the_way_out() -> None:
    issuer = LocalIssuer()
    with pytest.raises(ValueError, match="no AADGuardMiddleware"):
        point_at_issuer(Starlette(), issuer)
    validator = TokenValidator(client_id=CLIENT_ID)
    ready = Starlette(middleware=[Middleware(AADGuardMiddleware, validator=validator)])
    with pytest.raises(TypeError, match=r"http_client=local_issuer\.client\(\)"):
        point_at_issuer(ready, issuer)
    us_gov = Starlette(
        middleware=[
            Middleware(
                AADGuardMiddleware,
                client_id=CLIENT_ID,
                authority="https://login.microsoftonline.us",
            )
        ]
    )
    with pytest.raises(
        ValueError, match=r"LocalIssuer\(authority='https://login.microsoftonline.us'\)"
    ):
        point_at_issuer(us_gov, issuer)


def test_server_fixture_serves_until_the_test_ends(local_issuer_server: LocalIssuerServer) -> None:
    metadata = httpx.get(
        f"{local_issuer_server.url}/organizations/v2.0/.well-known/openid-configuration"
    )
    assert metadata.json()["jwks_uri"].startswith(local_issuer_server.url)
