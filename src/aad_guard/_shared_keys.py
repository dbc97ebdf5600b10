"""Metadata and keys shared by a fleet through Redis: a second level under the key store.

Replicas that share a `SharedKeyCache` fetch each document about once per refresh interval
between them: the first to find the shared entry missing or old takes a short lease
(`SET NX PX`), fetches and writes; the others wait a bounded time for the write and read it.
Redis is trusted to store, never to decide: an entry holds the documents as fetched, and the
key store checks them exactly as it checks a fetch (origin, issuer, key rules), so Redis can
supply only what the identity provider could have. An entry is used only while younger than
the store's earliest refresh (90% of the interval, by Redis's own clock), so it never
outlives `max_stale`.

Redis failing never fails a request: every command is bounded by `timeout`, and the first
error or timeout in a fetch sends that fetch to the identity provider directly, as if there
were no shared cache. The next fetch tries Redis again. redis-py's asyncio client runs on
asyncio only; under trio the cache is bypassed with an error in the log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final, TypeVar

import anyio

from ._documents import Documents
from ._fetch import FetchError
from ._jose import loads_object

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["SharedDocuments", "SharedKeyCache"]

logger = logging.getLogger("aad_guard")

_T = TypeVar("_T")

_FORMAT: Final = 1
_POLL: Final = 0.05
_RELEASE: Final = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
# Redis's clock is one clock for the fleet; a timestamp this far ahead of it was not written
# by a replica that read it (a planted entry, or a failover to a node whose clock is off).
_FUTURE_TOLERANCE: Final = 1.0
_ENVELOPE_BYTES: Final = 4096
_MAX_PREFIX: Final = 200


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive, finite number of seconds, not {value!r}")
    return float(value)


class SharedKeyCache:
    """Redis as a second-level cache of metadata and signing keys, shared by a fleet.

    Args:
        redis: A `redis.asyncio.Redis` client you configure and close: its ACL user,
            password and TLS are how this cache reaches Redis (docs/security.md).
        prefix: Starts every key this cache writes; give each API its own, and limit the
            ACL user to it. Default `"aad_guard:"`.
        timeout: Seconds one Redis command may take before the fetch goes on without
            Redis. Default 0.5.
        lease: Seconds the replica that fetches holds the lease, and the longest the
            others wait for its write before fetching themselves. Default 10.

    Raises:
        TypeError: `redis` is not a `redis.asyncio.Redis`, or a setting has the wrong type.
        ValueError: an empty or over-long prefix, or a duration that is not positive.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "aad_guard:",
        timeout: float = 0.5,
        lease: float = 10.0,
    ) -> None:
        try:
            from redis.asyncio import Redis as AsyncRedis  # noqa: PLC0415 (an optional extra)
        except ImportError:  # pragma: no cover - without redis-py there is no client to pass
            raise TypeError(
                "SharedKeyCache needs redis-py: pip install 'aad-guard[redis]'"
            ) from None
        if not isinstance(redis, AsyncRedis):
            raise TypeError(
                f"redis must be a redis.asyncio.Redis client, not {type(redis).__name__}"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, not {type(prefix).__name__}")
        if not prefix or len(prefix) > _MAX_PREFIX or not prefix.isprintable():
            raise ValueError(
                f"prefix must be 1 to {_MAX_PREFIX} printable characters, not {prefix!r}"
            )
        self.redis = redis
        self.prefix = prefix
        self.timeout = _seconds("timeout", timeout)
        self.lease = _seconds("lease", lease)

    def documents(
        self, urls: Sequence[str], *, fresh_for: float, max_document_bytes: int
    ) -> SharedDocuments:
        """The shared entry of one key store, named by the URLs it fetches."""
        digest = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:32]
        return SharedDocuments(
            self,
            key=f"{self.prefix}keys:{digest}",
            lease_key=f"{self.prefix}keys-lease:{digest}",
            fresh_for=fresh_for,
            max_bytes=3 * max_document_bytes + _ENVELOPE_BYTES,
        )


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _UnavailableError(Exception):
    """Redis failed or timed out; the rest of this fetch goes without it."""


class _Entry:
    __slots__ = ("age", "documents", "fetched_at")

    def __init__(self, documents: Documents, fetched_at: float, age: float) -> None:
        self.documents = documents
        self.fetched_at = fetched_at
        self.age = age


def _entry(value: bytes | str, now: float) -> _Entry:
    """Parse a stored entry; raise `ValueError` if it is not one this module wrote."""
    # A client made with `decode_responses=True` answers `str`.
    stored = loads_object(value.encode() if isinstance(value, str) else value)
    fetched_at, documents = stored.get("fetched_at"), stored.get("documents")
    if stored.get("format") != _FORMAT:
        raise ValueError("an unknown format")
    if isinstance(fetched_at, bool) or not isinstance(fetched_at, int | float):
        raise ValueError("no fetch time")
    if not isinstance(documents, dict) or not all(
        isinstance(url, str) and isinstance(document, dict) for url, document in documents.items()
    ):
        raise ValueError("no documents")
    age = now - fetched_at
    if age < -_FUTURE_TOLERANCE:
        raise ValueError("a fetch time in the future")
    return _Entry(documents, float(fetched_at), max(age, 0.0))


class SharedDocuments:
    """One key store's entry in Redis, and the lease that lets one replica refresh it."""

    def __init__(
        self,
        cache: SharedKeyCache,
        *,
        key: str,
        lease_key: str,
        fresh_for: float,
        max_bytes: int,
    ) -> None:
        self._redis = cache.redis
        self._timeout = cache.timeout
        self._lease = cache.lease
        self.key = key
        self.lease_key = lease_key
        self._fresh_for = fresh_for
        self._max_bytes = max_bytes
        # When the documents this store last took from Redis, or wrote there, were fetched.
        self._seen: float | None = None
        # The fetch time of the last entry refused, so a wait does not refuse it again.
        self._refused: float | None = None

    @property
    def budget(self) -> float:
        """The most time `load` adds to a fetch: the lease wait and its bounded commands."""
        return self._lease + 6 * self._timeout + _POLL

    async def load(
        self,
        fetch: Callable[[], Awaitable[Documents]],
        accept: Callable[[Documents, float], _T],
        *,
        newer_only: bool = False,
    ) -> _T:
        """The shared documents if usable, else a fetch (written back for the others).

        `accept(documents, age)` checks documents, from Redis or the fetch, and returns what
        the store keeps; it raises `FetchError` to refuse them. An entry is used only when
        younger than the refresh interval, and with `newer_only` only if another replica
        fetched it since this store last did.

        Raises:
            FetchError: the fetch failed, or its documents were refused.
        """
        if not _on_asyncio():
            logger.error(
                "aad_guard's shared key cache needs asyncio (redis-py's asyncio client); "
                "under trio keys are fetched from the identity provider by each process",
                extra={"aad_guard_reason": "shared_cache_needs_asyncio"},
            )
            return accept(await fetch(), 0.0)
        after = self._seen if newer_only else None
        lease: str | None = None
        try:
            entry, now = await self._read()
            accepted = self._usable(entry, after, accept)
            if accepted is not None:
                return accepted
            lease = await self._take_lease()
            deadline = anyio.current_time() + self._lease
            while lease is None and anyio.current_time() < deadline:
                await anyio.sleep(_POLL)
                entry, now = await self._read()
                accepted = self._usable(entry, after, accept)
                if accepted is not None:
                    return accepted
                lease = await self._take_lease()
        except _UnavailableError as error:
            self._log_unavailable(error)
            return accept(await fetch(), 0.0)
        try:
            documents = await fetch()
            accepted = accept(documents, 0.0)
        except FetchError:
            await self._finish(None, now, lease)  # free the lease: another replica may try
            raise
        await self._finish(documents, now, lease)
        return accepted

    def _usable(
        self, entry: _Entry | None, after: float | None, accept: Callable[[Documents, float], _T]
    ) -> _T | None:
        if entry is None or entry.age >= self._fresh_for:
            return None
        if entry.fetched_at == self._refused or (after is not None and entry.fetched_at <= after):
            return None
        try:
            accepted = accept(entry.documents, entry.age)
        except FetchError as error:
            self._refused = entry.fetched_at
            logger.warning(
                "aad_guard refused the shared key cache's entry %s (%s); fetching instead",
                self.key,
                error,
                extra={"aad_guard_reason": "shared_cache_entry_refused"},
            )
            return None
        self._seen = entry.fetched_at
        return accepted

    async def _read(self) -> tuple[_Entry | None, float]:
        """The stored entry (`None` if absent or malformed) and Redis's clock."""
        async with (
            _bounded("GET", self._timeout),
            self._redis.pipeline(transaction=False) as pipe,
        ):
            pipe.get(self.key)
            pipe.time()
            value, (seconds, microseconds) = await pipe.execute()
        now = seconds + microseconds / 1e6
        if value is None:
            return None, now
        if len(value) > self._max_bytes:
            self._log_malformed("larger than the documents can be")
            return None, now
        try:
            return _entry(value, now), now
        except (ValueError, UnicodeDecodeError) as error:
            self._log_malformed(str(error))
            return None, now

    async def _take_lease(self) -> str | None:
        """The lease's token if this replica now holds it, else `None`."""
        token = secrets.token_hex(8)
        async with _bounded("SET NX", self._timeout):
            won = await self._redis.set(
                self.lease_key, token, nx=True, px=math.ceil(self._lease * 1000)
            )
        return token if won else None

    async def _finish(
        self, documents: Documents | None, fetched_at: float, lease: str | None
    ) -> None:
        """Write what was fetched (if anything) and give the lease back; never raises."""
        if documents is not None:
            try:
                await self._write(documents, fetched_at)
                self._seen = fetched_at
            except _UnavailableError as error:
                self._log_unavailable(error)
        if lease is not None:
            try:
                await self._release(lease)
            except _UnavailableError as error:
                self._log_unavailable(error)

    async def _release(self, lease: str) -> None:
        # Compare and delete in one step: a lease that expired and was taken by another
        # replica is theirs to keep.
        async with _bounded("EVAL", self._timeout):
            await self._redis.eval(_RELEASE, 1, self.lease_key, lease)

    async def _write(self, documents: Documents, fetched_at: float) -> None:
        value = json.dumps(
            {"format": _FORMAT, "fetched_at": fetched_at, "documents": documents},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        async with _bounded("SET", self._timeout):
            await self._redis.set(self.key, value, px=math.ceil(self._fresh_for * 1000))

    def _log_malformed(self, why: str) -> None:
        logger.warning(
            "aad_guard ignored the shared key cache's entry %s: %s",
            self.key,
            why,
            extra={"aad_guard_reason": "shared_cache_entry_refused"},
        )

    def _log_unavailable(self, error: _UnavailableError) -> None:
        logger.warning(
            "aad_guard could not use the shared key cache (%s); this fetch goes to the "
            "identity provider",
            error,
            extra={"aad_guard_reason": "shared_cache_unavailable"},
        )


@asynccontextmanager
async def _bounded(command: str, seconds: float) -> AsyncIterator[None]:
    """One Redis exchange within `seconds`; any failure of it is `_UnavailableError`."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError as exc:
        raise _UnavailableError(f"{command} took longer than {seconds} s") from exc
    # redis-py's errors, a closed socket, a reply of the wrong shape: Redis is not usable.
    except Exception as exc:
        raise _UnavailableError(f"{command} failed: {type(exc).__name__}") from exc
