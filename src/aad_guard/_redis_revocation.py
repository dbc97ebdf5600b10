"""`RedisRevocationStore`: revocations every worker and replica of an API sees at once.

The application passes its own `redis.asyncio.Redis` client, which carries what securing
Redis takes (an ACL user that may only touch the prefix, TLS, a password); the store only
reads and writes keys under `prefix`. Each entry expires after the longest token lifetime,
when it can refuse no token any more. One `MGET` per request reads the user's, the token's
and the client app's entries together.

redis-py's asyncio client runs on asyncio only: on trio every method raises `RuntimeError`
(the validator treats that as a store it cannot read and logs why).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._revocation import DEFAULT_ENTRY_LIFETIME, Revocations, checked_lifetime

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisRevocationStore"]


def _time(value: bytes | str | None) -> float | None:
    """A stored time; anything else is a store that cannot be trusted to read."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"a revocation entry holds {value!r}, not a time") from None


class RedisRevocationStore:
    """A `RevocationStore` on Redis (`pip install 'aad-guard[redis]'`).

    Args:
        client: A `redis.asyncio.Redis` the application creates, secures and closes.
        prefix: Put before every key, so that one Redis (and an ACL rule) can hold several
            APIs' state apart. Default `"aad_guard:revoked:"`.
        entry_lifetime: Seconds after which Redis forgets an entry. Default 28 hours, the
            longest an Entra access token lives (CAE tokens).
        clock: UNIX seconds, for the revocation's default time. Default `time.time`.

    Raises:
        ValueError: `prefix` is empty or `entry_lifetime` is not a positive whole second.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "aad_guard:revoked:",
        entry_lifetime: float = DEFAULT_ENTRY_LIFETIME,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty string, e.g. 'myapi:revoked:'")
        self._client = client
        self._prefix = prefix
        self._lifetime = int(checked_lifetime(entry_lifetime))
        self._clock = clock or time.time

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def _put(self, key: str, since: float | None) -> float:
        _require_asyncio()
        revoked_at = float(int(self._clock() if since is None else since))
        await self._client.set(key, repr(revoked_at), ex=self._lifetime)
        return revoked_at

    async def revoke_user(
        self, tenant_id: str, object_id: str, *, since: float | None = None
    ) -> float:
        """Refuse the user's tokens issued up to `since` (default now); returns that second."""
        return await self._put(self._key("user", tenant_id, object_id), since)

    async def revoke_token(self, uti: str, *, at: float | None = None) -> float:
        """Refuse the token with this `uti` claim; returns the time recorded."""
        return await self._put(self._key("token", uti), at)

    async def revoke_client(
        self, tenant_id: str, client_id: str, *, since: float | None = None
    ) -> float:
        """Refuse the client app's app-only tokens in the tenant issued up to `since`."""
        return await self._put(self._key("client", tenant_id, client_id), since)

    async def lookup(
        self, tenant_id: str, object_id: str | None, uti: str | None, client_id: str | None
    ) -> Revocations:
        """The revocations that concern a token with these claims (`None`: not in it)."""
        _require_asyncio()
        keys = [
            self._key("user", tenant_id, object_id or ""),
            self._key("token", uti or ""),
            self._key("client", tenant_id, client_id or ""),
        ]
        user, token, client = await self._client.mget(keys)
        return Revocations(
            user=_time(user) if object_id else None,
            token=_time(token) if uti else None,
            client=_time(client) if client_id else None,
        )


def _require_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "RedisRevocationStore runs on asyncio only (redis-py's asyncio client), not on "
            "trio: use InMemoryRevocationStore there, or serve the app on asyncio"
        ) from None
