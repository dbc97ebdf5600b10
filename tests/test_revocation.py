"""Revocation: what the app revoked is refused on the next request, cached or not."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from aad_guard import AADGuardMiddleware, InMemoryRevocationStore, TokenValidator
from aad_guard._claims import decode_claims
from aad_guard._revocation import Revocations
from aad_guard.errors import RevocationUnavailableError, TokenRevokedError
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import decoded

DAEMON = "0c1d2e3f-0000-4000-8000-0000000c0003"


@pytest.fixture
def store(clock: FakeClock) -> InMemoryRevocationStore:
    return InMemoryRevocationStore(clock=clock)


@pytest.mark.anyio
@pytest.mark.parametrize("cache", [4096, 0], ids=["cached", "uncached"])
async def test_a_revoked_user_is_refused_from_the_next_request_on(
    cache: int,
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    store: InMemoryRevocationStore,
    clock: FakeClock,
) -> None:
    validator = make_validator(revocation_store=store, max_cached_tokens=cache)
    token = issuer.token()
    principal = await validator.validate(token)
    await validator.validate(token)  # cached, when the cache is on
    clock.advance(10)
    revoked_at = await store.revoke_user(principal.tenant_id, principal.object_id or "")
    assert revoked_at == clock.now
    with pytest.raises(TokenRevokedError) as refused:
        await validator.validate(token)
    assert (refused.value.reason, refused.value.error, refused.value.claims) == (
        "token_revoked",
        "invalid_token",
        None,
    )
    assert refused.value.tenant_id == principal.tenant_id
    # One issued in the revocation's second may predate it: refused too.
    with pytest.raises(TokenRevokedError):
        await validator.validate(issuer.token())
    # A token Entra issues from the next second on passes: the user is still allowed.
    clock.advance(1)
    fresh = await validator.validate(issuer.token())
    assert fresh.object_id == principal.object_id


@pytest.mark.anyio
async def test_a_cp1_caller_is_asked_for_a_token_issued_after_the_revocation(
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    store: InMemoryRevocationStore,
    clock: FakeClock,
) -> None:
    validator = make_validator(revocation_store=store)
    token = issuer.token(claims={"xms_cc": ["cp1"]})
    principal = await validator.validate(token)
    clock.advance(30.7)
    await store.revoke_user(principal.tenant_id, principal.object_id or "")
    with pytest.raises(TokenRevokedError) as refused:
        await validator.validate(token)
    assert refused.value.error == "insufficient_claims"
    assert refused.value.claims is not None
    assert decode_claims(refused.value.claims) == {
        "access_token": {"nbf": {"essential": True, "value": str(int(clock.now) + 1)}}
    }


@pytest.mark.anyio
async def test_one_token_is_revoked_by_its_uti(
    make_validator: MakeValidator, issuer: LocalIssuer, store: InMemoryRevocationStore
) -> None:
    validator = make_validator(revocation_store=store)
    leaked, other = issuer.token(), issuer.token()
    await validator.validate(leaked)
    await store.revoke_token(str(decoded(leaked, 1)["uti"]))
    with pytest.raises(TokenRevokedError):
        await validator.validate(leaked)
    assert (await validator.validate(other)).object_id is not None


@pytest.mark.anyio
async def test_a_client_app_is_revoked_for_its_app_only_tokens(
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    store: InMemoryRevocationStore,
    clock: FakeClock,
) -> None:
    validator = make_validator(revocation_store=store)
    app_token = issuer.token(app_only=True, roles=["Tasks.All"], client_id=DAEMON)
    user_token = issuer.token(client_id=DAEMON)  # a user signed in through the same app
    await validator.validate(app_token)
    clock.advance(1)
    await store.revoke_client(issuer.tenant_id, DAEMON)
    with pytest.raises(TokenRevokedError):
        await validator.validate(app_token)
    await validator.validate(user_token)
    clock.advance(1)
    await validator.validate(issuer.token(app_only=True, roles=["Tasks.All"], client_id=DAEMON))


@pytest.mark.anyio
async def test_entries_vanish_after_the_longest_token_lifetime(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    store = InMemoryRevocationStore(clock=clock, entry_lifetime=100)
    await store.revoke_user(issuer.tenant_id, "someone", since=clock.now)
    await store.revoke_token("abc")
    assert (await store.lookup(issuer.tenant_id, "someone", "abc", None)).user == clock.now
    clock.advance(100)
    assert await store.lookup(issuer.tenant_id, "someone", "abc", None) == Revocations()


class BrokenStore(InMemoryRevocationStore):
    """A store whose reads fail, or never answer."""

    never_waits = False

    def __init__(self, *, hang: bool = False) -> None:
        super().__init__()
        self.hang = hang

    async def lookup(
        self, tenant_id: str, object_id: str | None, uti: str | None, client_id: str | None
    ) -> Revocations:
        if self.hang:
            await anyio.sleep_forever()
        raise ConnectionError("the store is down")


@pytest.mark.anyio
@pytest.mark.parametrize("hang", [False, True], ids=["down", "hung"])
async def test_an_unreadable_store_admits_by_default_and_says_so(
    hang: bool,
    make_validator: MakeValidator,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    validator = make_validator(revocation_store=BrokenStore(hang=hang), revocation_timeout=0.05)
    with caplog.at_level(logging.WARNING, logger="aad_guard"):
        assert (await validator.validate(issuer.token())).object_id is not None
    (record,) = caplog.records
    assert "could not read the revocation store" in record.getMessage()
    assert ("within the timeout" if hang else "ConnectionError") in record.getMessage()
    assert getattr(record, "aad_guard_reason", None) == "revocation_unavailable"


@pytest.mark.anyio
@pytest.mark.parametrize("hang", [False, True], ids=["down", "hung"])
async def test_an_unreadable_store_refuses_when_configured_to(
    hang: bool, make_validator: MakeValidator, issuer: LocalIssuer
) -> None:
    validator = make_validator(
        revocation_store=BrokenStore(hang=hang),
        revocation_timeout=0.05,
        on_revocation_failure="refuse",
    )
    with pytest.raises(RevocationUnavailableError) as refused:
        await validator.validate(issuer.token())
    assert (refused.value.status_code, refused.value.reason) == (503, "revocation_unavailable")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_revocation_failure": "maybe"}, "'admit' or 'refuse'"),
        ({"revocation_timeout": 0}, "revocation_timeout"),
    ],
)
def test_revocation_settings_are_checked_when_given(
    options: dict[str, Any], message: str, issuer: LocalIssuer
) -> None:
    with pytest.raises(ValueError, match=message):
        TokenValidator(
            client_id=issuer.client_id, revocation_store=InMemoryRevocationStore(), **options
        )


def test_a_store_must_be_a_store(issuer: LocalIssuer) -> None:
    with pytest.raises(TypeError, match="revocation_store must be a RevocationStore"):
        TokenValidator(client_id=issuer.client_id, revocation_store=object())  # type: ignore[arg-type]


def protected(validator: TokenValidator) -> Starlette:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


@pytest.fixture
def api(
    issuer: LocalIssuer, clock: FakeClock, store: InMemoryRevocationStore
) -> Iterator[TestClient]:
    validator = TokenValidator(
        client_id=issuer.client_id,
        clock=clock,
        http_client=issuer.client(),
        revocation_store=store,
    )
    with TestClient(protected(validator)) as client:
        yield client


def test_the_answers_a_revoked_caller_gets(
    api: TestClient, issuer: LocalIssuer, store: InMemoryRevocationStore, clock: FakeClock
) -> None:
    capable = issuer.token(claims={"xms_cc": ["cp1"]})
    plain = issuer.token()
    assert api.get("/", headers={"Authorization": f"Bearer {capable}"}).status_code == 200
    clock.advance(5)
    tenant_id, object_id = str(decoded(plain, 1)["tid"]), str(decoded(plain, 1)["oid"])
    assert api.portal is not None
    revoked_at = api.portal.call(store.revoke_user, tenant_id, object_id)

    challenged = api.get("/", headers={"Authorization": f"Bearer {capable}"})
    assert challenged.status_code == 401
    header = challenged.headers["WWW-Authenticate"]
    assert header.startswith(
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
        f'authorize", client_id="{issuer.client_id}", error="insufficient_claims", claims="'
    )
    assert "cc_type" not in header
    value = header.split('claims="', 1)[1].rstrip('"')
    assert decode_claims(value) == {
        "access_token": {"nbf": {"essential": True, "value": str(int(revoked_at) + 1)}}
    }
    assert challenged.json() == {
        "error": "insufficient_claims",
        "error_description": "The access token has been revoked.",
    }

    refused = api.get("/", headers={"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token has been revoked."'
    )


def test_a_store_that_cannot_be_read_is_answered_503_when_refusing(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    validator = TokenValidator(
        client_id=issuer.client_id,
        clock=clock,
        http_client=issuer.client(),
        revocation_store=BrokenStore(),
        on_revocation_failure="refuse",
    )
    with TestClient(protected(validator)) as client:
        answer = client.get("/", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
    assert "WWW-Authenticate" not in answer.headers
    assert answer.json()["error"] == "temporarily_unavailable"
