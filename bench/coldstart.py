"""Cold start: N concurrent first requests to a protected API whose keys are not fetched yet.

Each level gets a new validator and a new app, in-process, against a `LocalIssuer` that
answers after `LATENCY` seconds, as a real identity provider across a network does. The
requests use distinct tokens, as N different clients would. Reported: the wall time until
all N answered, and how many metadata and JWKS requests reached the issuer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer

from ._app import call, protected_app

__all__ = ["LATENCY", "ColdStart", "measure"]

LATENCY = 0.05


@dataclass(frozen=True, slots=True)
class ColdStart:
    """One cold start of `concurrency` requests."""

    concurrency: int
    accept_v1_tokens: bool
    wall_ms: float
    metadata_fetches: int
    jwks_fetches: int
    ok: int

    def as_json(self) -> dict[str, object]:
        """The result as a JSON object."""
        return {
            "concurrency": self.concurrency,
            "accept_v1_tokens": self.accept_v1_tokens,
            "wall_ms": round(self.wall_ms, 1),
            "metadata_fetches": self.metadata_fetches,
            "jwks_fetches": self.jwks_fetches,
            "ok": self.ok,
        }


async def _cold_start(
    issuer: LocalIssuer, tokens: Sequence[str], *, accept_v1_tokens: bool
) -> ColdStart:
    before_metadata, before_jwks = issuer.count("metadata"), issuer.count("jwks")
    async with (
        issuer.client() as client,
        TokenValidator(
            client_id=issuer.client_id, http_client=client, accept_v1_tokens=accept_v1_tokens
        ) as validator,
    ):
        app = protected_app(validator)
        statuses: list[int] = []

        async def first_request(token: str) -> None:
            statuses.append(await call(app, b"Bearer " + token.encode("ascii")))

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for token in tokens:
                group.start_soon(first_request, token)
        wall = time.perf_counter() - started
    return ColdStart(
        len(tokens),
        accept_v1_tokens,
        wall * 1000,
        issuer.count("metadata") - before_metadata,
        issuer.count("jwks") - before_jwks,
        statuses.count(200),
    )


async def measure(levels: Sequence[int]) -> list[ColdStart]:
    """A cold start at each concurrency in `levels`, with and without v1 metadata."""
    issuer = LocalIssuer()
    tokens = [issuer.token(claims={"uti": f"cold{n:018d}"}) for n in range(max(levels))]
    issuer.simulate("slow", delay=LATENCY)
    return [
        await _cold_start(issuer, tokens[:level], accept_v1_tokens=accept_v1)
        for accept_v1 in (False, True)
        for level in levels
    ]
