"""Fuzzing the app's intake: structured mutations of valid tokens, and raw header values.

`make test` runs a bounded budget; `make fuzz` sets `AAD_GUARD_FUZZ_EXAMPLES` for a long run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.helpers import b64
from tests.security.forge import SCOPE, Forge, Probe, attacker_key
from tests.security.guarded import GuardedAPI, guarded_api

# Slow: fuzzes the intake.
pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("AAD_GUARD_FUZZ_EXAMPLES", "60"))
fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,  # RSA signing and a request per example: timing is not what is tested
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
HEADER_NAMES = ["alg", "kid", "x5t", "typ", "crit", "jku", "jwk", "x5u", "x5c", "nonce", "b64"]
CLAIM_NAMES = [
    *("aud", "iss", "tid", "exp", "nbf", "iat", "ver", "scp", "roles", "azp", "appid"),
    *("idtyp", "oid", "sub", "name", "preferred_username", "upn", "unique_name", "email"),
]


@dataclass(frozen=True, slots=True)
class Mutation:
    """Set (or, with `value` None and `delete`, remove) one member of the header or payload."""

    part: str
    name: str
    delete: bool
    value: object


mutations = st.builds(
    Mutation,
    part=st.sampled_from(["header", "payload"]),
    name=st.sampled_from(HEADER_NAMES + CLAIM_NAMES) | st.text(max_size=8),
    delete=st.booleans(),
    value=json_values,
)


@pytest.fixture(params=["asyncio", "trio"])
def portal(request: pytest.FixtureRequest) -> Iterator[BlockingPortal]:
    """One event loop per test, shared by all of hypothesis's examples."""
    with start_blocking_portal(backend=request.param) as portal:
        yield portal


@pytest.fixture
def api(portal: BlockingPortal) -> Iterator[GuardedAPI]:
    """The guarded app with warm keys, on the portal's loop, for every example of a test."""
    clock = FakeClock()
    issuer = LocalIssuer(clock=clock)
    with portal.wrap_async_context_manager(guarded_api(issuer, clock)) as api:
        portal.call(api.validator.refresh)
        yield api


def send(portal: BlockingPortal, api: GuardedAPI, probe: Probe) -> httpx.Response:
    return portal.call(api.send, probe)


def admitted_by_design(
    api: GuardedAPI, header: dict[str, object], claims: dict[str, object]
) -> bool:
    """Whether an honestly signed token with this header and claims may be accepted."""
    issuer = api.issuer
    aud = claims.get("aud")
    aud = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
    tid, ver, exp = claims.get("tid"), claims.get("ver"), claims.get("exp")
    published = {key.kid for key in issuer.keys.listed}
    named = header["kid"] if "kid" in header else header.get("x5t")  # kid wins (rule 7)
    return (
        header.get("alg") == "RS256"
        and named in published
        and not {"crit", "b64", "enc", "zip", "nonce"} & header.keys()
        and aud in (issuer.client_id, f"api://{issuer.client_id}")
        and isinstance(tid, str)
        and ver in ("1.0", "2.0")
        and claims.get("iss") == issuer.issuer(tid, version=str(ver))
        and isinstance(exp, int | float)
        and not isinstance(exp, bool)
    )


@fuzz_settings
@given(st.lists(mutations, min_size=1, max_size=4), st.sampled_from(["issuer", "kept", "attacker"]))
def test_mutated_tokens_are_accepted_only_when_honestly_valid(
    portal: BlockingPortal, api: GuardedAPI, changes: list[Mutation], signer: str
) -> None:
    forge = Forge(api.issuer)
    original = forge.token()
    header, claims = forge.header(), forge.claims()
    for change in changes:
        target = header if change.part == "header" else claims
        if change.delete:
            target.pop(change.name, None)
        else:
            target[change.name] = change.value
    header_text, payload_text = json.dumps(header), json.dumps(claims)
    if signer == "issuer":
        token = forge.signed(header_text, payload_text)
    elif signer == "attacker":
        token = api.issuer.sign(claims, headers=header, key=attacker_key())
    else:  # the original signature over changed content
        token = f"{b64(header_text.encode())}.{b64(payload_text.encode())}.{original.split('.')[2]}"
    sent = len(api.issuer.requests)

    response = send(portal, api, Probe.authorization(f"Bearer {token}"))

    event(f"{signer} -> {response.status_code}")
    assert response.status_code in (200, 401, 403)
    if response.status_code != 401:
        assert signer == "issuer"
        assert admitted_by_design(api, header, claims)
        granted = SCOPE in str(claims.get("scp", "")).split()
        assert (response.status_code == 200) == granted
    assert api.foreign_requests() == []
    assert len(api.issuer.requests) - sent <= 3  # at most one refetch for an unknown kid


segments = st.from_regex(r"[A-Za-z0-9_\-]{0,80}", fullmatch=True)


@fuzz_settings
@given(st.integers(0, 2), segments, st.integers(1, 3))
def test_spliced_segments_are_refused(
    portal: BlockingPortal, api: GuardedAPI, index: int, segment: str, repeat: int
) -> None:
    parts = Forge(api.issuer).token().split(".")
    parts[index] = segment * repeat
    token = ".".join(parts)
    response = send(portal, api, Probe.authorization(f"Bearer {token}"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


raw_values = (
    st.binary(max_size=300)
    | st.text(st.characters(max_codepoint=255), max_size=300).map(lambda s: s.encode("latin-1"))
    | st.from_regex(r"[Bb]earer[ \t]{0,2}[A-Za-z0-9\-._~+/=\" ,]{0,200}", fullmatch=True).map(
        str.encode
    )
)


@fuzz_settings
@given(st.lists(raw_values, min_size=0, max_size=3))
def test_raw_authorization_headers_are_answered_400_or_401(
    portal: BlockingPortal, api: GuardedAPI, values: list[bytes]
) -> None:
    response = send(portal, api, Probe.authorization(*values))
    assert response.status_code in (400, 401)
    assert set(response.json()) == {"error", "error_description"}
    assert api.foreign_requests() == []
