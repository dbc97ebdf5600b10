"""The verified-token cache: a repeated token skips decoding and the signature check.

Clients reuse one access token for up to an hour, so most requests carry a token this
process has already verified. The cache maps the exact token string to what validating it
proved. Everything that can change after that moment is checked again on every hit by the
validator (lifetime against the clock, the key store's age, the tenant policy); everything
that cannot change (the bytes, hence the signature, claims and header) is not.

Safety rules (docs/performance.md argues them):
- The key is the whole token string, compared in full by the dict: no digest, no prefix,
  so two different tokens can never share an entry. Python's string hash is keyed per
  process (SipHash), so crafted tokens cannot degrade the dict into a list.
- Only tokens that passed every check are stored; refusals are never cached.
- Bounded by entry count and by an estimate of the bytes held; the oldest entry goes first.
- An entry lives only while the key that verified it is in the current key set, unchanged,
  and the issuer templates are unchanged: `reconcile` runs when the key store takes a new
  key set, and an entry verified under an older key set is never stored.
- No method awaits: under asyncio or trio each call runs without interruption.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._candidate import Evidence
from ._keys import KeySnapshot, SigningKey
from ._principal import Principal

__all__ = ["BYTES_PER_TOKEN_CHARACTER", "CachedToken", "TokenCache"]

# An entry holds the token (1 byte per character) and a Principal with its claims decoded
# into Python objects: about 4 bytes per token character in all (`make bench` measures it).
BYTES_PER_TOKEN_CHARACTER = 4


@dataclass(frozen=True, slots=True)
class CachedToken:
    """What validating a token proved, and what must be checked again on each use."""

    principal: Principal
    key: SigningKey
    exp: float
    nbf: float | None
    tenant_id: str
    issuer: str
    cost: int
    evidence: Evidence  # what a refusal on a later hit names: its tenant and key


class TokenCache:
    """Verified tokens by their exact string, bounded in entries and in bytes.

    Args:
        max_entries: The most tokens held.
        max_bytes: The most bytes held, estimated as `BYTES_PER_TOKEN_CHARACTER` per token
            character; a token larger than this alone is never stored.
    """

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: dict[str, CachedToken] = {}
        self._snapshot: KeySnapshot | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> CachedToken | None:
        """The entry for exactly `token`, if any."""
        return self._entries.get(token)

    def put(
        self,
        token: str,
        principal: Principal,
        *,
        key: SigningKey,
        snapshot: KeySnapshot,
        exp: float,
        nbf: float | None,
    ) -> None:
        """Remember a token that passed every check with `key` from `snapshot`.

        Nothing is stored when `snapshot` is not the current key set: the key may have left
        it while the validation awaited something.
        """
        if snapshot is not self._snapshot or token in self._entries:
            return
        cost = len(token) * BYTES_PER_TOKEN_CHARACTER
        if cost > self.max_bytes:
            return
        entries = self._entries
        # Insertion order is roughly expiry order (tokens live about an hour): evict the oldest.
        while entries and (len(entries) >= self.max_entries or self.bytes + cost > self.max_bytes):
            self._drop(next(iter(entries)))
        tenant_id = principal.tenant_id
        entries[token] = CachedToken(
            principal,
            key,
            exp,
            nbf,
            tenant_id,
            str(principal.claims["iss"]),
            cost,
            Evidence(tenant_id=tenant_id, kid=key.kid),
        )
        self.bytes += cost

    def discard(self, token: str) -> None:
        """Forget `token`, which `get` just returned (it expired)."""
        self._drop(token)

    def reconcile(self, snapshot: KeySnapshot) -> None:
        """Follow a new key set: keep only entries whose key it still holds, unchanged."""
        previous, self._snapshot = self._snapshot, snapshot
        if previous is None or previous is snapshot:
            return
        if (previous.issuer_v2, previous.issuer_v1) != (snapshot.issuer_v2, snapshot.issuer_v1):
            self._entries.clear()
            self.bytes = 0
            return
        keys = snapshot.keys
        for token in [
            t for t, entry in self._entries.items() if keys.get(entry.key.kid) != entry.key
        ]:
            self._drop(token)

    def _drop(self, token: str) -> None:
        self.bytes -= self._entries.pop(token).cost
