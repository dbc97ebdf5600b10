"""The key store: OpenID metadata and JWKS, cached with single flight, refresh and cooldown.

One store serves one configuration (authority + tenant). Its rules (docs/design.md, rules 8-14;
the JWKS's keys, rule 15, are `_jwks`'s):
every fetch runs once for all callers and outside any request; the last good key set keeps
serving through failures for up to `max_stale`; a failed fetch never replaces good data;
retries back off; an unknown `kid` refetches at most once per `kid_miss_cooldown`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import anyio
import httpx

from ._background import spawn
from ._documents import DocumentRules, Documents
from ._fetch import AsyncHTTPClient, FetchError, Origin, fetch_json
from ._jwks import RSA_ALGORITHMS, KeySnapshot, SigningKey, parse_jwks
from ._key_status import KeyStatus
from ._shared_keys import SharedKeyCache
from ._telemetry import FetchReason, KeySource, Telemetry
from ._tenant import Tenant
from .errors import KeysUnavailableError

__all__ = ["RSA_ALGORITHMS", "KeySnapshot", "KeyStatus", "KeyStore", "SigningKey", "parse_jwks"]

logger = logging.getLogger("aad_guard")

_FIRST_RETRY = 1.0
_MAX_RETRY = 300.0
_MIN_JITTER = 0.9


class _Flight:
    """One fetch under way; everyone who needs it waits on `done`.

    `task` holds the fetch's asyncio task while it runs (asyncio references tasks weakly).
    """

    __slots__ = ("done", "task")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.task: asyncio.Task[None] | None = None


class KeyStore:
    """Metadata and signing keys of one authority and tenant, cached and refreshed.

    Args:
        authority: The cloud's sign-in origin, e.g. `https://login.microsoftonline.com`.
        tenant: The normalized tenant: GUID, domain or keyword.
        metadata_url: The OpenID metadata document (v2.0, or the one the caller named).
        metadata_url_v1: The v1 metadata, for the v1 issuer template; `None`: none.
        any_issuer_form: The caller named the document (`metadata_url`): its issuer may
            have any form that names a tenant (B2C, custom domains), not only Entra's.
        custom_keys_app_id: Fetch keys with `?appid=` for apps with custom signing keys.
        http_client: A client the caller owns; `None` creates (and closes) one.
        clock: Seconds, monotonic unless a test injects its own clock.
        on_new_snapshot: Called, without awaiting, each time a fetch yields a new key set.
        shared: Redis as a second level shared by a fleet (`_shared_keys`); `None`: none.
        telemetry: Where fetches, key age and stale serving are recorded.
    """

    def __init__(
        self,
        *,
        authority: Origin,
        tenant: Tenant,
        metadata_url: str,
        metadata_url_v1: str | None,
        any_issuer_form: bool,
        custom_keys_app_id: str | None,
        http_client: AsyncHTTPClient | None,
        refresh_interval: float,
        kid_miss_cooldown: float,
        max_stale: float,
        fetch_timeout: float,
        max_document_bytes: int,
        clock: Callable[[], float],
        on_new_snapshot: Callable[[KeySnapshot], None] | None = None,
        shared: SharedKeyCache | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._origin = authority
        self.metadata_url = metadata_url
        self.metadata_url_v1 = metadata_url_v1
        self._rules = DocumentRules(
            authority,
            tenant,
            metadata_url,
            metadata_url_v1,
            custom_keys_app_id,
            issuer_as_named=any_issuer_form,
        )
        self._client = http_client
        self._owns_client = http_client is None
        self._refresh_interval = refresh_interval
        self._kid_miss_cooldown = kid_miss_cooldown
        self._max_stale = max_stale
        self._fetch_timeout = fetch_timeout
        self._max_document_bytes = max_document_bytes
        self._clock = clock
        self._on_new_snapshot = on_new_snapshot
        self._snapshot: KeySnapshot | None = None
        self._flight: _Flight | None = None
        self._last_fetch_end: float | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._refresh_at = 0.0
        # Shared entries count as fresh until the earliest jittered refresh: a replica that
        # reads one never refreshes again before the fleet's next fetch is due.
        self._shared = (
            shared.documents(
                [self.metadata_url, self.metadata_url_v1 or "", custom_keys_app_id or ""],
                fresh_for=refresh_interval * _MIN_JITTER,
                max_document_bytes=max_document_bytes,
            )
            if shared is not None
            else None
        )
        self._last_error: str | None = None
        self._telemetry = telemetry or Telemetry(enabled=False)
        self._attributes = {"server.address": authority.host, "aad_guard.tenant": str(tenant)}
        self._key_source = KeySource(self._key_age, self._attributes)
        self._telemetry.watch_keys(self._key_source)

    def _key_age(self) -> float | None:
        snapshot = self._snapshot
        return None if snapshot is None else self._clock() - snapshot.fetched_at

    def status(self) -> KeyStatus:
        """The keys' readiness now; starts nothing and never waits."""
        snapshot, age = self._snapshot, self._key_age()
        fetched = self._last_fetch_end is not None
        return KeyStatus(
            ready=age is not None and age <= self._max_stale,
            key_age=age,
            keys=len(snapshot.keys) if snapshot is not None else 0,
            last_fetch=None if not fetched else "failure" if self._failures else "success",
            last_fetch_error=self._last_error if self._failures else None,
            refreshing=self._flight is not None,
        )

    def current(self) -> KeySnapshot | None:
        """The current key set if it is usable now, else `None`; never waits.

        Starts a background refresh when one is due, as `snapshot` does.
        """
        now = self._clock()
        snapshot = self._snapshot
        if snapshot is not None and now - snapshot.fetched_at <= self._max_stale:
            if now >= self._refresh_at and now >= self._retry_at and self._flight is None:
                self._start_fetch("refresh")  # in the background; keep serving meanwhile
            if self._failures:
                self._telemetry.served_stale(self._attributes)
            return snapshot
        return None

    async def snapshot(self) -> KeySnapshot:
        """The current key set; waits for a fetch only when none is usable.

        Raises:
            KeysUnavailableError: no key set younger than `max_stale` could be had.
        """
        snapshot = self.current()
        if snapshot is not None:
            return snapshot
        now = self._clock()
        flight = self._flight
        if flight is None:
            if now < self._retry_at:
                raise KeysUnavailableError(
                    "No signing keys, and the last fetch failed; backing off.",
                    retry_after=self._retry_at - now,
                )
            flight = self._start_fetch("cold")
        await self._wait(flight)
        return self._usable_snapshot()

    async def refetch_for_unknown_key(self) -> KeySnapshot | None:
        """Fetch again for a `kid` that is not in the key set, unless in the cooldown.

        Returns the key set after the fetch, or `None` when no fetch may happen now.
        """
        flight = self._flight
        if flight is None:
            now = self._clock()
            cooling = (
                self._last_fetch_end is not None
                and now - self._last_fetch_end < self._kid_miss_cooldown
            )
            if cooling or now < self._retry_at:
                return None
            # A shared entry helps only if another replica fetched since this one did.
            flight = self._start_fetch("unknown_kid", newer_only=True)
        await self._wait(flight)
        try:
            return self._usable_snapshot()
        except KeysUnavailableError:
            return None

    async def refresh(self) -> None:
        """Fetch now (or join the fetch under way) and wait for it.

        Raises:
            KeysUnavailableError: the fetch failed and no usable key set is cached.
        """
        await self._wait(self._flight or self._start_fetch("refresh"))
        self._usable_snapshot()

    async def warm(self) -> None:
        """Fetch unless a usable key set is cached, and wait for it.

        Raises:
            KeysUnavailableError: the fetch failed and no usable key set is cached.
        """
        if self.status().ready:
            return
        await self.refresh()

    async def aclose(self) -> None:
        """Close the HTTP client if this store created it."""
        if self._owns_client and isinstance(self._client, httpx.AsyncClient):
            await self._client.aclose()
            self._client = None

    def _usable_snapshot(self) -> KeySnapshot:
        now = self._clock()
        snapshot = self._snapshot
        if snapshot is None or now - snapshot.fetched_at > self._max_stale:
            raise KeysUnavailableError(
                "No usable signing keys: the identity provider could not be reached.",
                retry_after=max(self._retry_at - now, _FIRST_RETRY),
            )
        return snapshot

    async def _wait(self, flight: _Flight) -> None:
        # The fetch bounds itself; this bound only guards against a fetch lost with its loop.
        shared = self._shared.budget if self._shared is not None else 0.0
        with anyio.move_on_after(3 * self._fetch_timeout + 1 + shared):
            await flight.done.wait()

    def _start_fetch(self, reason: FetchReason, *, newer_only: bool = False) -> _Flight:
        # A fetch after a failed one is a retry, and the first one a cold start, whatever
        # asked for it.
        if self._failures:
            reason = "retry"
        elif self._snapshot is None:
            reason = "cold"
        flight = _Flight()
        self._flight = flight
        flight.task = spawn(lambda: self._run_fetch(flight, reason, newer_only=newer_only))
        return flight

    async def _run_fetch(self, flight: _Flight, reason: FetchReason, *, newer_only: bool) -> None:
        started = time.time_ns()
        error: FetchError | None = None
        try:
            with self._telemetry.fetch_span(reason, self._attributes):
                try:
                    snapshot = await self._fetch_snapshot(newer_only=newer_only)
                except FetchError as exc:
                    error = exc
                except Exception as exc:  # a bug must not kill the event loop's system nursery
                    logger.exception("aad_guard key fetch failed unexpectedly")
                    error = FetchError(type(exc).__name__, kind="_OTHER")
                else:
                    self._take(snapshot)
                self._telemetry.fetched(
                    started, reason, self._attributes, None if error is None else error.kind
                )
            if error is not None:
                self._record_failure(error)
        finally:
            self._last_fetch_end = self._clock()
            self._flight = None
            flight.done.set()

    def _take(self, snapshot: KeySnapshot) -> None:
        self._snapshot = snapshot
        if self._on_new_snapshot is not None:
            # In the same step as the swap: nobody sees the new keys before the hook ran.
            self._on_new_snapshot(snapshot)
        self._failures = 0
        self._retry_at = 0.0
        # Jitter spreads the refreshes of many workers started together.
        jitter = random.uniform(_MIN_JITTER, 1.0)  # noqa: S311 - not for security
        self._refresh_at = snapshot.fetched_at + self._refresh_interval * jitter

    def _record_failure(self, error: FetchError) -> None:
        self._failures += 1
        self._last_error = error.kind
        delay = min(_FIRST_RETRY * 2 ** (self._failures - 1), _MAX_RETRY)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, _MAX_RETRY))
        self._retry_at = self._clock() + delay
        logger.warning(
            "aad_guard could not refresh signing keys (%s); retrying in %.0f s",
            error,
            delay,
            extra={"aad_guard_reason": "key_fetch_failed", "retry_in": delay},
        )

    async def _get(self, url: str) -> dict[str, object]:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, timeout=self._fetch_timeout)
        return await fetch_json(
            self._client,
            url,
            origin=self._origin,
            timeout=self._fetch_timeout,
            max_bytes=self._max_document_bytes,
        )

    async def _fetch_snapshot(self, *, newer_only: bool) -> KeySnapshot:
        async def fetch() -> Documents:
            return await self._rules.fetch(self._get)

        if self._shared is None:
            return self._accept(await fetch(), 0.0)
        return await self._shared.load(fetch, self._accept, newer_only=newer_only)

    def _accept(self, documents: Documents, age: float) -> KeySnapshot:
        """Check documents, fetched or shared, in full; the key set they give, `age` s old.

        Raises:
            FetchError: a document is missing or breaks a rule; nothing cached changes.
        """
        issuer_v2, issuer_v1 = self._rules.issuers(documents)
        jwks_uri = self._rules.jwks_uri(documents)
        jwks = documents.get(jwks_uri)
        if jwks is None:
            raise FetchError(f"no key set from {jwks_uri}")
        try:
            keys, keys_by_x5t = parse_jwks(jwks)
        except ValueError as exc:
            raise FetchError(f"GET {jwks_uri}: {exc}") from exc
        return KeySnapshot(issuer_v2, issuer_v1, keys, keys_by_x5t, self._clock() - age)
