"""The verified-token cache: a repeated token skips decoding and the signature check.

Clients reuse one access token for up to an hour, so most requests carry a token this
process has already verified. The cache maps the exact token string to what validating it
proved. Everything that can change after that moment is checked again on every hit by the
validator (lifetime against the clock, the key store's age, the tenant policy) or here (the
key set); everything that cannot change (the bytes, hence the signature, claims and header)
is not.

Safety rules (docs/performance.md argues them):
- The key is the whole token string, compared in full by the dict: no digest, no prefix,
  so two different tokens can never share an entry. Python's string hash is keyed per
  process (SipHash), so crafted tokens cannot degrade the dict into a list.
- Only tokens that passed every check are stored; refusals are never cached.
- Bounded by entry count and by the bytes the entries really hold (`entry_bytes`); the
  least recently used entry goes first.
- An entry serves only while the key that verified it has stayed in the key set, unchanged,
  and the issuer templates have stayed unchanged, since it was verified. A new key set is
  taken in a few steps per key (`reconcile`), never a pass over the entries: each entry is
  judged against the key set's history when it is next read, and an entry verified under an
  older key set is never stored.
- No method awaits: under asyncio or trio each call runs without interruption.
"""

import sys
from collections import OrderedDict

from ._candidate import Evidence
from ._keys import KeySnapshot, SigningKey
from ._principal import Principal, VerifiedToken

__all__ = ["SLOT_BYTES", "CachedToken", "TokenCache", "entry_bytes"]

# What the OrderedDict spends per entry besides the key and value objects: its hash table
# slot, its index and its ordering node (CPython 3.11-3.13, measured with tracemalloc over
# 100,000 entries; tests/test_token_cache.py checks the total against tracemalloc).
SLOT_BYTES = 100


class CachedToken:
    """What validating a token proved, and what must be checked again on each use.

    `generation` is the cache's key-set generation the token was verified under;
    `evidence` is what a refusal on a later hit names: its tenant and key.
    """

    __slots__ = ("cost", "evidence", "generation", "issuer", "key", "nbf", "principal")

    def __init__(
        self,
        principal: Principal,
        key: SigningKey,
        nbf: float | None,
        issuer: str,
        generation: int,
    ) -> None:
        self.principal = principal
        self.key = key
        self.nbf = nbf
        self.issuer = issuer
        self.generation = generation
        self.evidence = Evidence(tenant_id=principal.tenant_id, kid=key.kid)
        self.cost = 0

    @property
    def exp(self) -> float:
        """The token's `exp`, in UNIX seconds."""
        return self.principal.expires_at

    @property
    def tenant_id(self) -> str:
        """The token's `tid`."""
        return self.principal.tenant_id


def entry_bytes(token: str, entry: CachedToken) -> int:
    """The bytes `entry` for `token` holds: every object it alone keeps, measured.

    Objects shared by every entry (the key, `None`, the version string, the empty set) are
    not counted; a token's strings are, even when several tokens have equal ones. The
    validator's Principals keep their token (`VerifiedToken`), not decoded claims.
    """
    principal = entry.principal
    size = sys.getsizeof
    total = _FIXED_BYTES + size(token) + size(entry.issuer) + size(entry.evidence)
    total += _FLOAT_BYTES if entry.nbf is not None else 0
    for text in (
        principal.tenant_id,
        principal.object_id,
        principal.subject,
        principal.client_id,
        principal.name,
        principal.username,
    ):
        if text is not None:
            total += size(text)
    for names in (principal.scopes, principal.roles):
        if names:
            total += size(names) + sum(map(size, names))
    return total


# What every entry holds whatever its token: the entry, the Principal, its `exp` float
# and its `VerifiedToken`, and the cache's own slot. Instances of slotted classes all have
# the size of their type, so empty ones measure it.
_FLOAT_BYTES = sys.getsizeof(0.0)
_FIXED_BYTES = (
    SLOT_BYTES
    + sys.getsizeof(object.__new__(CachedToken))
    + sys.getsizeof(object.__new__(Principal))
    + _FLOAT_BYTES
    + sys.getsizeof(VerifiedToken(""))
)


class TokenCache:
    """Verified tokens by their exact string, bounded in entries and in bytes.

    Args:
        max_entries: The most tokens held.
        max_bytes: The most bytes the entries may hold (`entry_bytes`); a token whose entry
            is larger than this alone is never stored.
    """

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()
        self._snapshot: KeySnapshot | None = None
        # Bumped by every key set that differs from the one before.
        self._generation = 0
        # The generation since which each current key, by `kid`, has been listed unchanged,
        # and since which the issuer templates have been unchanged.
        self._key_since: dict[str, int] = {}
        self._issuers_since = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> CachedToken | None:
        """The entry for exactly `token`, if any and its key still holds; now the most recent.

        An entry whose key left or changed, or whose issuer templates changed, since it was
        verified is forgotten here, and `None` sends the token down the full path.
        """
        entries = self._entries
        entry = entries.get(token)
        if entry is None:
            return None
        if entry.generation != self._generation and not self._still_keyed(entry):
            self._drop(token)
            return None
        entries.move_to_end(token)
        return entry

    def _still_keyed(self, entry: CachedToken) -> bool:
        generation = entry.generation
        since = self._key_since.get(entry.key.kid)
        return since is not None and since <= generation and self._issuers_since <= generation

    def put(
        self,
        token: str,
        principal: Principal,
        *,
        key: SigningKey,
        snapshot: KeySnapshot,
        nbf: float | None,
        issuer: str,
    ) -> None:
        """Remember a token that passed every check with `key` from `snapshot`.

        Nothing is stored when `snapshot` is not the current key set: the key may have left
        it while the validation awaited something.
        """
        entries = self._entries
        if snapshot is not self._snapshot or token in entries:
            return
        entry = CachedToken(principal, key, nbf, issuer, self._generation)
        entry.cost = cost = entry_bytes(token, entry)
        if cost > self.max_bytes:
            return
        while entries and (len(entries) >= self.max_entries or self.bytes + cost > self.max_bytes):
            self.bytes -= entries.popitem(last=False)[1].cost
        entries[token] = entry
        self.bytes += cost

    def discard(self, token: str) -> None:
        """Forget `token`, which `get` just returned (it expired)."""
        self._drop(token)

    def reconcile(self, snapshot: KeySnapshot) -> None:
        """Follow a new key set: a few steps per key, whatever the number of entries."""
        previous, self._snapshot = self._snapshot, snapshot
        if previous is None:
            self._key_since = dict.fromkeys(snapshot.keys, self._generation)
            return
        issuers_changed = (previous.issuer_v2, previous.issuer_v1) != (
            snapshot.issuer_v2,
            snapshot.issuer_v1,
        )
        old_keys, new_keys = previous.keys, snapshot.keys
        unchanged = {kid for kid, key in new_keys.items() if old_keys.get(kid) == key}
        if not issuers_changed and len(unchanged) == len(new_keys) == len(old_keys):
            return  # the same keys again, as most hourly refreshes bring
        self._generation = generation = self._generation + 1
        if issuers_changed:
            self._issuers_since = generation
        key_since = self._key_since
        self._key_since = {
            kid: key_since[kid] if kid in unchanged else generation for kid in new_keys
        }

    def _drop(self, token: str) -> None:
        self.bytes -= self._entries.pop(token).cost
