"""In-process timings: the API called as an ASGI callable, the incumbents, `validate()`, the floor.

Cases, timed side by side in one run (one asyncio event loop, via `anyio.run`), rounds
interleaved so that a slow patch of the machine lands on all of them:

- `ASGI unprotected`: the FastAPI route alone, sent the same token (which it ignores); the
  baseline of the ASGI cases.
- `ASGI protected, repeated token`: the route behind `AADGuardMiddleware`, one token over
  and over (what most requests are: clients reuse a token for up to an hour).
- `ASGI documented, repeated` / `ASGI documented, fresh`: the route as README documents
  it, the middleware and `Depends(require_scopes(...))`, with one token or a distinct one
  each request.
- `fastapi-azure-auth, ...` and `PyJWKClient + jwt.decode, ...`: the incumbents on the same
  route with the same scope requirement (`bench/incumbents.py`), repeated and fresh tokens.
- `no-op app` / `no-op app, protected`: an ASGI app that answers at once, bare and behind the
  middleware with a repeated token: the middleware's own cost in µs, whatever the route.
- `floor`: base64url-decode and `json.loads` header and payload, decode the signature, and
  one RSA-2048 PKCS#1 v1.5 SHA-256 verify with `cryptography` directly. No validator can do
  less for a token it has not seen before. The baseline of the token cases.
- `RSA verify`: that verify alone, on bytes decoded before timing.
- `validate() fresh` / `validate() repeated`: `TokenValidator.validate` with warm keys.
- `jwt.decode fresh`: PyJWT's `jwt.decode` with the public key, audience and issuer.

Every fresh case gets a distinct token per call and per round, all minted before any timing
(by `LocalIssuer`, differing in `uti`), and each case has its own validator, so no fresh
token is ever seen twice by one validator (the incumbents cache no tokens).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from starlette.types import ASGIApp, Receive, Scope, Send

from aad_guard import AADGuardMiddleware, TokenValidator
from aad_guard.testing import LocalIssuer

from ._app import call, documented_app, protected_app, route_app
from ._harness import Case, CaseResult, async_timer, run_rounds, sync_timer
from .incumbents import azure_auth_app, diy_app

__all__ = [
    "AZURE_AUTH_FRESH",
    "AZURE_AUTH_REPEATED",
    "DOCUMENTED_FRESH",
    "DOCUMENTED_REPEATED",
    "FLOOR",
    "FRESH_VALIDATE",
    "NO_OP",
    "RSA_VERIFY",
    "UNPROTECTED",
    "Tokens",
    "asgi",
    "floor",
    "measure",
    "mint",
    "no_op",
]

MAX_WARMUP_OPS = 200
FLOOR = "floor"
RSA_VERIFY = "RSA verify"
UNPROTECTED = "ASGI unprotected"
NO_OP = "no-op app"
DOCUMENTED_REPEATED = "ASGI documented, repeated"
DOCUMENTED_FRESH = "ASGI documented, fresh"
AZURE_AUTH_REPEATED = "fastapi-azure-auth, repeated"
AZURE_AUTH_FRESH = "fastapi-azure-auth, fresh"
FRESH_VALIDATE = "validate() fresh"

# Stateless; made once so the floor pays only for the verify itself.
_PADDING = PKCS1v15()
_HASH = SHA256()


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def floor(token: str, public_key: RSAPublicKey) -> dict[str, object]:
    """The least work a fresh token needs: decode, parse, one RSA verify; returns the claims.

    Raises:
        cryptography.exceptions.InvalidSignature: the signature does not verify.
    """
    header, payload, signature = token.split(".")
    json.loads(_b64url(header))
    claims: dict[str, object] = json.loads(_b64url(payload))
    signing_input = token[: len(header) + 1 + len(payload)].encode("ascii")
    public_key.verify(_b64url(signature), signing_input, _PADDING, _HASH)
    return claims


@dataclass(frozen=True, slots=True)
class Tokens:
    """Pre-minted tokens: a warm-up batch, one batch per round, and one to repeat."""

    warmup: list[str]
    rounds: list[list[str]]
    repeated: str


def mint(issuer: LocalIssuer, *, rounds: int, ops: int) -> Tokens:
    """Distinct tokens for every fresh operation of a run, and one to repeat."""
    numbers = itertools.count()

    def batch(size: int) -> list[str]:
        # Entra's `uti` is a 22-character token id; a running number keeps every token distinct.
        return [issuer.token(claims={"uti": f"bench{next(numbers):017d}"}) for _ in range(size)]

    tokens = Tokens(
        warmup=batch(min(ops, MAX_WARMUP_OPS)),
        rounds=[batch(ops) for _ in range(rounds)],
        repeated=batch(1)[0],
    )
    every = [*tokens.warmup, *itertools.chain.from_iterable(tokens.rounds), tokens.repeated]
    if len(set(every)) != len(every):
        raise RuntimeError("the minted tokens are not all distinct")
    return tokens


async def no_op(_scope: Scope, _receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def asgi(app: ASGIApp) -> Callable[[str], Awaitable[None]]:
    async def operation(token: str) -> None:
        status = await call(app, b"Bearer " + token.encode("ascii"))
        if status != 200:
            raise RuntimeError(f"the benchmark app answered {status}")

    return operation


async def measure(
    issuer: LocalIssuer,
    tokens: Tokens,
    *,
    authority: str,
    rounds: int,
    on_round: Callable[[int], None],
) -> list[CaseResult]:
    """Time every in-process case over `rounds` interleaved rounds.

    `issuer` is served at `authority` on loopback, where the validators and the incumbents
    fetch its metadata and keys before any timing.
    """
    public_key = issuer.keys.signing.private_key.public_key()
    audience = issuer.client_id
    token_issuer = issuer.issuer(issuer.tenant_id)

    def decode(token: str) -> dict[str, object]:
        claims: dict[str, object] = jwt.decode(
            token, public_key, algorithms=["RS256"], audience=audience, issuer=token_issuer
        )
        return claims

    def floor_operation(token: str) -> dict[str, object]:
        return floor(token, public_key)

    every_fresh = [*tokens.warmup, *itertools.chain.from_iterable(tokens.rounds)]
    signed = {token: _signed_parts(token) for token in every_fresh}

    def verify(token: str) -> None:
        signature, signing_input = signed[token]
        public_key.verify(signature, signing_input, _PADDING, _HASH)

    def fresh(r: int) -> Sequence[str]:
        return tokens.rounds[r]

    def repeated(r: int) -> Sequence[str]:
        return [tokens.repeated] * len(tokens.rounds[r])

    repeated_warmup = [tokens.repeated] * len(tokens.warmup)
    incumbent = {"authority": authority, "tenant_id": issuer.tenant_id, "client_id": audience}

    def validator() -> TokenValidator:
        return TokenValidator(client_id=issuer.client_id, authority=authority)

    fresh_validator, repeated_validator = validator(), validator()
    app_repeated, documented_repeated, documented_fresh = validator(), validator(), validator()
    no_op_validator = validator()
    validators = [
        fresh_validator,
        repeated_validator,
        app_repeated,
        documented_repeated,
        documented_fresh,
        no_op_validator,
    ]
    for each in validators:
        await each.refresh()
    # All must agree on a token before any of them is timed.
    principal = await fresh_validator.validate(tokens.repeated)
    if not (floor_operation(tokens.repeated) == decode(tokens.repeated) == dict(principal.claims)):
        raise RuntimeError("floor, jwt.decode and validate() disagree on the claims")

    def asgi_case(name: str, description: str, app: ASGIApp, *, fresh_tokens: bool) -> Case:
        if fresh_tokens:
            return Case(
                name, description, async_timer(asgi(app)), fresh, tokens.warmup, UNPROTECTED
            )
        return Case(
            name, description, async_timer(asgi(app)), repeated, repeated_warmup, UNPROTECTED
        )

    azure_repeated, azure_fresh = azure_auth_app(**incumbent), azure_auth_app(**incumbent)
    diy_repeated, diy_fresh = diy_app(**incumbent), diy_app(**incumbent)
    for incumbent_app in (azure_repeated, azure_fresh, diy_repeated, diy_fresh):
        await asgi(incumbent_app)(tokens.repeated)  # the metadata and keys, fetched once
    fetches = issuer.count()

    cases = [
        Case(
            UNPROTECTED,
            "GET /items with a token through the FastAPI app, no middleware",
            async_timer(asgi(route_app())),
            repeated,
            repeated_warmup,
        ),
        asgi_case(
            "ASGI protected, repeated token",
            "GET /items behind AADGuardMiddleware (no requirement), one token over and over",
            protected_app(app_repeated),
            fresh_tokens=False,
        ),
        asgi_case(
            DOCUMENTED_REPEATED,
            "the middleware and Depends(require_scopes(...)) on the route, one token",
            documented_app(documented_repeated),
            fresh_tokens=False,
        ),
        asgi_case(
            DOCUMENTED_FRESH,
            "the same, a distinct token each request",
            documented_app(documented_fresh),
            fresh_tokens=True,
        ),
        asgi_case(
            AZURE_AUTH_REPEATED,
            "fastapi-azure-auth's Security(scheme, scopes=[...]) on the route, one token",
            azure_repeated,
            fresh_tokens=False,
        ),
        asgi_case(
            AZURE_AUTH_FRESH,
            "the same, a distinct token each request",
            azure_fresh,
            fresh_tokens=True,
        ),
        asgi_case(
            "PyJWKClient + jwt.decode, repeated",
            "a hand-written dependency: PyJWKClient, jwt.decode, the scope; one token",
            diy_repeated,
            fresh_tokens=False,
        ),
        asgi_case(
            "PyJWKClient + jwt.decode, fresh",
            "the same, a distinct token each request",
            diy_fresh,
            fresh_tokens=True,
        ),
        Case(
            NO_OP,
            "an ASGI app that answers 200 at once, sent the same token",
            async_timer(asgi(no_op)),
            repeated,
            repeated_warmup,
        ),
        Case(
            "no-op app, protected, repeated",
            "the same behind AADGuardMiddleware, one token over and over",
            async_timer(asgi(AADGuardMiddleware(no_op, validator=no_op_validator))),
            repeated,
            repeated_warmup,
            NO_OP,
        ),
        Case(
            FLOOR,
            "b64url + json.loads header and payload, one RSA-2048 PKCS1v15-SHA256 verify",
            sync_timer(floor_operation),
            fresh,
            tokens.warmup,
        ),
        Case(
            RSA_VERIFY,
            "the RSA-2048 PKCS1v15-SHA256 verify alone, on bytes decoded before timing",
            sync_timer(verify),
            fresh,
            tokens.warmup,
            FLOOR,
        ),
        Case(
            FRESH_VALIDATE,
            "await TokenValidator.validate(token), warm keys, a distinct token each call",
            async_timer(fresh_validator.validate),
            fresh,
            tokens.warmup,
            FLOOR,
        ),
        Case(
            "validate() repeated",
            "await TokenValidator.validate(token), warm keys, one token over and over",
            async_timer(repeated_validator.validate),
            repeated,
            repeated_warmup,
            FLOOR,
        ),
        Case(
            "jwt.decode fresh",
            "PyJWT jwt.decode(token, public_key, algorithms, audience, issuer)",
            sync_timer(decode),
            fresh,
            tokens.warmup,
            FLOOR,
        ),
    ]
    try:
        results = await run_rounds(cases, rounds=rounds, on_round=on_round)
    finally:
        for each in validators:
            await each.aclose()
    if issuer.count() != fetches:
        raise RuntimeError("a validator fetched keys while it was being timed")
    return results


def _signed_parts(token: str) -> tuple[bytes, bytes]:
    """A token's signature and signing input, decoded."""
    head, _, signature = token.rpartition(".")
    return _b64url(signature), head.encode("ascii")
