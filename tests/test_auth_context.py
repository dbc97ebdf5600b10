"""Step-up with an authentication context: the challenge a cp1 client gets, the 403 others get."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from aad_guard import (
    AADGuardMiddleware,
    AuthContext,
    Principal,
    TokenValidator,
    require_auth_context,
    requires_auth_context,
)
from aad_guard._claims import decode_claims
from aad_guard.errors import AuthContextChallengeError, AuthContextRequiredError
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock

OTHER_TENANT = "5d7e3a10-0000-4000-8000-00000000beef"
CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="{client_id}", error="insufficient_claims", '
    'claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19", '
    'cc_type="authcontext"'
)


async def contexts_by_tenant(tenant_id: str, operation: str) -> str | None:
    """The app's own mapping: its home tenant requires c1 to approve; others nothing."""
    return "c1" if (tenant_id, operation) != (OTHER_TENANT, "approve") else None


def api(validator: TokenValidator) -> FastAPI:
    app = FastAPI()

    @app.post("/payments/approve")
    async def approve(
        user: Annotated[Principal, Depends(require_auth_context("c1"))],
    ) -> dict[str, object]:
        return {"contexts": sorted(user.auth_contexts)}

    @app.post("/resolved/approve")
    async def resolved(
        user: Annotated[
            Principal, Depends(require_auth_context(contexts_by_tenant, operation="approve"))
        ],
    ) -> str:
        return user.tenant_id

    @requires_auth_context("c1")
    async def starlette_approve(request: Request) -> PlainTextResponse:
        return PlainTextResponse("approved")

    app.add_route("/starlette/approve", starlette_approve, methods=["POST"])
    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


@pytest.fixture
def client(issuer: LocalIssuer, clock: FakeClock) -> Iterator[TestClient]:
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=issuer.client())
    with TestClient(api(validator)) as client:
        yield client


def bearer(issuer: LocalIssuer, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(claims=claims)}"}


@pytest.mark.parametrize("path", ["/payments/approve", "/starlette/approve"])
def test_a_cp1_client_without_the_context_gets_microsofts_claims_challenge(
    path: str, client: TestClient, issuer: LocalIssuer
) -> None:
    answer = client.post(path, headers=bearer(issuer, xms_cc=["cp1"]))
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == CHALLENGE.format(client_id=issuer.client_id)
    assert answer.json()["error"] == "insufficient_claims"


@pytest.mark.parametrize("path", ["/payments/approve", "/starlette/approve"])
def test_a_token_with_the_context_passes(
    path: str, client: TestClient, issuer: LocalIssuer
) -> None:
    answer = client.post(path, headers=bearer(issuer, xms_cc=["cp1"], acrs=["c2", "c1"]))
    assert answer.status_code == 200


@pytest.mark.parametrize("path", ["/payments/approve", "/starlette/approve"])
@pytest.mark.parametrize("capabilities", [None, [], ["cp2"]])
def test_a_client_that_cannot_be_challenged_gets_403_saying_what_is_required(
    path: str, capabilities: list[str] | None, client: TestClient, issuer: LocalIssuer
) -> None:
    claims = {} if capabilities is None else {"xms_cc": capabilities}
    answer = client.post(path, headers=bearer(issuer, acrs=["c2"], **claims))
    assert answer.status_code == 403
    challenge = answer.headers["WWW-Authenticate"]
    assert "claims=" not in challenge and "insufficient_claims" not in challenge
    assert 'error="insufficient_user_authentication"' in challenge
    body = answer.json()
    assert body["error"] == "insufficient_user_authentication"
    assert "authentication context 'c1'" in body["error_description"]
    assert "'cp1'" in body["error_description"]


def test_the_resolver_decides_per_tenant(client: TestClient, issuer: LocalIssuer) -> None:
    home = client.post("/resolved/approve", headers=bearer(issuer, xms_cc=["cp1"]))
    other = client.post(
        "/resolved/approve",
        headers={"Authorization": f"Bearer {issuer.token(tenant_id=OTHER_TENANT)}"},
    )
    assert home.status_code == 401
    assert decode_claims(_claims_of(home.headers["WWW-Authenticate"])) == {
        "access_token": {"acrs": {"essential": True, "value": "c1"}}
    }
    assert (other.status_code, other.json()) == (200, OTHER_TENANT)


def test_anonymous_callers_get_the_plain_challenge(issuer: LocalIssuer, clock: FakeClock) -> None:
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=issuer.client())
    app = api(validator)
    app.user_middleware[0].kwargs["required"] = False
    with TestClient(app) as client:
        answer = client.post("/payments/approve")
    assert (answer.status_code, answer.headers["WWW-Authenticate"]) == (401, "Bearer")


def test_a_single_tenant_api_names_its_tenant_in_the_authorization_uri(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    validator = TokenValidator(
        client_id=issuer.client_id,
        tenant=issuer.tenant_id,
        clock=clock,
        http_client=issuer.client(),
    )
    with TestClient(api(validator)) as client:
        answer = client.post("/payments/approve", headers=bearer(issuer, xms_cc=["cp1"]))
    assert (
        f'authorization_uri="https://login.microsoftonline.com/{issuer.tenant_id}/oauth2/authorize"'
        in answer.headers["WWW-Authenticate"]
    )


def _claims_of(challenge: str) -> str:
    return challenge.split('claims="', 1)[1].split('"', 1)[0]


@pytest.mark.anyio
async def test_the_requirement_object_checks_a_principal_without_a_framework(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """What an MCP tool check calls: the same errors, with the claims to send."""
    async with TokenValidator(
        client_id=issuer.client_id, clock=clock, http_client=issuer.client()
    ) as validator:
        capable = await validator.validate(issuer.token(claims={"xms_cc": ["CP1"]}))
        plain = await validator.validate(issuer.token())
        satisfied = await validator.validate(issuer.token(claims={"acrs": ["c7"]}))
    requirement = AuthContext("c7")
    assert await requirement.check(satisfied) is satisfied
    with pytest.raises(AuthContextChallengeError) as challenged:
        await requirement.check(capable)
    assert decode_claims(challenged.value.claims) == {
        "access_token": {"acrs": {"essential": True, "value": "c7"}}
    }
    assert challenged.value.status_code == 401
    with pytest.raises(AuthContextRequiredError) as refused:
        await requirement.check(plain)
    assert (refused.value.status_code, refused.value.context_id) == (403, "c7")
    assert (capable.client_capabilities, plain.auth_contexts) == (frozenset({"CP1"}), frozenset())


@pytest.mark.anyio
async def test_a_sync_resolver_works_and_its_wrong_answer_is_an_error(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    async with TokenValidator(
        client_id=issuer.client_id, clock=clock, http_client=issuer.client()
    ) as validator:
        principal = await validator.validate(issuer.token())
    assert await AuthContext(lambda tenant, op: None, "read").check(principal) is principal
    with pytest.raises(ValueError, match="resolver's answer"):
        await AuthContext(lambda tenant, op: "mfa", "read").check(principal)


@pytest.mark.parametrize("context", ["c0", "c100", "C1", "", "acrs"])
def test_an_id_that_is_not_c1_to_c99_is_refused_when_given(context: str) -> None:
    with pytest.raises(ValueError, match="c1 to c99"):
        require_auth_context(context)


def test_a_resolver_needs_an_operation_and_two_parameters() -> None:
    with pytest.raises(ValueError, match="operation="):
        AuthContext(contexts_by_tenant)
    with pytest.raises(TypeError, match="tenant_id, operation"):
        AuthContext(lambda tenant: "c1", "approve")  # type: ignore[arg-type,misc]


def test_the_decorator_needs_an_async_endpoint() -> None:
    def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("")

    with pytest.raises(TypeError, match="async endpoints"):
        requires_auth_context("c1")(endpoint)


@pytest.mark.anyio
async def test_acrs_and_xms_cc_must_be_lists_of_strings(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    from aad_guard.errors import InvalidClaimError

    async with TokenValidator(
        client_id=issuer.client_id, clock=clock, http_client=issuer.client()
    ) as validator:
        for claims in ({"acrs": "c1"}, {"xms_cc": ["cp1", 1]}):
            with pytest.raises(InvalidClaimError):
                await validator.validate(issuer.token(claims=claims))


def test_under_a_protected_resource_the_claims_challenge_names_its_metadata(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=issuer.client())
    app = api(validator)
    app.user_middleware[0].kwargs["resource"] = "https://api.example.com/payments"
    with TestClient(app) as client:
        answer = client.post("/payments/approve", headers=bearer(issuer, xms_cc=["cp1"]))
    metadata = "https://api.example.com/.well-known/oauth-protected-resource/payments"
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        CHALLENGE.format(client_id=issuer.client_id) + f', resource_metadata="{metadata}"'
    )
