"""TokenValidator: a token string in, a Principal or a TokenError out, cheap checks first.

The settings are `ValidatorSettings` (`_settings`), the checks `CHECKS` (`_checks`); this
module runs them in order, serves repeated tokens from the verified-token cache, and owns the
key store's lifetime.
"""

import time
from types import TracebackType
from typing import Self, Unpack

from jwt.algorithms import get_default_algorithms

from ._candidate import Candidate, Check, CheckContext
from ._checks import CHECKS
from ._jose import TokenReader
from ._key_status import KeyStatus
from ._keys import KeyStore
from ._principal import Principal
from ._settings import ValidatorOptions, ValidatorSettings
from ._telemetry import Telemetry
from ._tenant import Tenant
from ._token_cache import CachedToken, TokenCache
from .errors import AADGuardError, TokenError

__all__ = ["TokenValidator", "ValidatorOptions"]


class _Hit(Candidate):
    """A token served from the verified-token cache, with the Principal it proved."""

    __slots__ = ("principal",)

    def __init__(self, token: str, cached: CachedToken) -> None:  # on every hit: no super()
        self.token, self.principal, self.claims = token, cached.principal, cached.principal.claims
        self.tenant_id, self.issuer, self.key = cached.tenant_id, cached.issuer, cached.key
        self.exp, self.nbf, self.evidence = cached.exp, cached.nbf, cached.evidence


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
            (China). Plain `http` only to a loopback address. An Entra External ID
            authority, `https://{sub}.ciamlogin.com/`, means the tenant
            `{sub}.onmicrosoft.com` unless `tenant` names it (its id or domain).
        metadata_url: Any OpenID metadata document to take the issuer and keys from, instead
            of the one `authority` and `tenant` name: a B2C user flow's
            (`https://{t}.b2clogin.com/{t}.onmicrosoft.com/{flow}/v2.0/.well-known/openid-configuration`)
            or a custom domain's. Its origin is the only one documents are fetched from; the
            tenant is `tenant`, else the URL's tenant segment. Default: none.
        allowed_user_flows: B2C user flows (or custom policies) whose tokens are accepted,
            by `tfp` (else `acr`), case-insensitive; only with a B2C `metadata_url`.
            Default: every flow of the tenant (they share one issuer).
        allow_guest_users: Accept guest (B2B) users of a workforce tenant (`idp` other than
            the issuer, or `acct` 1). `False` refuses them with 403. Default `True`.
        allowed_client_ids: The client applications (`azp`/`appid`) that may call; others
            are refused with 403 `client_not_allowed`. Default: any.
        accept_v1_tokens: Accept v1 tokens (`https://sts.windows.net/{tid}/`). Default `True`.
            Has no effect with `metadata_url` or External ID, which serves no v1 metadata.
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
            tenant policy are still checked on every use); the least recently used goes
            first. `0` turns the cache off. Default 16384.
        max_token_cache_bytes: The most memory those tokens may hold, as measured per
            entry (the token string and what validating it proved, about 1.2 KiB beyond
            the token). Default 80 MiB: 16384 tokens of up to about 3.8 KB.
        shared_key_cache: A `SharedKeyCache` on your Redis client, so that a fleet fetches
            metadata and keys about once per `refresh_interval` and new replicas start warm.
            Asyncio only. Default: none, each process fetches for itself.
        revocation_store: Where the app records revoked users, tokens and client apps
            (`InMemoryRevocationStore`, `RedisRevocationStore`); read after the signature
            and on every cache hit. Default: none.
        on_revocation_failure: `"admit"` (default) or `"refuse"` (503 with `Retry-After`)
            when the store cannot be read within `revocation_timeout` (docs/security.md).
        revocation_timeout: Seconds one read of the store may take. Default 0.5.
        telemetry: Where OpenTelemetry metrics and spans go (`aad_guard.Telemetry`).
            Default: the global providers, when opentelemetry-api is installed
            (docs/operations.md).

    Raises:
        ValueError: a setting is invalid (checked here, never at the first request).
        TypeError: a setting has the wrong type.
    """

    def __init__(self, **options: Unpack[ValidatorOptions]) -> None:
        settings = ValidatorSettings.parse(**options)
        self._settings = settings
        self._cache = (
            TokenCache(
                max_entries=settings.max_cached_tokens, max_bytes=settings.max_token_cache_bytes
            )
            if settings.max_cached_tokens
            else None
        )
        keys = KeyStore(
            authority=settings.authority,
            tenant=settings.tenant,
            metadata_url=settings.metadata_urls[0],
            metadata_url_v1=settings.metadata_urls[1],
            any_issuer_form=settings.metadata_url is not None,
            custom_keys_app_id=settings.client_id if settings.custom_signing_keys else None,
            http_client=settings.http_client,
            refresh_interval=settings.refresh_interval,
            kid_miss_cooldown=settings.kid_miss_cooldown,
            max_stale=settings.max_stale,
            fetch_timeout=settings.fetch_timeout,
            max_document_bytes=settings.max_document_bytes,
            clock=settings.clock or time.monotonic,
            on_new_snapshot=self._cache.reconcile if self._cache is not None else None,
            shared=settings.shared_key_cache,
            telemetry=settings.telemetry,
        )
        self._cache_watch = settings.telemetry.watch_cache(
            self._cache,
            {"server.address": settings.authority.host, "aad_guard.tenant": str(settings.tenant)},
        )
        checks = tuple(check for check in CHECKS if check.applies(settings))
        self._checks = checks
        self._on_cache_hit = tuple(check for check in checks if check.on_cache_hit == "forget")
        self._on_cache_hit_after = tuple(c for c in checks if c.on_cache_hit == "repeat")
        self._context = CheckContext(
            settings=settings,
            keys=keys,
            reader=TokenReader(
                allowed_algorithms=settings.allowed_algorithms,
                max_length=settings.max_token_length,
            ),
            algorithms={
                name: get_default_algorithms()[name] for name in settings.allowed_algorithms
            },
            flavour=settings.flavour,
        )

    @property
    def settings(self) -> ValidatorSettings:
        """The checked settings, frozen: a validator's settings never change."""
        return self._settings

    @property
    def client_id(self) -> str:
        """The API's application (client) id."""
        return self._settings.client_id

    @property
    def tenant(self) -> Tenant:
        """The configured tenant, lower-cased; compares equal to its string form."""
        return self._settings.tenant

    @property
    def audiences(self) -> frozenset[str]:
        """The accepted `aud` values."""
        return self._settings.audiences

    @property
    def authority(self) -> str:
        """The cloud's sign-in origin, e.g. `https://login.microsoftonline.com`."""
        return self._settings.authority.url

    @property
    def telemetry(self) -> Telemetry:
        """Where this validator's metrics and spans go."""
        return self._settings.telemetry

    @property
    def metadata_url(self) -> str:
        """The OpenID metadata document this validator trusts."""
        return self._context.keys.metadata_url

    async def names_issuer(self, issuer: str, tenant_id: str | None) -> bool:
        """Whether this validator's metadata names `issuer` (for the token's `tenant_id`).

        For routing a token among several validators by its unverified `iss`; fetches the
        metadata only when none is cached, never keys for an unknown key id.

        Raises:
            KeysUnavailableError: no metadata could be had.
        """
        keys = self._context.keys
        snapshot = keys.current() or await keys.snapshot()
        for template in (snapshot.issuer_v2, snapshot.issuer_v1):
            if template is None:
                continue
            tenant = template.tenant_id or tenant_id
            if tenant is not None and template.for_tenant(tenant) == issuer:
                return True
        return False

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
            self._settings.telemetry.authenticated(started, error=error)
            raise
        self._settings.telemetry.authenticated(started, principal=principal, cache_hit=hit)
        return principal

    async def _authenticate(self, token: str) -> tuple[Principal, bool | None]:
        """`validate`'s work; also whether the token cache answered (`None`: no cache)."""
        cache = self._cache
        if cache is not None and isinstance(token, str):
            cached = cache.get(token)
            hit = self._still_holds(token, cached, cache) if cached is not None else None
            if hit is not None:
                if self._on_cache_hit_after:
                    await self._run(self._on_cache_hit_after, hit)
                return hit.principal, True
        candidate = Candidate(token)
        await self._run(self._checks, candidate)
        principal = Principal.from_claims(
            candidate.claims,
            token_version=candidate.version,
            token=token,
            tenant_id=candidate.tenant_id,
            flavour=self._context.flavour,
            accepted_by=self.metadata_url,
        )
        if cache is not None:
            cache.put(
                token,
                principal,
                key=candidate.key,
                snapshot=candidate.snapshot,
                nbf=candidate.nbf,
                issuer=candidate.issuer,
            )
        return principal, None if cache is None else False

    def _still_holds(self, token: str, cached: CachedToken, cache: TokenCache) -> _Hit | None:
        """A cached token, if it passes the checks a cached token can fail without a fetch.

        `None` sends it down the full path: keys that need a fetch first (past `max_stale`)
        are that path's business; it waits for them, or refuses every token with 503.

        Raises:
            TokenError: the cached token must be refused now (and is forgotten).
        """
        hit = _Hit(token, cached)
        context = self._context
        try:
            for check in self._on_cache_hit:
                check.run(hit, context)  # sync, as `Check` makes sure
        except TokenError:
            cache.discard(token)
            raise
        return hit if context.keys.current() is not None else None

    async def _run(self, checks: tuple[Check, ...], candidate: Candidate) -> None:
        """Run `checks` on `candidate` in order, awaiting those that are async."""
        context = self._context
        for check in checks:
            pending = check.run(candidate, context)
            if pending is not None:
                await pending

    async def refresh(self) -> None:
        """Fetch metadata and keys now, e.g. at startup so the first request finds them.

        Raises:
            KeysUnavailableError: the fetch failed and no usable keys are cached.
        """
        await self._context.keys.refresh()

    async def warm(self) -> KeyStatus:
        """Fetch metadata and keys now unless usable ones are cached; return `status()`.

        For startup, so that the first request finds them; bound it with a timeout
        (`anyio.move_on_after`), as the middleware's `warm_up=` does.

        Raises:
            KeysUnavailableError: the fetch failed and no usable keys are cached.
        """
        await self._context.keys.warm()
        return self.status()

    def status(self) -> KeyStatus:
        """Whether this validator can check a token now, the keys' age, the last fetch.

        Never waits and never fetches: cheap enough for every readiness probe.
        """
        return self._context.keys.status()

    async def aclose(self) -> None:
        """Close the HTTP client the validator created; an injected client is left open."""
        await self._context.keys.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
