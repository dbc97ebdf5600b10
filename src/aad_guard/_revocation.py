"""Revocation: the app tells aad_guard whom to refuse before their tokens expire.

Entra publishes no revocation feed an API can read, so the app feeds one: when it learns a
user was disabled or signed out everywhere, a token leaked, or a client app must stop, it
records that in a `RevocationStore`. The validator asks the store after the signature and
on every verified-token cache hit (one read per request), and refuses what was revoked:

- a user (`tid`, `oid`) from a time on: tokens issued (`iat`) in or before its second;
- one token, by its `uti`;
- a client app in a tenant, for its app-only tokens issued in or before a time's second.

A store that cannot be read in `revocation_timeout` seconds (down, hung, misconfigured)
never holds a request longer: it is admitted or refused as `on_revocation_failure` says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import anyio

from ._claims import can_answer_claims_challenges, encode_claims, revocation_claims
from ._principal import Principal
from .errors import RevocationUnavailableError, TokenRevokedError

__all__ = [
    "DEFAULT_ENTRY_LIFETIME",
    "FailureMode",
    "InMemoryRevocationStore",
    "RevocationStore",
    "Revocations",
    "checked_lifetime",
    "enforce_revocations",
]

logger = logging.getLogger("aad_guard")

FailureMode = Literal["admit", "refuse"]

# The longest an Entra access token lives: CAE-enabled tokens up to 28 hours. An entry older
# than this can refuse no token that is still within its `exp`, so it may vanish.
DEFAULT_ENTRY_LIFETIME = 28 * 3600.0


@dataclass(frozen=True, slots=True)
class Revocations:
    """What a store holds about one token: each revocation's time, or `None`."""

    user: float | None = None
    token: float | None = None
    client: float | None = None


class RevocationStore(Protocol):
    """Where revocations are kept: in this process, or on Redis for a fleet of workers.

    A store whose `lookup` never waits (it awaits nothing) may say so with a class attribute
    `never_waits = True`: its reads then skip the timeout's cancel scope, which costs more
    than the read itself (about 15 µs on asyncio).
    """

    async def revoke_user(
        self, tenant_id: str, object_id: str, *, since: float | None = None
    ) -> float:
        """Refuse the user's tokens issued up to `since` (default now), in whole seconds.

        Returns the second recorded.
        """
        ...

    async def revoke_token(self, uti: str, *, at: float | None = None) -> float:
        """Refuse the token with this `uti` claim; returns the time recorded."""
        ...

    async def revoke_client(
        self, tenant_id: str, client_id: str, *, since: float | None = None
    ) -> float:
        """Refuse the client app's app-only tokens in the tenant issued up to `since`."""
        ...

    async def lookup(
        self, tenant_id: str, object_id: str | None, uti: str | None, client_id: str | None
    ) -> Revocations:
        """The revocations that concern a token with these claims (`None`: not in it)."""
        ...


def checked_lifetime(value: float) -> float:
    """`entry_lifetime`, checked: a number of seconds, at least one.

    Raises:
        ValueError: it is not.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise ValueError(f"entry_lifetime must be at least 1 second, not {value!r}")
    return float(value)


def _since(value: float | None, clock: Callable[[], float]) -> float:
    # Whole seconds, as `iat` is: a token issued in the revocation's second is refused too
    # (it may predate the revocation), so only tokens of later seconds pass.
    return float(int(clock() if value is None else value))


class InMemoryRevocationStore:
    """A `RevocationStore` in this process: for one worker, and for tests.

    Its methods await nothing: no other task runs in between, on asyncio or trio.

    Args:
        entry_lifetime: Seconds after which an entry is forgotten. Default 28 hours.
        clock: UNIX seconds. Default `time.time`.
    """

    def __init__(
        self,
        *,
        entry_lifetime: float = DEFAULT_ENTRY_LIFETIME,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._lifetime = checked_lifetime(entry_lifetime)
        self._clock = clock or time.time
        self._entries: dict[tuple[str, ...], tuple[float, float]] = {}

    never_waits = True

    def _put(self, key: tuple[str, ...], revoked_at: float) -> float:
        now = self._clock()
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
        self._entries[key] = (revoked_at, now + self._lifetime)
        return revoked_at

    def _get(self, key: tuple[str, ...] | None) -> float | None:
        entry = self._entries.get(key) if key is not None else None
        return entry[0] if entry is not None and entry[1] > self._clock() else None

    async def revoke_user(
        self, tenant_id: str, object_id: str, *, since: float | None = None
    ) -> float:
        """Refuse the user's tokens issued up to `since` (default now); returns that second."""
        return self._put(("user", tenant_id, object_id), _since(since, self._clock))

    async def revoke_token(self, uti: str, *, at: float | None = None) -> float:
        """Refuse the token with this `uti` claim; returns the time recorded."""
        return self._put(("token", uti), _since(at, self._clock))

    async def revoke_client(
        self, tenant_id: str, client_id: str, *, since: float | None = None
    ) -> float:
        """Refuse the client app's app-only tokens in the tenant issued up to `since`."""
        return self._put(("client", tenant_id, client_id), _since(since, self._clock))

    async def lookup(
        self, tenant_id: str, object_id: str | None, uti: str | None, client_id: str | None
    ) -> Revocations:
        """The revocations that concern a token with these claims (`None`: not in it)."""
        return Revocations(
            user=self._get(("user", tenant_id, object_id) if object_id else None),
            token=self._get(("token", uti) if uti else None),
            client=self._get(("client", tenant_id, client_id) if client_id else None),
        )


async def enforce_revocations(
    principal: Principal,
    *,
    store: RevocationStore,
    read_timeout: float,
    on_failure: FailureMode,
    tenant_id: str | None,
    kid: str | None,
) -> None:
    """Return if nothing in `store` revoked `principal`'s token: one bounded read.

    `tenant_id` and `kid` are the evidence a refusal carries for the rejection log.

    Raises:
        TokenRevokedError: it is revoked (with a claims challenge for a `cp1` client).
        RevocationUnavailableError: the store cannot be read and `on_failure` refuses.
    """
    claims = principal.claims
    uti = claims.get("uti")
    lookup = store.lookup(
        principal.tenant_id,
        principal.object_id,
        uti if isinstance(uti, str) else None,
        principal.client_id if principal.is_app else None,
    )
    found: Revocations | None = None
    failure = "it did not answer within the timeout"
    try:
        if getattr(store, "never_waits", False) is True:
            found = await lookup
        else:
            with anyio.move_on_after(read_timeout):
                found = await lookup
    except Exception as error:  # noqa: BLE001 (any store fault is a fault, never a 500)
        failure = f"{type(error).__name__}: {error}"
    finally:
        lookup.close()  # never started when `move_on_after` was cancelled already
    if found is None:
        logger.warning(
            "aad_guard could not read the revocation store (%s); the request is %s",
            failure,
            "refused" if on_failure == "refuse" else "admitted",
            extra={"aad_guard_reason": "revocation_unavailable"},
        )
        if on_failure == "refuse":
            raise RevocationUnavailableError(
                f"The revocation store cannot be read: {failure}.", tenant_id=tenant_id, kid=kid
            )
        return
    revoked_at = _revoked_at(found, claims.get("iat"))
    if revoked_at is None:
        return
    challenge = None
    if can_answer_claims_challenges(principal.client_capabilities):
        # A token Entra issues from the next second on: the first one that can pass.
        challenge = encode_claims(revocation_claims(revoked_at + 1))
    raise TokenRevokedError(
        f"The token was revoked at {revoked_at!r}.",
        revoked_at=revoked_at,
        claims=challenge,
        tenant_id=tenant_id,
        kid=kid,
    )


def _revoked_at(found: Revocations, iat: object) -> float | None:
    """The revocation that refuses a token issued at `iat`: one at or after it, if any.

    A missing `iat` counts as issued before any revocation.
    """
    issued_at = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
    if found.token is not None:
        return found.token
    for since in (found.user, found.client):
        if since is not None and (issued_at is None or issued_at <= since):
            return since
    return None
