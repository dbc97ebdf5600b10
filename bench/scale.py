"""Scale: many tenants each reusing a token, and many cached tokens.

- Tenants (`tenants`): the documented API (`bench._app.documented_app`) with a default
  validator (`tenant="organizations"`, default cache bounds), called in-process by N
  tenants that each reuse one real-size token (about 3 KB: a user in 36 groups). Every
  token is validated once before timing; a round sends every tenant's token in turn, at
  least `MIN_OPS` requests. The baseline is the one-tenant case.
- Cached tokens (`cached`): a validator whose cache holds N real-size tokens. The first is
  validated for real; the others differ from it in `uti` only and are stored through the
  cache's own `put`, with the Principal `validate()` would build for them, since signing
  100,000 tokens takes minutes (the cache never checks a signature again: what it holds is
  what `validate()` stores). Then: the cost of a hit (`validate()` over every token in
  turn), the memory each entry holds (tracemalloc over the filling, minus the token string
  itself), the objects the garbage collector tracks per entry, the longest event-loop step
  while the validator takes a new key set (the old key retired) and an unchanged one,
  measured by a loop-lag probe (a task that yields and records the longest gap), and the
  time of a full garbage collection.
"""

from __future__ import annotations

import base64
import gc
import json
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from aad_guard import Principal, TokenValidator
from aad_guard.testing import LocalIssuer, LocalIssuerServer

from ._app import call
from ._harness import Case, CaseResult, async_timer, run_rounds

__all__ = ["CachedResult", "cached", "real_size_token", "tenants"]

MIN_OPS = 2000
HIT_OPS = 20_000
TENANTS_CASE = "{} tenants, one token each"


def real_size_token(issuer: LocalIssuer, n: int, *, tenant_id: str | None = None) -> str:
    """A token of Entra's common size for a user in a few dozen groups: about 3 KB."""
    groups = [str(uuid.UUID(int=n * 1000 + g, version=4)) for g in range(36)]
    return issuer.token(
        tenant_id=tenant_id,
        claims={"uti": f"real{n:018d}", "groups": groups, "name": "Ada Lovelace", "wids": []},
    )


async def tenants(
    issuer: LocalIssuer,
    levels: Sequence[int],
    *,
    rounds: int,
    app_for: Callable[[TokenValidator], Callable[..., Awaitable[None]]],
    on_progress: Callable[[str], None],
) -> list[CaseResult]:
    """The per-request cost with N tenants each reusing a token, for each N of `levels`."""
    cases: list[Case] = []
    validators: list[TokenValidator] = []
    async with issuer.client() as client:
        for level in levels:
            on_progress(f"  minting {level} tenants' tokens")
            tokens = [
                real_size_token(issuer, n, tenant_id=str(uuid.UUID(int=n + 1, version=4)))
                for n in range(level)
            ]
            validator = TokenValidator(client_id=issuer.client_id, http_client=client)
            validators.append(validator)
            await validator.refresh()
            app = app_for(validator)

            async def operation(token: str, app: Callable[..., Awaitable[None]] = app) -> None:
                status = await call(app, b"Bearer " + token.encode("ascii"))
                if status != 200:
                    raise RuntimeError(f"the benchmark app answered {status}")

            batch = tokens * max(1, MIN_OPS // level)
            cases.append(
                Case(
                    TENANTS_CASE.format(level),
                    f"{level} real-size tokens of distinct tenants in turn, default settings",
                    async_timer(operation),
                    _every_round(batch),
                    tokens,
                    None if level == levels[0] else TENANTS_CASE.format(levels[0]),
                )
            )
        try:
            return await run_rounds(cases, rounds=rounds)
        finally:
            for validator in validators:
                await validator.aclose()


def _every_round(batch: Sequence[str]) -> Callable[[int], Sequence[str]]:
    return lambda _round: batch


@dataclass(frozen=True, slots=True)
class CachedResult:
    """What N cached tokens cost."""

    entries: int
    token_characters: int
    hit_us: float
    bytes_per_entry: float
    bytes_beyond_token: float
    charged_per_entry: float
    gc_objects_per_entry: float
    stall_new_keys_ms: float
    stall_same_keys_ms: float
    stall_new_keys_wall_ms: float
    full_gc_ms: float

    def as_json(self) -> dict[str, object]:
        """The result as a JSON object."""
        return {
            "entries": self.entries,
            "token_characters": self.token_characters,
            "hit_us": round(self.hit_us, 3),
            "bytes_per_entry": round(self.bytes_per_entry),
            "bytes_beyond_token_string": round(self.bytes_beyond_token),
            "charged_by_max_token_cache_bytes": round(self.charged_per_entry),
            "gc_tracked_objects_per_entry": round(self.gc_objects_per_entry, 2),
            "longest_loop_stall_new_key_set_cpu_ms": round(self.stall_new_keys_ms, 3),
            "longest_loop_stall_same_key_set_cpu_ms": round(self.stall_same_keys_ms, 3),
            "longest_loop_stall_new_key_set_wall_ms": round(self.stall_new_keys_wall_ms, 3),
            "full_gc_ms": round(self.full_gc_ms, 2),
        }


def _variants(template: str, count: int) -> list[str]:
    """`count` tokens that differ from `template` in their `uti` only (same length)."""
    header, payload, signature = template.split(".")
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    original = json.loads(text)["uti"]
    tokens = []
    for n in range(count):
        claims = text.replace(original, f"real{n + 1:018d}")
        segment = base64.urlsafe_b64encode(claims.encode()).rstrip(b"=").decode()
        tokens.append(f"{header}.{segment}.{signature}")
    return tokens


def _fill(validator: TokenValidator, template: str, tokens: Sequence[str]) -> None:
    """Store `tokens` as `validate()` would have, beside `template`'s real entry."""
    cache = validator._cache
    entry = cache.get(template) if cache is not None else None
    snapshot = cache._snapshot if cache is not None else None
    if cache is None or entry is None or snapshot is None:
        raise RuntimeError("the template token is not cached")
    version = entry.principal.token_version
    for token in tokens:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        principal = Principal.from_claims(claims, token_version=version, token=token)
        cache.put(
            token, principal, key=entry.key, snapshot=snapshot, nbf=entry.nbf, issuer=claims["iss"]
        )


async def _longest_stall(work: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """The longest the event loop went without running a probe task while `work` ran.

    In seconds, twice: the processor time this thread spent in that gap (the loop's own
    work, what a step of the code costs) and the wall time (which adds whatever else the
    machine ran meanwhile).
    """
    longest_cpu = longest_wall = 0.0
    done = False

    async def probe() -> None:
        nonlocal longest_cpu, longest_wall
        last_cpu, last_wall = time.thread_time(), time.perf_counter()
        while not done:
            await anyio.lowlevel.checkpoint()
            cpu, wall = time.thread_time(), time.perf_counter()
            longest_cpu = max(longest_cpu, cpu - last_cpu)
            longest_wall = max(longest_wall, wall - last_wall)
            last_cpu, last_wall = cpu, wall

    async with anyio.create_task_group() as group:
        group.start_soon(probe)
        await anyio.lowlevel.checkpoint()
        await work()
        done = True
    return longest_cpu, longest_wall


async def cached(
    levels: Sequence[int], *, on_progress: Callable[[str], None]
) -> list[CachedResult]:
    """Hit cost, memory, GC objects and refresh stalls with N cached tokens, for each N."""
    results = []
    for level in levels:
        on_progress(f"  {level} cached tokens")
        # Served from its own thread: the issuer's work is not the event loop's.
        with LocalIssuerServer() as server:
            results.append(await _cached(server, level))
    return results


async def _cached(server: LocalIssuerServer, level: int) -> CachedResult:
    issuer = server.issuer
    template = real_size_token(issuer, 0)
    tokens = _variants(template, level - 1)
    async with TokenValidator(
        client_id=issuer.client_id,
        authority=server.url,
        max_cached_tokens=level,
        max_token_cache_bytes=1 << 40,
    ) as validator:
        await validator.validate(template)
        cache = validator._cache
        if cache is None:
            raise RuntimeError("the validator has no cache")
        gc.collect()
        gc.disable()
        try:
            tracked = len(gc.get_objects())
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            _fill(validator, template, tokens)
            retained = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            gc_objects = len(gc.get_objects()) - tracked
            charged = cache.bytes / len(cache)
            everything = [template, *tokens]
            batch = (everything * (HIT_OPS // level + 1))[: max(HIT_OPS, level)]
            elapsed = await async_timer(validator.validate)(batch)
            same = await _longest_stall(validator.refresh)
            old = issuer.keys.signing
            issuer.keys.rotate()
            issuer.keys.retire(old.kid)
            new = await _longest_stall(validator.refresh)
        finally:
            gc.enable()
        started = time.perf_counter()
        gc.collect()
        full_gc = time.perf_counter() - started
        # The token strings were made before tracing: what was traced is the rest.
        beyond = retained / max(1, len(tokens))
        return CachedResult(
            entries=level,
            token_characters=len(template),
            hit_us=elapsed / len(batch) / 1000,
            bytes_per_entry=beyond + sys.getsizeof(template),
            bytes_beyond_token=beyond,
            charged_per_entry=charged,
            gc_objects_per_entry=gc_objects / max(1, len(tokens)),
            stall_new_keys_ms=new[0] * 1000,
            stall_same_keys_ms=same[0] * 1000,
            stall_new_keys_wall_ms=new[1] * 1000,
            full_gc_ms=full_gc * 1000,
        )
