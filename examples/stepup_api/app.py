"""Payments that need a step-up, and revocations every worker sees.

Serve it with `uvicorn --factory examples.stepup_api.app:create_app --workers 4`:

    AAD_GUARD_CLIENT_ID   the API's application (client) id
    AAD_GUARD_TENANT      tenant id, domain or keyword (default organizations)
    AAD_GUARD_AUTHORITY   the cloud, or a local issuer's loopback URL (default Entra's)
    AAD_GUARD_REDIS_URL   the fleet's Redis (`rediss://user:password@host/0`); without it,
                          revocations stay in each process

Approving a payment needs authentication context `c1` (say, "MFA within the hour") in the
caller's tenant, as that tenant's row in `AUTH_CONTEXTS` says; Conditional Access in the
tenant ties `c1` to its policy. `aad-guard revoke user --tenant ... --object-id ...` refuses a
user's current tokens on every worker at once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from redis.asyncio import Redis

from aad_guard import (
    AADGuardMiddleware,
    InMemoryRevocationStore,
    Principal,
    RedisRevocationStore,
    RevocationStore,
    TokenValidator,
    require_auth_context,
    require_scopes,
)

__all__ = ["APPROVE", "AUTH_CONTEXTS", "READ", "create_app", "required_context"]

# The app's own data: which operation needs which authentication context, per tenant. A real
# service reads its database here (Microsoft's guidance: not hard-coded, per tenant).
AUTH_CONTEXTS: dict[tuple[str, str], str] = {}
DEFAULT_CONTEXTS = {"payments.approve": "c1"}


async def required_context(tenant_id: str, operation: str) -> str | None:
    """The authentication context `operation` needs in `tenant_id`, or `None`."""
    return AUTH_CONTEXTS.get((tenant_id, operation), DEFAULT_CONTEXTS.get(operation))


# Module-level, as FastAPI resolves the routes' string annotations in the module's globals.
READ = require_scopes("Payments.Read")
APPROVE = require_auth_context(required_context, operation="payments.approve")


def create_app() -> FastAPI:
    """The API, configured by the environment (see the module docstring)."""
    redis_url = os.environ.get("AAD_GUARD_REDIS_URL")
    redis = Redis.from_url(redis_url, socket_connect_timeout=1) if redis_url else None
    store: RevocationStore = (
        RedisRevocationStore(redis, prefix="payments-api:revoked:")
        if redis is not None
        else InMemoryRevocationStore()
    )
    validator = TokenValidator(
        client_id=os.environ["AAD_GUARD_CLIENT_ID"],
        tenant=os.environ.get("AAD_GUARD_TENANT", "organizations"),
        authority=os.environ.get("AAD_GUARD_AUTHORITY", "https://login.microsoftonline.com"),
        revocation_store=store,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await validator.aclose()
        if redis is not None:
            await redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/payments")
    async def payments(
        user: Annotated[Principal, Depends(READ)],
    ) -> dict[str, object]:
        return {"user": user.identity, "payments": []}

    @app.post("/payments/{payment_id}/approve")
    async def approve(
        payment_id: str, user: Annotated[Principal, Depends(APPROVE)]
    ) -> dict[str, object]:
        return {"approved": payment_id, "by": user.identity, "contexts": sorted(user.auth_contexts)}

    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app
