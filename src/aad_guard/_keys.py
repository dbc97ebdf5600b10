"""The key store: OpenID metadata and JWKS, cached with single flight, refresh and cooldown.

One store serves one configuration (authority + tenant). Its rules (docs/design.md, rules 8-15):
every fetch runs once for all callers and outside any request; the last good key set keeps
serving through failures for up to `max_stale`; a failed fetch never replaces good data;
retries back off; an unknown `kid` refetches at most once per `kid_miss_cooldown`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import anyio
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._background import spawn
from ._fetch import AsyncHTTPClient, FetchError, Origin, fetch_json
from ._jose import KeyRef, b64url_decode
from ._policy import IssuerTemplate
from ._tenant import Tenant
from .errors import KeysUnavailableError

__all__ = ["RSA_ALGORITHMS", "KeySnapshot", "KeyStore", "SigningKey", "parse_jwks"]

logger = logging.getLogger("aad_guard")

MIN_RSA_BITS: Final = 2048
_FIRST_RETRY = 1.0
_MAX_RETRY = 300.0
# The JWS algorithms of RSA keys: Entra signs only with RSA keys.
RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A usable RSA signing key from the JWKS, with the issuer it is bound to (if any)."""

    kid: str
    x5t: str | None
    issuer: str | None
    algorithm: str | None
    public_key: RSAPublicKey


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """One good, validated fetch: issuer templates and keys, taken together."""

    issuer_v2: IssuerTemplate
    issuer_v1: IssuerTemplate | None
    keys: Mapping[str, SigningKey]
    keys_by_x5t: Mapping[str, SigningKey]
    fetched_at: float

    def find(self, ref: KeyRef) -> SigningKey | None:
        """The key a token names: by exact `kid`, or by `x5t` for old v1 tokens without one."""
        if ref.kid is not None:
            return self.keys.get(ref.kid)
        return self.keys_by_x5t.get(ref.value) or self.keys.get(ref.value)


def _modulus_bits(n: object) -> int:
    """The size of an RSA modulus in JWK form; 0 if it is not one."""
    try:
        return int.from_bytes(b64url_decode(n), "big").bit_length() if isinstance(n, str) else 0
    except ValueError:
        return 0


def _signing_key(jwk: object) -> SigningKey | None:
    """A JWK as a `SigningKey`, or `None` if it must not verify tokens (rule 15)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        return None
    kid, x5t, use = jwk.get("kid"), jwk.get("x5t"), jwk.get("use", "sig")
    issuer, algorithm, key_ops = jwk.get("issuer"), jwk.get("alg"), jwk.get("key_ops")
    if not isinstance(kid, str) or not kid or use != "sig":
        return None
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if algorithm is not None and algorithm not in RSA_ALGORITHMS:
        return None
    if not (issuer is None or isinstance(issuer, str)) or not (x5t is None or isinstance(x5t, str)):
        return None
    if _modulus_bits(jwk.get("n")) < MIN_RSA_BITS:
        return None
    try:
        # PyJWK parses the JWK; its errors quote the whole key, so they are not passed on.
        key = jwt.PyJWK(jwk, algorithm="RS256").key
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(key, RSAPublicKey):
        return None
    return SigningKey(kid, x5t, issuer, algorithm, key)


def parse_jwks(
    document: Mapping[str, object],
) -> tuple[dict[str, SigningKey], dict[str, SigningKey]]:
    """The usable signing keys of a JWKS, by `kid` and by `x5t`.

    A `kid` that two keys share names no key: both are dropped.

    Raises:
        ValueError: no usable signing key at all.
    """
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no 'keys' list")
    by_kid: dict[str, SigningKey] = {}
    ambiguous: set[str] = set()
    for entry in entries:
        key = _signing_key(entry)
        if key is None:
            continue
        if key.kid in by_kid:
            ambiguous.add(key.kid)
        by_kid[key.kid] = key
    for kid in ambiguous:
        del by_kid[kid]
    if not by_kid:
        raise ValueError("the JWKS has no usable RSA signing key")
    by_x5t = {key.x5t: key for key in by_kid.values() if key.x5t is not None}
    return by_kid, by_x5t


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
    ) -> None:
        self._origin = authority
        self._tenant = tenant
        self.metadata_url = metadata_url
        self.metadata_url_v1 = metadata_url_v1
        self._any_issuer_form = any_issuer_form
        self._custom_keys_app_id = custom_keys_app_id
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

    def current(self) -> KeySnapshot | None:
        """The current key set if it is usable now, else `None`; never waits.

        Starts a background refresh when one is due, as `snapshot` does.
        """
        now = self._clock()
        snapshot = self._snapshot
        if snapshot is not None and now - snapshot.fetched_at <= self._max_stale:
            if now >= self._refresh_at and now >= self._retry_at and self._flight is None:
                self._start_fetch()  # refresh in the background; keep serving meanwhile
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
            flight = self._start_fetch()
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
            flight = self._start_fetch()
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
        await self._wait(self._flight or self._start_fetch())
        self._usable_snapshot()

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
        with anyio.move_on_after(3 * self._fetch_timeout + 1):
            await flight.done.wait()

    def _start_fetch(self) -> _Flight:
        flight = _Flight()
        self._flight = flight
        flight.task = spawn(lambda: self._run_fetch(flight))
        return flight

    async def _run_fetch(self, flight: _Flight) -> None:
        try:
            snapshot = await self._fetch_snapshot()
        except FetchError as exc:
            self._record_failure(exc)
        except Exception as exc:  # a bug must not kill the event loop's system nursery
            logger.exception("aad_guard key fetch failed unexpectedly")
            self._record_failure(FetchError(type(exc).__name__))
        else:
            self._snapshot = snapshot
            if self._on_new_snapshot is not None:
                # In the same step as the swap: nobody sees the new keys before the hook ran.
                self._on_new_snapshot(snapshot)
            self._failures = 0
            self._retry_at = 0.0
            # Jitter spreads the refreshes of many workers started together.
            jitter = random.uniform(0.9, 1.0)  # noqa: S311 - not for security
            self._refresh_at = snapshot.fetched_at + self._refresh_interval * jitter
        finally:
            self._last_fetch_end = self._clock()
            self._flight = None
            flight.done.set()

    def _record_failure(self, error: FetchError) -> None:
        self._failures += 1
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

    async def _fetch_snapshot(self) -> KeySnapshot:
        documents: dict[str, dict[str, object]] = {}
        errors: list[FetchError] = []

        async def get(url: str) -> None:
            try:
                documents[url] = await self._get(url)
            except FetchError as exc:  # kept out of the task group's ExceptionGroup
                errors.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(get, self.metadata_url)
            if self.metadata_url_v1 is not None:
                group.start_soon(get, self.metadata_url_v1)
        if errors:
            raise errors[0]
        metadata = documents[self.metadata_url]
        try:
            issuer_v2 = (
                IssuerTemplate.of_metadata(metadata.get("issuer"), tenant=self._tenant)
                if self._any_issuer_form
                else IssuerTemplate.parse(
                    metadata.get("issuer"), version="2.0", tenant=self._tenant
                )
            )
            issuer_v1 = None
            if self.metadata_url_v1 is not None:
                issuer_v1 = IssuerTemplate.parse(
                    documents[self.metadata_url_v1].get("issuer"),
                    version="1.0",
                    tenant=self._tenant,
                )
                if issuer_v1.tenant_id != issuer_v2.tenant_id:
                    raise ValueError("the v1 and v2 metadata name different tenants")
        except ValueError as exc:
            raise FetchError(f"GET {self.metadata_url}: {exc}") from exc
        jwks_uri = self._jwks_uri(metadata.get("jwks_uri"))
        try:
            keys, keys_by_x5t = parse_jwks(await self._get(jwks_uri))
        except ValueError as exc:
            raise FetchError(f"GET {jwks_uri}: {exc}") from exc
        return KeySnapshot(issuer_v2, issuer_v1, keys, keys_by_x5t, self._clock())

    def _jwks_uri(self, value: object) -> str:
        if not isinstance(value, str) or not self._origin.owns(value):
            raise FetchError(f"the metadata's jwks_uri {value!r} is not on {self._origin.url}")
        if self._custom_keys_app_id is None:
            return value
        separator = "&" if "?" in value else "?"
        return f"{value}{separator}appid={quote(self._custom_keys_app_id, safe='')}"
