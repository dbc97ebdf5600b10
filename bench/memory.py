"""Memory: what one cached tenant's keys and one cached token cost, with tracemalloc.

tracemalloc sees the memory Python allocates; OpenSSL's own structures behind each RSA
public key are outside it, so the per-tenant figure is a lower bound.

- Per cached tenant: validators for `TENANTS` distinct single tenants, each after
  `refresh()` (metadata and a JWKS of `LocalIssuer`'s keys), divided by their number.
- Per cached token: `TOKENS` distinct tokens validated once, each passed as a new string as
  a request would pass it, with the cache on; what stays allocated, divided by their number.
- The garbage collector: how many more objects it tracks per cached token (claim dicts,
  lists), since a full collection traverses every one of them.
"""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuer

__all__ = ["Memory", "measure"]

TENANTS = 50
TOKENS = 2000


@dataclass(frozen=True, slots=True)
class Memory:
    """Bytes retained per cached tenant and per cached token."""

    per_tenant_bytes: float
    keys_per_tenant: int
    per_token_bytes: float
    token_characters: int
    charged_per_token: int
    gc_objects_per_token: float

    def as_json(self) -> dict[str, object]:
        """The result as a JSON object."""
        return {
            "per_tenant_bytes": round(self.per_tenant_bytes),
            "keys_per_tenant": self.keys_per_tenant,
            "per_token_bytes": round(self.per_token_bytes),
            "token_characters": self.token_characters,
            "charged_per_token_by_max_token_cache_bytes": self.charged_per_token,
            "gc_tracked_objects_per_token": round(self.gc_objects_per_token, 1),
        }


async def _retained(work: Callable[[], Coroutine[Any, Any, object]]) -> tuple[int, object]:
    """Bytes still allocated after `work` ran, and what it returned (kept alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = await work()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, kept


async def measure() -> Memory:
    """Measure both figures."""
    issuer = LocalIssuer()
    tokens = [issuer.token(claims={"uti": f"memory{n:016d}"}) for n in range(TOKENS)]
    async with issuer.client() as client:
        # A warm-up validator: imports, compiled patterns and the client's pools come first.
        async with TokenValidator(client_id=issuer.client_id, http_client=client) as warm:
            await warm.validate(issuer.token())

        tenant_ids = [str(uuid.UUID(int=n + 1, version=4)) for n in range(TENANTS)]

        async def tenants() -> list[TokenValidator]:
            validators = [
                TokenValidator(client_id=issuer.client_id, tenant=tid, http_client=client)
                for tid in tenant_ids
            ]
            for validator in validators:
                await validator.refresh()
            return validators

        tenant_bytes, _ = await _retained(tenants)

        async with TokenValidator(client_id=issuer.client_id, http_client=client) as validator:
            await validator.refresh()

            async def validate_all() -> None:
                # Slicing a longer string gives a new str, as a request's header decoding
                # does; nothing but the cache keeps the tokens and their principals.
                for token in tokens:
                    await validator.validate((token + " ")[:-1])

            gc.collect()
            tracked = len(gc.get_objects())
            token_bytes, _ = await _retained(validate_all)
            tracked_objects = len(gc.get_objects()) - tracked
            cache = validator._cache
            charged = cache.bytes // len(cache) if cache is not None and len(cache) else 0
    return Memory(
        per_tenant_bytes=tenant_bytes / TENANTS,
        keys_per_tenant=len(issuer.keys.listed),
        per_token_bytes=token_bytes / TOKENS,
        token_characters=len(tokens[0]),
        charged_per_token=charged,
        gc_objects_per_token=tracked_objects / TOKENS,
    )
