"""Step-up and revocation with real MSAL: it declares cp1, answers the claims challenge the API
sends with `claims_challenge=`, and the local issuer mints what the claims request asks for.

MSAL is synchronous: plain test functions; the API runs in Starlette's test client and trusts
the local issuer over HTTPS.
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Protocol

import httpx
import msal
import pytest
from fastapi import Depends, FastAPI
from starlette.testclient import TestClient

from aad_guard import (
    AADGuardMiddleware,
    InMemoryRevocationStore,
    Principal,
    TokenValidator,
    require_auth_context,
    require_roles,
)
from aad_guard.testing import LocalIssuerServer
from tests.test_msal import (
    DAEMON,
    PUBLIC,
    REDIRECT,
    SECRET,
    auth_response,
    browser_sign_in,
    ca,
    daemon_app,
    requests_uses_verify,
    scope,
)

__all__ = ["requests_uses_verify"]  # the fixture, used here too


@pytest.fixture
def server() -> Iterator[LocalIssuerServer]:
    with LocalIssuerServer(tls=True) as server:
        server.issuer.signin.register_client(PUBLIC, redirect_uris=[REDIRECT])
        server.issuer.signin.register_client(DAEMON, secret=SECRET, roles=["Tasks.Admin"])
        yield server


class Answer(Protocol):
    """What the test client answers (an httpx or httpx2 response, as Starlette's is)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def json(self) -> Any: ...


class API:
    """The API: `/approve` needs authentication context c1; `/admin` an app role."""

    def __init__(self, server: LocalIssuerServer) -> None:
        self.store = InMemoryRevocationStore()
        app = FastAPI()

        @app.post("/approve")
        async def approve(
            user: Annotated[Principal, Depends(require_auth_context("c1"))],
        ) -> list[str]:
            return sorted(user.auth_contexts)

        @app.get("/admin")
        async def admin(user: Annotated[Principal, Depends(require_roles("Tasks.Admin"))]) -> str:
            return user.client_id or ""

        validator = TokenValidator(
            client_id=server.issuer.client_id,
            authority=server.url,
            http_client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca(server))),
            revocation_store=self.store,
        )
        app.add_middleware(AADGuardMiddleware, validator=validator)
        self.client = TestClient(app)

    def call(self, method: str, path: str, token: str) -> Answer:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def api(server: LocalIssuerServer) -> Iterator[API]:
    api = API(server)
    with api.client:
        yield api


def claims_challenge_of(answer: Answer) -> str:
    """What an app hands MSAL from a 401: the decoded `claims` of the challenge, as MSAL's docs
    and Microsoft's samples do.
    """
    header = answer.headers["WWW-Authenticate"]
    value = header.split('claims="', 1)[1].split('"', 1)[0]
    return base64.b64decode(value).decode("utf-8")


def public_app(server: LocalIssuerServer, capabilities: list[str] | None) -> Any:
    return msal.PublicClientApplication(
        PUBLIC,
        authority=f"{server.url}/organizations",
        instance_discovery=False,
        verify=ca(server),
        client_capabilities=capabilities,
    )


def sign_in(server: LocalIssuerServer, app: Any) -> dict[str, Any]:
    flow = app.initiate_auth_code_flow(
        [scope(server, "Tasks.Read")], redirect_uri=REDIRECT, response_mode="form_post"
    )
    result = app.acquire_token_by_auth_code_flow(
        flow, auth_response(browser_sign_in(server, flow["auth_uri"]))
    )
    assert "access_token" in result, result
    return dict(result)


def test_a_cp1_app_steps_up_through_msal_and_then_passes(
    server: LocalIssuerServer, api: API
) -> None:
    app = public_app(server, ["cp1"])
    first = sign_in(server, app)
    challenged = api.call("POST", "/approve", first["access_token"])
    assert challenged.status_code == 401
    assert 'cc_type="authcontext"' in challenged.headers["WWW-Authenticate"]

    (account,) = app.get_accounts()
    stepped_up = app.acquire_token_silent(
        [scope(server, "Tasks.Read")],
        account=account,
        claims_challenge=claims_challenge_of(challenged),
    )
    assert stepped_up is not None and stepped_up["token_source"] == "identity_provider"
    answer = api.call("POST", "/approve", stepped_up["access_token"])
    assert (answer.status_code, answer.json()) == (200, ["c1"])
    # What MSAL sent: its capability and the challenge, merged in one claims request.
    (refresh,) = [r for r in server.issuer.requests if b"grant_type=refresh_token" in r.content]
    assert b"xms_cc" in refresh.content and b"acrs" in refresh.content


def test_an_app_without_cp1_gets_403_and_no_claims_request(
    server: LocalIssuerServer, api: API
) -> None:
    result = sign_in(server, public_app(server, None))
    answer = api.call("POST", "/approve", result["access_token"])
    assert answer.status_code == 403
    assert "claims=" not in answer.headers["WWW-Authenticate"]
    assert "authentication context 'c1'" in answer.json()["error_description"]


def test_a_revoked_cp1_user_gets_the_nbf_challenge_and_msal_gets_a_fresh_token(
    server: LocalIssuerServer, api: API
) -> None:
    app = public_app(server, ["cp1"])
    first = sign_in(server, app)
    assert api.call("POST", "/approve", first["access_token"]).status_code == 401  # no c1 yet
    claims = first["id_token_claims"]
    api.client.portal.call(api.store.revoke_user, claims["tid"], claims["oid"])  # type: ignore[union-attr]
    revoked = api.call("POST", "/approve", first["access_token"])
    assert revoked.status_code == 401
    assert '"nbf"' in claims_challenge_of(revoked)
    assert "cc_type" not in revoked.headers["WWW-Authenticate"]

    # Entra issues the next token later than the revocation's second; here, 2 s later.
    server.issuer.clock = lambda: time.time() + 2
    (account,) = app.get_accounts()
    cached = app.acquire_token_silent([scope(server, "Tasks.Read")], account=account)
    assert cached is not None and cached["access_token"] == first["access_token"]  # MSAL's cache
    fresh = app.acquire_token_silent(
        [scope(server, "Tasks.Read")],
        account=account,
        claims_challenge=claims_challenge_of(revoked),
    )
    assert fresh is not None and fresh["access_token"] != first["access_token"]
    # Not revoked any more; it still lacks c1, so the step-up challenge is what it gets now.
    after = api.call("POST", "/approve", fresh["access_token"])
    assert after.status_code == 401 and "acrs" in claims_challenge_of(after)


def test_a_revoked_cp1_daemon_answers_the_challenge_with_acquire_token_for_client(
    server: LocalIssuerServer, api: API
) -> None:
    daemon = daemon_app(server, client_capabilities=["cp1"])
    first = daemon.acquire_token_for_client([scope(server, ".default")])
    assert api.call("GET", "/admin", first["access_token"]).status_code == 200
    api.client.portal.call(api.store.revoke_client, server.issuer.tenant_id, DAEMON)  # type: ignore[union-attr]
    revoked = api.call("GET", "/admin", first["access_token"])
    assert revoked.status_code == 401
    server.issuer.clock = lambda: time.time() + 2
    again = daemon.acquire_token_for_client(
        [scope(server, ".default")], claims_challenge=claims_challenge_of(revoked)
    )
    assert again["token_source"] == "identity_provider"
    assert api.call("GET", "/admin", again["access_token"]).status_code == 200
