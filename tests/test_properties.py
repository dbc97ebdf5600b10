"""Property-based tests: no input makes `validate` fail with anything but an AADGuardError."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aad_guard import Principal, TokenValidator
from aad_guard._authorization import bearer_token
from aad_guard._jose import b64url_decode
from aad_guard.errors import (
    AADGuardError,
    InvalidClaimError,
    NoScopesOrRolesError,
    NotAnAccessTokenError,
)
from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.helpers import b64

# Slow: Hypothesis runs of the token intake.
pytestmark = pytest.mark.slow

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
claim_names = st.sampled_from(
    ["aud", "iss", "tid", "exp", "nbf", "iat", "ver", "scp", "roles", "azp", "appid", "idtyp"]
)
header_names = st.sampled_from(["alg", "kid", "x5t", "typ", "crit", "jku", "nonce", "b64"])


@pytest.fixture(params=["asyncio", "trio"])
def portal(request: pytest.FixtureRequest) -> Iterator[BlockingPortal]:
    """One event loop per test, shared by all of hypothesis's examples."""
    with start_blocking_portal(backend=request.param) as portal:
        yield portal


@pytest.fixture
def setup(portal: BlockingPortal) -> Iterator[tuple[LocalIssuer, TokenValidator]]:
    clock = FakeClock()
    issuer = LocalIssuer(clock=clock)
    client = issuer.client()
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=client)
    yield issuer, validator
    portal.call(client.aclose)


def outcome(portal: BlockingPortal, validator: TokenValidator, token: str) -> object:
    try:
        return portal.call(validator.validate, token)
    except AADGuardError as error:
        return error


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-]{0,60}(\.[A-Za-z0-9_\-=+/ ]{0,60}){2}")
)
def test_no_string_escapes_the_error_tree_or_reaches_the_network(
    portal: BlockingPortal, setup: tuple[LocalIssuer, TokenValidator], token: str
) -> None:
    issuer, validator = setup
    assert isinstance(outcome(portal, validator, token), AADGuardError)
    assert issuer.count() == 0


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(claim_names, json_values, max_size=4), st.sets(claim_names, max_size=3))
def test_signed_tokens_with_any_claim_values_pass_or_fail_cleanly(
    portal: BlockingPortal,
    setup: tuple[LocalIssuer, TokenValidator],
    claims: dict[str, object],
    removed: set[str],
) -> None:
    issuer, validator = setup
    result = outcome(portal, validator, issuer.token(claims=claims, remove=removed))
    assert isinstance(result, Principal | AADGuardError)
    assert {request.url.host for request in issuer.requests} <= {issuer_host(issuer)}


# The claims that make a Principal, and the JSON type each must have (Entra reference).
STRING_CLAIMS = ["scp", "idtyp", "oid", "sub", "name", "preferred_username", "upn", "unique_name"]
CLIENT_CLAIMS = {"1.0": "appid", "2.0": "azp"}
principal_claims = st.sampled_from([*STRING_CLAIMS, "roles", "azp", "appid"])


def has_its_type(name: str, value: object) -> bool:
    if name == "roles":
        return isinstance(value, list) and all(isinstance(role, str) for role in value)
    return isinstance(value, str)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(principal_claims, json_values, max_size=4),
    st.sets(principal_claims, max_size=3),
    st.sampled_from(["1.0", "2.0"]),
    st.booleans(),
    st.booleans(),
)
def test_a_principal_never_rests_on_a_claim_of_the_wrong_type(
    portal: BlockingPortal,
    setup: tuple[LocalIssuer, TokenValidator],
    claims: dict[str, object],
    removed: set[str],
    version: str,
    accept_id_tokens: bool,
    allow_acl_tokens: bool,
) -> None:
    """Any value, `null` included, of a claim a Principal is made of: typed, or refused."""
    assume("Infinity" not in json.dumps(claims))  # not JSON: refused before any claim is read
    issuer, _ = setup
    client = issuer.client()
    validator = TokenValidator(
        client_id=issuer.client_id,
        clock=issuer.clock,
        http_client=client,
        accept_id_tokens=accept_id_tokens,
        allow_acl_tokens=allow_acl_tokens,
    )
    token = issuer.token(version=version, claims=claims, remove=removed)  # type: ignore[arg-type]
    payload = json.loads(b64url_decode(token.split(".")[1]))
    client_claim = CLIENT_CLAIMS[version]
    read = [*STRING_CLAIMS, "roles", client_claim]
    wrong = {name for name in read if name in payload and not has_its_type(name, payload[name])}

    result = outcome(portal, validator, token)
    portal.call(client.aclose)

    if wrong:
        assert isinstance(result, InvalidClaimError)
        assert result.claim in wrong
        return
    assert isinstance(result, Principal | NotAnAccessTokenError | NoScopesOrRolesError)
    if isinstance(result, Principal):
        scp = payload.get("scp")
        assert result.scopes == frozenset(scp.split() if isinstance(scp, str) else ())
        assert result.roles == frozenset(payload.get("roles", ()))
        assert result.client_id == payload.get(client_claim)
        assert result.is_app == (
            "scp" not in payload
            and payload.get("idtyp", "app") == "app"
            and client_claim in payload
        )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(header_names, json_values, max_size=4))
def test_signed_tokens_with_any_header_values_pass_or_fail_cleanly(
    portal: BlockingPortal, setup: tuple[LocalIssuer, TokenValidator], header: dict[str, object]
) -> None:
    issuer, validator = setup
    token = issuer.token(headers={"kid": issuer.keys.signing.kid, **header})
    result = outcome(portal, validator, token)
    assert isinstance(result, Principal | AADGuardError)
    assert {request.url.host for request in issuer.requests} <= {issuer_host(issuer)}


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values, json_values)
def test_any_json_header_and_payload_fail_cleanly(
    portal: BlockingPortal,
    setup: tuple[LocalIssuer, TokenValidator],
    header: object,
    payload: object,
) -> None:
    issuer, validator = setup
    token = ".".join(b64(json.dumps(part).encode()) for part in (header, payload, "sig"))
    assert isinstance(outcome(portal, validator, token), AADGuardError)
    assert issuer.count() == 0


def issuer_host(issuer: LocalIssuer) -> str:
    return issuer.authority.removeprefix("https://")


# RFC 6750 §2.1 as a regular expression: the reference the middleware's byte parser must match.
RFC6750_CREDENTIALS = re.compile(rb"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*) *")
authorization_values = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda scheme, spaces, body, tail: scheme + spaces + body + tail,
        st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"BeArEr", b"Bearer:", b"Basic", b""]),
        st.sampled_from([b"", b" ", b"  ", b"\t"]),
        st.binary(max_size=30) | st.from_regex(rb"\A[A-Za-z0-9\-._~+/=]{0,30}\Z"),
        st.sampled_from([b"", b" ", b"=", b"==", b" x", b"\n"]),
    ),
)


@given(authorization_values)
def test_the_bearer_parser_accepts_exactly_the_rfc_6750_credentials(value: bytes) -> None:
    match = RFC6750_CREDENTIALS.fullmatch(value)
    expected = None if match is None else match.group(1).decode("ascii")
    assert bearer_token(value) == expected
