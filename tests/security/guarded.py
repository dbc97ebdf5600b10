"""The app under attack: a FastAPI route behind AADGuardMiddleware, and what it sent out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from aad_guard import AADGuardMiddleware, Principal, TokenValidator, require_scopes
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.security.forge import SCOPE, Probe


def build_app(validator: TokenValidator) -> FastAPI:
    """A route that needs `SCOPE`: an accepted forgery would be answered 200."""
    app = FastAPI()

    @app.api_route("/tasks", methods=["GET", "POST"])
    async def tasks(
        principal: Annotated[Principal, Depends(require_scopes(SCOPE))],
    ) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


@dataclass
class GuardedAPI:
    """The guarded app behind an httpx client, and the validator's identity provider."""

    client: httpx.AsyncClient
    validator: TokenValidator
    issuer: LocalIssuer

    async def send(self, probe: Probe) -> httpx.Response:
        """Send one raw request (to the protected route unless it names another path)."""
        return await self.client.request(
            probe.method,
            probe.path,
            params=probe.query or None,
            headers=list(probe.headers),
            content=probe.body or None,
        )

    def foreign_requests(self) -> list[httpx.Request]:
        """Every request the validator made to a host other than the authority's."""
        authority = httpx.URL(self.issuer.authority)
        return [r for r in self.issuer.requests if r.url.netloc != authority.netloc]


@asynccontextmanager
async def guarded_api(
    issuer: LocalIssuer, clock: FakeClock, **options: Any
) -> AsyncIterator[GuardedAPI]:
    """The app with a validator whose every outbound request goes to (and is logged by)
    `issuer`, whatever its host: a request to any other host would be recorded too.
    """
    async with issuer.client() as outbound:
        validator = TokenValidator(
            client_id=issuer.client_id, clock=clock, http_client=outbound, **options
        )
        transport = httpx.ASGITransport(app=build_app(validator))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield GuardedAPI(client, validator, issuer)
