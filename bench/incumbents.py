"""The incumbents on the same route: fastapi-azure-auth, and PyJWT's `PyJWKClient` by hand.

Both serve `bench._app.PATH` with the same scope requirement as the aad_guard route, against
the same local issuer over loopback HTTP: the metadata document (fastapi-azure-auth) or the
JWKS (`PyJWKClient`) is fetched once, on the first request, and kept.

- fastapi-azure-auth: its documented single-tenant set-up, `Security(scheme, scopes=[...])`
  on the route; `openid_config_url` points it at the local issuer (its only change).
- Do it yourself: an `async def` FastAPI dependency that takes the bearer token, finds its
  key with `PyJWKClient(jwks_uri)`, and calls `jwt.decode` with audience and issuer, then
  checks the scope. No token cache: what the PyJWT documentation shows.

These are benchmark-only dependencies (the `bench` group); aad_guard itself never uses
`PyJWKClient`.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException, Security
from fastapi_azure_auth import SingleTenantAzureAuthorizationCodeBearer

from ._app import AUTHORITY_VARIABLE, CLIENT_ID_VARIABLE, PATH, SCOPE, TENANT_VARIABLE

__all__ = ["azure_auth", "azure_auth_app", "diy", "diy_app"]


def _bare() -> FastAPI:
    return FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def azure_auth_app(*, authority: str, tenant_id: str, client_id: str) -> FastAPI:
    """The API with fastapi-azure-auth's dependency on the route."""
    scheme = SingleTenantAzureAuthorizationCodeBearer(app_client_id=client_id, tenant_id=tenant_id)
    # The one change from its documentation: metadata from the local issuer, not Entra.
    scheme.openid_config.config_url = (
        f"{authority}/{tenant_id}/v2.0/.well-known/openid-configuration"
    )
    app = _bare()

    @app.get(PATH, dependencies=[Security(scheme, scopes=[SCOPE])])
    async def items() -> dict[str, int]:
        return {"items": 3}

    return app


def diy_app(*, authority: str, tenant_id: str, client_id: str) -> FastAPI:
    """The API with a hand-written PyJWT dependency: `PyJWKClient` and `jwt.decode`."""
    jwks = jwt.PyJWKClient(f"{authority}/{tenant_id}/discovery/v2.0/keys", lifespan=86400)
    issuer = f"{authority}/{tenant_id}/v2.0"

    async def caller(authorization: Annotated[str, Header()]) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ")
        try:
            key = jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=client_id, issuer=issuer
            )
        except jwt.PyJWTError:
            raise HTTPException(401) from None
        scopes = claims.get("scp")
        if not isinstance(scopes, str) or SCOPE not in scopes.split():
            raise HTTPException(403)
        return claims

    app = _bare()

    @app.get(PATH, dependencies=[Depends(caller)])
    async def items() -> dict[str, int]:
        return {"items": 3}

    return app


def _settings() -> dict[str, str]:
    return {
        "authority": os.environ[AUTHORITY_VARIABLE],
        "tenant_id": os.environ[TENANT_VARIABLE],
        "client_id": os.environ[CLIENT_ID_VARIABLE],
    }


def azure_auth() -> FastAPI:
    """Uvicorn factory: fastapi-azure-auth against the local issuer the benchmark serves."""
    return azure_auth_app(**_settings())


def diy() -> FastAPI:
    """Uvicorn factory: `PyJWKClient` + `jwt.decode` against the same issuer."""
    return diy_app(**_settings())
