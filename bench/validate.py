"""How close `TokenValidator.validate` comes to the floor: decode plus one RSA verify.

Cases, timed side by side in one run (one asyncio event loop, via `anyio.run`):

- `floor`: base64url-decode and `json.loads` header and payload, decode the signature, and one
  RSA-2048 PKCS#1 v1.5 SHA-256 verify with `cryptography` directly. No validator can do less
  for a token it has not seen before.
- `validate() fresh`: `TokenValidator.validate` with warm keys, a distinct token every call.
- `validate() same token`: the same, with one token over and over (a token cache would show).
- `jwt.decode fresh`: PyJWT's `jwt.decode` with the public key, audience and issuer.

Every fresh case gets a distinct token per call and per round, all minted before any timing
(by `LocalIssuer`, differing in `uti`), so minting is never measured and no token repeats.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime
import itertools
import json
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import jwt
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer

from ._harness import (
    Case,
    CaseResult,
    async_timer,
    environment,
    render_table,
    run_rounds,
    sync_timer,
    write_json,
)

__all__ = ["floor", "main"]

RESULTS_PATH = Path(__file__).parent / "results" / "validate.json"
DEFAULT_ROUNDS = 7
DEFAULT_OPS = 2000
QUICK_ROUNDS = 3
QUICK_OPS = 50
MAX_WARMUP_OPS = 200
PROFILE_TOP = 25
FLOOR = "floor"

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
class _Tokens:
    """Pre-minted tokens: a warm-up batch, one batch per round, and some for the profiler."""

    warmup: list[str]
    rounds: list[list[str]]
    profile: list[str]
    spare: str


def _mint(issuer: LocalIssuer, *, rounds: int, ops: int, profile: bool) -> _Tokens:
    numbers = itertools.count()

    def batch(size: int) -> list[str]:
        # Entra's `uti` is a 22-character token id; a running number keeps every token distinct.
        return [issuer.token(claims={"uti": f"bench{next(numbers):017d}"}) for _ in range(size)]

    tokens = _Tokens(
        warmup=batch(min(ops, MAX_WARMUP_OPS)),
        rounds=[batch(ops) for _ in range(rounds)],
        profile=batch(ops) if profile else [],
        spare=batch(1)[0],
    )
    every = [*tokens.warmup, *itertools.chain.from_iterable(tokens.rounds), *tokens.profile]
    if len(set(every)) != len(every):
        raise RuntimeError("the minted tokens are not all distinct")
    _progress(f"minted {len(every) + 1} tokens")
    return tokens


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def positive_int(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
        return value

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time TokenValidator.validate against decode+verify and PyJWT.",
    )
    parser.add_argument(
        "--rounds", type=positive_int, help=f"timed rounds per case (default {DEFAULT_ROUNDS})"
    )
    parser.add_argument(
        "--ops", type=positive_int, help=f"operations per round (default {DEFAULT_OPS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_ROUNDS} rounds of {QUICK_OPS} ops unless given otherwise",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS_PATH,
        metavar="PATH",
        help="where to write the results (default bench/results/validate.json)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"then profile validate() with cProfile and print the top {PROFILE_TOP} functions",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.ops is None:
        args.ops = QUICK_OPS if args.quick else DEFAULT_OPS
    return args


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _measure(
    issuer: LocalIssuer, tokens: _Tokens, *, rounds: int
) -> tuple[list[CaseResult], cProfile.Profile | None]:
    """Time every case; then, given tokens for it, profile validate() with cProfile."""
    public_key = issuer.signing_key.private_key.public_key()
    audience = issuer.client_id
    token_issuer = issuer.issuer(issuer.tenant_id)

    def decode(token: str) -> dict[str, object]:
        claims: dict[str, object] = jwt.decode(
            token, public_key, algorithms=["RS256"], audience=audience, issuer=token_issuer
        )
        return claims

    def floor_operation(token: str) -> dict[str, object]:
        return floor(token, public_key)

    async with (
        issuer.client() as client,
        TokenValidator(client_id=issuer.client_id, http_client=client) as validator,
    ):
        await validator.refresh()
        # All three must agree on a token before any of them is timed; the spare token is
        # never in a fresh batch, so this warms no cache for them.
        principal = await validator.validate(tokens.spare)
        if not (floor_operation(tokens.spare) == decode(tokens.spare) == dict(principal.claims)):
            raise RuntimeError("floor, jwt.decode and validate() disagree on the claims")
        fetches = issuer.count()

        cases = [
            Case(
                FLOOR,
                "b64url + json.loads header and payload, one RSA-2048 PKCS1v15-SHA256 verify",
                sync_timer(floor_operation),
                lambda r: tokens.rounds[r],
                tokens.warmup,
            ),
            Case(
                "validate() fresh",
                "await TokenValidator.validate(token), warm keys, a distinct token each call",
                async_timer(validator.validate),
                lambda r: tokens.rounds[r],
                tokens.warmup,
            ),
            Case(
                "validate() same token",
                "await TokenValidator.validate(token), warm keys, one token over and over",
                async_timer(validator.validate),
                lambda r: [tokens.spare] * len(tokens.rounds[r]),
                [tokens.spare] * len(tokens.warmup),
            ),
            Case(
                "jwt.decode fresh",
                "PyJWT jwt.decode(token, public_key, algorithms, audience, issuer)",
                sync_timer(decode),
                lambda r: tokens.rounds[r],
                tokens.warmup,
            ),
        ]
        results = await run_rounds(
            cases, rounds=rounds, on_round=lambda r: _progress(f"round {r + 1}/{rounds}")
        )
        if issuer.count() != fetches:
            raise RuntimeError("the validator fetched keys while it was being timed")

        if not tokens.profile:
            return results, None
        _progress(f"profiling validate() over {len(tokens.profile)} fresh tokens")
        profiler = cProfile.Profile()
        profiler.enable()
        for token in tokens.profile:
            await validator.validate(token)
        profiler.disable()
    return results, profiler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON results; return the exit code."""
    args = _parse_args(argv)
    rounds: int = args.rounds
    ops: int = args.ops
    started = time.perf_counter()

    issuer = LocalIssuer()
    tokens = _mint(issuer, rounds=rounds, ops=ops, profile=args.profile)

    env = environment(
        ["aad-guard", "PyJWT", "cryptography", "anyio", "httpx"],
        extra={"OpenSSL": openssl_backend.openssl_version_text().split()[1]},
    )
    print("aad_guard validate() benchmark")
    print(f"python    {env.python} {env.python_build}")
    print(f"platform  {env.platform}, {env.cpu_count} CPUs, {env.cpu_model}")
    print("versions  " + ", ".join(f"{name} {version}" for name, version in env.versions.items()))
    print(
        f"method    {rounds} rounds x {ops} ops per case, cases interleaved; perf_counter_ns;\n"
        "          gc collected before and disabled during each round; "
        "one asyncio loop (anyio.run)"
    )
    print(f"token     {len(tokens.spare)} characters, RS256, v2 access token from LocalIssuer")
    print()

    results, profiler = anyio.run(
        partial(_measure, issuer, tokens, rounds=rounds), backend="asyncio"
    )
    baseline = next(result for result in results if result.name == FLOOR)
    print(render_table(results, baseline=baseline))
    print()
    for result in results:
        print(f"  {result.name}: {result.description}")
    print()
    for result in results:
        if result is not baseline:
            ratio = result.median_us / baseline.median_us
            print(f"{result.name} / {FLOOR} = {ratio:.2f}")
    if profiler is not None:
        # cProfile's per-call overhead inflates small functions: read it for shape, not time.
        print(f"\ncProfile of validate() over {len(tokens.profile)} fresh tokens, by own time:")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats(pstats.SortKey.TIME).print_stats(PROFILE_TOP)

    document: dict[str, object] = {
        "benchmark": "validate",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": env.as_json(),
        "settings": {
            "rounds": rounds,
            "ops_per_round": ops,
            "quick": args.quick,
            "timer": "time.perf_counter_ns",
            "gc": "collected before, disabled during each round",
            "event_loop": "asyncio via anyio.run",
            "token_characters": len(tokens.spare),
        },
        "unit": "microseconds per operation",
        "cases": [result.as_json(baseline) for result in results],
    }
    write_json(args.json, document)
    elapsed = time.perf_counter() - started
    _progress(f"wrote {args.json} ({elapsed:.1f} s in all)")
    return 0
