"""TokenValidator: a token string in, a Principal or a TokenError out, cheap checks first."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Self, TypedDict
from urllib.parse import urlsplit

from jwt.algorithms import get_default_algorithms

from . import _jose
from ._callables import check_signature
from ._fetch import AsyncHTTPClient, Origin
from ._keys import KeySnapshot, KeyStatus, KeyStore, SigningKey
from ._policy import (
    TenantPolicy,
    TenantRule,
    is_guid,
    normalize_tenant,
    normalize_tenant_ids,
)
from ._principal import CLIENT_CLAIM, Principal
from ._telemetry import Telemetry
from ._token_cache import CachedToken, TokenCache
from .errors import (
    AADGuardError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    KeyIssuerMismatchError,
    MissingClaimError,
    NoScopesOrRolesError,
    NotAnAccessTokenError,
    TenantNotAllowedError,
    TokenError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownKeyError,
    VersionMismatchError,
)

__all__ = ["TokenValidator", "ValidatorOptions"]

_SUPPORTED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
# The string claims the Principal reads besides `scp` and the client claim; each must be a
# string when present (Entra access-token reference), so none is silently read as absent.
_PRINCIPAL_STRING_CLAIMS = (
    "oid",
    "sub",
    "idtyp",
    "name",
    "preferred_username",
    "upn",
    "unique_name",
)


def _duration(name: str, value: float, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {kind} finite number of seconds, not {value!r}")
    return float(value)


def _limit(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def _size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be zero or a positive integer, not {value!r}")
    return value


def _strings(name: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a collection of strings, not a string")
    result = frozenset(values)
    if not result or not all(isinstance(v, str) and v for v in result):
        raise ValueError(f"{name} must hold at least one non-empty string")
    return result


def _optional_string(claims: Mapping[str, object], name: str) -> str | None:
    """A string claim, or `None` when absent; any other value, `null` too, is refused."""
    if name not in claims:
        return None
    value = claims[name]
    if not isinstance(value, str):
        raise InvalidClaimError(f"The token's {name!r} is not a string: {value!r}.", claim=name)
    return value


def _time_claim(claims: Mapping[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    # RFC 7519 NumericDate: a JSON number. Strings, booleans and non-finite values are not.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _is_finite(value):
        raise InvalidClaimError(f"The token's {name!r} is not a number: {value!r}.", claim=name)
    return float(value)


def _is_finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float, e.g. 10**400: no real time
        return False


class ValidatorOptions(TypedDict, total=False):
    """`TokenValidator`'s keyword arguments, for APIs that pass them through."""

    client_id: str
    tenant: str
    allowed_tenants: Iterable[str] | None
    tenant_policy: TenantPolicy | None
    audiences: Iterable[str] | None
    authority: str
    accept_v1_tokens: bool
    accept_id_tokens: bool
    allow_acl_tokens: bool
    custom_signing_keys: bool
    clock_skew: float
    clock: Callable[[], float] | None
    http_client: AsyncHTTPClient | None
    allowed_algorithms: Iterable[str]
    max_token_length: int
    refresh_interval: float
    kid_miss_cooldown: float
    max_stale: float
    fetch_timeout: float
    max_document_bytes: int
    max_cached_tokens: int
    max_token_cache_bytes: int
    telemetry: Telemetry | None


class TokenValidator:
    """Validates Entra ID access tokens for one API.

    Args:
        client_id: The API's application (client) id.
        tenant: A tenant id (GUID) or verified domain for a single tenant; or
            `"organizations"` (any work or school tenant), `"consumers"` (personal Microsoft
            accounts) or `"common"` (both). Default `"organizations"`.
        allowed_tenants: Tenant ids that may call; narrows `tenant`. Default: no list.
        tenant_policy: A callable `(tenant_id, issuer, claims) -> bool`, sync or async, run
            after the signature is verified; `True` admits. Called with three positional
            arguments; a callable that cannot take them is refused here. Default: none.
        audiences: Accepted `aud` values. Default `{client_id, "api://" + client_id}`.
        authority: The cloud's sign-in origin. Default `https://login.microsoftonline.com`;
            `https://login.microsoftonline.us` (US Government), `https://login.chinacloudapi.cn`
            (China). Plain `http` only to a loopback address.
        accept_v1_tokens: Accept v1 tokens (`https://sts.windows.net/{tid}/`). Default `True`.
        accept_id_tokens: Accept tokens without `azp`/`appid` (ID tokens). Default `False`.
        allow_acl_tokens: Accept access tokens with neither `scp` nor `roles`, for APIs that
            authorize callers by an access-control list of client ids. Default `False`.
        custom_signing_keys: Fetch keys with `?appid={client_id}`, for apps with custom
            signing keys (claims mapping). Default `False`.
        clock_skew: Leeway for `exp` and `nbf`, in seconds. Default 300.
        clock: Returns the current UNIX time in seconds; drives the key cache too. Default
            `time.time` for tokens and `time.monotonic` for the cache.
        http_client: An `httpx.AsyncClient` (or httpx2's) that the caller owns and closes.
            Default: one created on first use and closed by `aclose()`.
        allowed_algorithms: Accepted `alg` values. Default `{"RS256"}`, what Entra signs with.
        max_token_length: Longer tokens are refused before decoding, in characters.
            Default 32768.
        refresh_interval: Seconds between background refreshes of metadata and keys
            (minus up to 10% jitter). Default 3600.
        kid_miss_cooldown: At most one refetch for unknown key ids per this many seconds,
            counted from the end of the last fetch. Default 30.
        max_stale: Serve the last good keys for this many seconds while the identity
            provider is failing. Default 86400.
        fetch_timeout: Seconds one metadata or JWKS request may take. Default 5.
        max_document_bytes: Largest metadata or JWKS body, in bytes. Default 1 MiB.
        max_cached_tokens: How many verified tokens to remember, so that a repeated token
            skips decoding and the signature check (its lifetime, the key set and the
            tenant policy are still checked on every use). `0` turns the cache off.
            Default 4096.
        max_token_cache_bytes: The most memory those tokens may hold, estimated at 4 bytes
            per token character. Default 16 MiB.
        telemetry: Where OpenTelemetry metrics and spans go (`aad_guard.Telemetry`).
            Default: the global providers, when opentelemetry-api is installed
            (docs/operations.md).

    Raises:
        ValueError: a setting is invalid (checked here, never at the first request).
        TypeError: a setting has the wrong type.
    """

    def __init__(
        self,
        *,
        client_id: str,
        tenant: str = "organizations",
        allowed_tenants: Iterable[str] | None = None,
        tenant_policy: TenantPolicy | None = None,
        audiences: Iterable[str] | None = None,
        authority: str = "https://login.microsoftonline.com",
        accept_v1_tokens: bool = True,
        accept_id_tokens: bool = False,
        allow_acl_tokens: bool = False,
        custom_signing_keys: bool = False,
        clock_skew: float = 300,
        clock: Callable[[], float] | None = None,
        http_client: AsyncHTTPClient | None = None,
        allowed_algorithms: Iterable[str] = ("RS256",),
        max_token_length: int = 32 * 1024,
        refresh_interval: float = 3600,
        kid_miss_cooldown: float = 30,
        max_stale: float = 86400,
        fetch_timeout: float = 5,
        max_document_bytes: int = 1024 * 1024,
        max_cached_tokens: int = 4096,
        max_token_cache_bytes: int = 16 * 1024 * 1024,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not isinstance(client_id, str):
            raise TypeError(f"client_id must be a string, not {type(client_id).__name__}")
        if not isinstance(authority, str):
            raise TypeError(f"authority must be a string, not {type(authority).__name__}")
        if not client_id.strip():
            raise ValueError("client_id must be the API's application (client) id")
        if tenant_policy is not None:
            check_signature(
                "tenant_policy",
                tenant_policy,
                parameters=("tenant_id", "issuer", "claims"),
                returns="bool, sync or async",
            )
        if clock is not None:
            check_signature("clock", clock, parameters=(), returns="float (UNIX seconds)")
        try:
            origin = Origin.of(authority)
        except ValueError as exc:
            raise ValueError(f"authority {exc}") from None
        parts = urlsplit(authority)
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"authority {authority!r} must be an origin, without a path")
        algorithms = _strings("allowed_algorithms", allowed_algorithms)
        if not algorithms <= _SUPPORTED_ALGORITHMS:
            unsupported = sorted(algorithms - _SUPPORTED_ALGORITHMS)
            raise ValueError(f"allowed_algorithms has {unsupported}; Entra keys are RSA keys")
        self.client_id = client_id.strip()
        self.authority = origin.url
        self.tenant = normalize_tenant(tenant)
        self.audiences = (
            _strings("audiences", audiences)
            if audiences is not None
            else frozenset({self.client_id, f"api://{self.client_id}"})
        )
        self._rule = TenantRule(
            self.tenant,
            normalize_tenant_ids(allowed_tenants) if allowed_tenants is not None else None,
        )
        self._tenant_policy = tenant_policy
        self._accept_v1 = bool(accept_v1_tokens)
        self._accept_id_tokens = bool(accept_id_tokens)
        self._allow_acl_tokens = bool(allow_acl_tokens)
        self._clock_skew = _duration("clock_skew", clock_skew)
        self._clock = clock or time.time
        self._algorithms = {name: get_default_algorithms()[name] for name in algorithms}
        self._reader = _jose.TokenReader(
            allowed_algorithms=frozenset(self._algorithms),
            max_length=_limit("max_token_length", max_token_length),
        )
        interval = _duration("refresh_interval", refresh_interval, positive=True)
        if _duration("max_stale", max_stale) < interval:
            raise ValueError(
                f"max_stale ({max_stale!r} s) must be at least refresh_interval "
                f"({refresh_interval!r} s), or keys expire before they are refreshed"
            )
        cache_entries = _size("max_cached_tokens", max_cached_tokens)
        cache_bytes = _limit("max_token_cache_bytes", max_token_cache_bytes)
        self._cache = (
            TokenCache(max_entries=cache_entries, max_bytes=cache_bytes) if cache_entries else None
        )
        if telemetry is not None and not isinstance(telemetry, Telemetry):
            raise TypeError(f"telemetry must be an aad_guard.Telemetry, not {telemetry!r}")
        self.telemetry = telemetry or Telemetry()
        attributes = {"server.address": origin.host, "aad_guard.tenant": self.tenant}
        self._cache_watch = self.telemetry.watch_cache(self._cache, attributes)
        self._keys = KeyStore(
            authority=origin,
            tenant=self.tenant,
            accept_v1_tokens=self._accept_v1,
            custom_keys_app_id=self.client_id if custom_signing_keys else None,
            http_client=http_client,
            refresh_interval=interval,
            kid_miss_cooldown=_duration("kid_miss_cooldown", kid_miss_cooldown),
            max_stale=_duration("max_stale", max_stale),
            fetch_timeout=_duration("fetch_timeout", fetch_timeout, positive=True),
            max_document_bytes=_limit("max_document_bytes", max_document_bytes),
            clock=clock or time.monotonic,
            on_new_snapshot=self._cache.reconcile if self._cache is not None else None,
            telemetry=self.telemetry,
        )

    @property
    def metadata_url(self) -> str:
        """The OpenID metadata document this validator trusts."""
        return self._keys.metadata_url

    async def validate(self, token: str) -> Principal:
        """Check `token` completely and return who called.

        Raises:
            TokenError: the token must be refused (401); `reason` says why.
            KeysUnavailableError: no signing keys could be had (503).
        """
        started = time.time_ns()
        try:
            principal, hit = await self._authenticate(token)
        except AADGuardError as error:
            self.telemetry.authenticated(started, error=error)
            raise
        self.telemetry.authenticated(started, principal=principal, cache_hit=hit)
        return principal

    async def _authenticate(self, token: str) -> tuple[Principal, bool | None]:
        """`validate`'s work; also says whether the token cache answered (`None`: no cache)."""
        cache = self._cache
        if cache is not None and isinstance(token, str):
            cached = self._cached(token, cache)
            if cached is not None:
                if self._tenant_policy is not None:
                    await self._recheck_tenant_policy(cached)
                return cached.principal, True
        jws, key_ref = self._reader.read(token)
        try:
            principal, key, snapshot, nbf = await self._validate(jws, key_ref)
        except TokenError as error:
            # Context for the rejection log: the key id and a well-formed tenant id only.
            tenant_id = jws.payload.get("tid")
            error.tenant_id = tenant_id if is_guid(tenant_id) else None
            error.kid = error.kid or key_ref.value
            raise
        if cache is not None:
            cache.put(
                token, principal, key=key, snapshot=snapshot, exp=principal.expires_at, nbf=nbf
            )
        return principal, None if cache is None else False

    def _cached(self, token: str, cache: TokenCache) -> CachedToken | None:
        """The cache's entry for `token` if it still holds, else `None`: check it in full.

        Raises:
            TokenError: the cached token's lifetime is over (it is forgotten too).
        """
        cached = cache.get(token)
        if cached is None:
            return None
        try:
            self._check_lifetime(cached.exp, cached.nbf)
        except TokenError as error:
            cache.discard(token)
            error.tenant_id, error.kid = cached.tenant_id, cached.key.kid
            raise
        # Keys that need a fetch first (past `max_stale`) are the full path's business: it
        # waits for them, or refuses every token with 503.
        return cached if self._keys.current() is not None else None

    async def _recheck_tenant_policy(self, cached: CachedToken) -> None:
        try:
            await self._apply_tenant_policy(
                cached.tenant_id, cached.issuer, cached.principal.claims
            )
        except TokenError as error:
            error.tenant_id, error.kid = cached.tenant_id, cached.key.kid
            raise

    async def _validate(
        self, jws: _jose.CompactJWS, key_ref: _jose.KeyRef
    ) -> tuple[Principal, SigningKey, KeySnapshot, float | None]:
        """Every check, in order; returns what passed, the key, its key set and `nbf`."""
        claims = jws.payload
        tenant_id, issuer, nbf = self._check_unverified_claims(claims)

        snapshot = self._keys.current() or await self._keys.snapshot()
        version = self._check_issuer(claims, tenant_id, issuer, snapshot)
        self._check_token_shape(claims, version)
        if not self._rule.admits(tenant_id, resolved_tenant_id=snapshot.issuer_v2.tenant_id):
            raise TenantNotAllowedError(
                f"Tenant {tenant_id!r} is not allowed by the tenant setting.", tenant_id=tenant_id
            )

        key = snapshot.find(key_ref)
        if key is None:
            # Keys roll over without notice: look once more, unless that was done just now.
            refreshed = await self._keys.refetch_for_unknown_key()
            key = refreshed.find(key_ref) if refreshed is not None else None
            if refreshed is None or key is None:
                raise UnknownKeyError(
                    f"No signing key has id {key_ref.value!r}.", kid=key_ref.value
                )
            snapshot = refreshed
        self._check_key_binding(key, issuer, tenant_id, version, snapshot)
        self._verify_signature(jws, key)
        await self._apply_tenant_policy(tenant_id, issuer, claims)
        return Principal.from_claims(claims, token_version=version), key, snapshot, nbf

    async def _apply_tenant_policy(
        self, tenant_id: str, issuer: str, claims: Mapping[str, object]
    ) -> None:
        if self._tenant_policy is None:
            return
        verdict = self._tenant_policy(tenant_id, issuer, claims)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not True:
            raise TenantNotAllowedError(
                f"Tenant {tenant_id!r} is refused by the tenant policy.", tenant_id=tenant_id
            )

    async def refresh(self) -> None:
        """Fetch metadata and keys now, e.g. at startup so the first request finds them.

        Raises:
            KeysUnavailableError: the fetch failed and no usable keys are cached.
        """
        await self._keys.refresh()

    async def warm(self) -> KeyStatus:
        """Fetch metadata and keys now unless usable ones are cached; return `status()`.

        For startup, so that the first request finds keys; bound it with a timeout
        (`anyio.move_on_after`), as the middleware's `warm_up=` does.

        Raises:
            KeysUnavailableError: the fetch failed and no usable keys are cached.
        """
        await self._keys.warm()
        return self.status()

    def status(self) -> KeyStatus:
        """Whether this validator can check a token now, the keys' age, the last fetch.

        Never waits and never fetches: cheap enough for every readiness probe.
        """
        return self._keys.status()

    async def aclose(self) -> None:
        """Close the HTTP client the validator created; an injected client is left open."""
        await self._keys.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_unverified_claims(
        self, claims: Mapping[str, object]
    ) -> tuple[str, str, float | None]:
        """Claim checks that need no keys: lifetime, audience, `tid`, `iss` types.

        Returns `tid`, `iss` and `nbf`.
        """
        exp = _time_claim(claims, "exp")
        if exp is None:
            raise MissingClaimError(claim="exp")
        nbf = _time_claim(claims, "nbf")
        _time_claim(claims, "iat")
        if nbf is not None and nbf > exp:
            raise InvalidClaimError("The token's 'nbf' is after its 'exp'.", claim="nbf")
        self._check_lifetime(exp, nbf)

        if "aud" not in claims:
            raise MissingClaimError(claim="aud")
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        if not isinstance(aud, str) or aud not in self.audiences:
            raise InvalidAudienceError(
                f"The token's audience {aud!r} is not one of {sorted(self.audiences)!r}."
            )

        for name in ("tid", "iss"):
            if name not in claims:
                raise MissingClaimError(claim=name)
        tenant_id, issuer = claims["tid"], claims["iss"]
        if not is_guid(tenant_id):
            raise InvalidClaimError(f"The token's 'tid' {tenant_id!r} is not a GUID.", claim="tid")
        if not isinstance(issuer, str):
            raise InvalidClaimError(f"The token's 'iss' {issuer!r} is not a string.", claim="iss")
        return tenant_id, issuer, nbf

    def _check_lifetime(self, exp: float, nbf: float | None) -> None:
        """`exp` and `nbf` against the clock, with `clock_skew` (rule 16)."""
        now = self._clock()
        if exp <= now - self._clock_skew:
            raise TokenExpiredError(f"The token expired at {exp!r}; the time is {now!r}.")
        if nbf is not None and nbf > now + self._clock_skew:
            raise TokenNotYetValidError(f"The token is valid from {nbf!r}; the time is {now!r}.")

    def _check_issuer(
        self, claims: Mapping[str, object], tenant_id: str, issuer: str, snapshot: KeySnapshot
    ) -> str:
        """`iss` must be the metadata's issuer for `tid`, exactly; return the token version."""
        if issuer == snapshot.issuer_v2.for_tenant(tenant_id):
            version = "2.0"
        elif snapshot.issuer_v1 is not None and issuer == snapshot.issuer_v1.for_tenant(tenant_id):
            version = "1.0"
        else:
            raise InvalidIssuerError(
                f"The token's issuer {issuer!r} is not the issuer of tenant {tenant_id!r}."
            )
        if "ver" not in claims:
            raise MissingClaimError(claim="ver")
        ver = claims["ver"]
        if ver != version:
            raise VersionMismatchError(
                f"The token's 'ver' {ver!r} does not match its v{version} issuer."
            )
        return version

    def _check_token_shape(self, claims: Mapping[str, object], version: str) -> None:
        """An access token names its client, and carries scopes or roles (rule 21)."""
        # JSON `null` is a value of the wrong type, never an absent claim: `"scp": null`
        # must not turn a user's token into an app-only one.
        scp = _optional_string(claims, "scp")
        has_roles = "roles" in claims
        roles = claims.get("roles")
        if has_roles and not (
            isinstance(roles, list) and all(isinstance(role, str) for role in roles)
        ):
            raise InvalidClaimError(
                f"The token's 'roles' is not a list of strings: {roles!r}.", claim="roles"
            )
        client_claim = CLIENT_CLAIM[version]
        client = _optional_string(claims, client_claim)
        for name in _PRINCIPAL_STRING_CLAIMS:
            _optional_string(claims, name)
        if client is None and not self._accept_id_tokens:
            raise NotAnAccessTokenError(
                f"The token has no {client_claim!r} claim: an ID token, not an access token. "
                "Send an access token requested for this API's scope."
            )
        if scp is None and not has_roles and client is not None and not self._allow_acl_tokens:
            raise NoScopesOrRolesError("The access token has neither 'scp' nor 'roles'.")

    @staticmethod
    def _check_key_binding(
        key: SigningKey, issuer: str, tenant_id: str, version: str, snapshot: KeySnapshot
    ) -> None:
        """A key with an `issuer` member signs only for that issuer (rule 19)."""
        if key.issuer is None:
            return
        bound = key.issuer.replace("{tenantid}", tenant_id)
        v2_form = issuer if version == "2.0" else snapshot.issuer_v2.for_tenant(tenant_id)
        if bound not in (issuer, v2_form):
            raise KeyIssuerMismatchError(
                f"Key {key.kid!r} is bound to issuer {key.issuer!r}, not to {issuer!r}."
            )

    def _verify_signature(self, jws: _jose.CompactJWS, key: SigningKey) -> None:
        alg = jws.header["alg"]
        algorithm = self._algorithms[alg] if isinstance(alg, str) else None
        if algorithm is None or (key.algorithm is not None and key.algorithm != alg):
            raise InvalidSignatureError(f"Key {key.kid!r} is not for algorithm {alg!r}.")
        if not algorithm.verify(jws.signing_input, key.public_key, jws.signature):
            raise InvalidSignatureError(f"The signature does not verify with key {key.kid!r}.")
