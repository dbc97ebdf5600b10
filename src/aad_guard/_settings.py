"""`ValidatorSettings`: every setting of a `TokenValidator`, checked once, then frozen.

A validator's behaviour is its settings, so they are one immutable value: checked when the
validator is built (a bad setting fails there, never at the first request) and impossible to
change afterwards, when a changed audience or tenant would skip checks already derived from it.
To add a setting, add a field here and a key to `ValidatorOptions`, and check it in `parse`.
"""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypedDict, Unpack
from urllib.parse import quote, urlsplit

from ._callables import check_signature
from ._fetch import AsyncHTTPClient, Origin
from ._flavour import Flavour, external_id_tenant, flavour_of
from ._keys import RSA_ALGORITHMS
from ._policy import TenantPolicy, normalize_tenant_ids
from ._revocation import FailureMode, RevocationStore
from ._shared_keys import SharedKeyCache
from ._telemetry import Telemetry
from ._tenant import Tenant

__all__ = ["ValidatorOptions", "ValidatorSettings", "default_audiences"]

DEFAULT_AUTHORITY: Final = "https://login.microsoftonline.com"


def default_audiences(client_id: str) -> frozenset[str]:
    """The `aud` values an API accepts by default: its client id and its app id URI."""
    return frozenset({client_id, f"api://{client_id}"})


class ValidatorOptions(TypedDict, total=False):
    """`TokenValidator`'s keyword arguments, for APIs that pass them through."""

    client_id: str
    tenant: str
    allowed_tenants: Iterable[str] | None
    tenant_policy: TenantPolicy | None
    audiences: Iterable[str] | None
    authority: str
    metadata_url: str | None
    allowed_user_flows: Iterable[str] | None
    allow_guest_users: bool
    allowed_client_ids: Iterable[str] | None
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
    shared_key_cache: SharedKeyCache | None
    revocation_store: RevocationStore | None
    on_revocation_failure: FailureMode
    revocation_timeout: float
    telemetry: Telemetry | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatorSettings:
    """The checked settings; build them with `ValidatorSettings.parse(**options)`.

    Each field is documented on `TokenValidator`. `clock` is `None` when the caller gave
    none: tokens then use `time.time` and the key cache `time.monotonic`.
    """

    client_id: str
    tenant: Tenant
    allowed_tenants: frozenset[str] | None
    tenant_policy: TenantPolicy | None
    audiences: frozenset[str]
    authority: Origin
    metadata_url: str | None
    allowed_user_flows: frozenset[str] | None
    allow_guest_users: bool
    allowed_client_ids: frozenset[str] | None
    accept_v1_tokens: bool
    accept_id_tokens: bool
    allow_acl_tokens: bool
    custom_signing_keys: bool
    clock_skew: float
    clock: Callable[[], float] | None
    http_client: AsyncHTTPClient | None
    allowed_algorithms: frozenset[str]
    max_token_length: int
    refresh_interval: float
    kid_miss_cooldown: float
    max_stale: float
    fetch_timeout: float
    max_document_bytes: int
    max_cached_tokens: int
    max_token_cache_bytes: int
    shared_key_cache: SharedKeyCache | None = None
    revocation_store: RevocationStore | None
    on_revocation_failure: FailureMode
    revocation_timeout: float
    telemetry: Telemetry

    @classmethod
    def parse(cls, **options: Unpack[ValidatorOptions]) -> "ValidatorSettings":
        """Check `options` (`TokenValidator`'s keyword arguments) and fill in the defaults.

        Raises:
            ValueError: a setting is invalid.
            TypeError: a setting has the wrong type.
        """
        unknown = set(options) - set(ValidatorOptions.__annotations__)
        if unknown:
            raise TypeError(f"unexpected settings {sorted(unknown)}")
        if "client_id" not in options:
            raise TypeError("client_id is required: the API's application (client) id")
        client_id = options["client_id"]
        authority = options.get("authority", DEFAULT_AUTHORITY)
        if not isinstance(client_id, str):
            raise TypeError(f"client_id must be a string, not {type(client_id).__name__}")
        if not isinstance(authority, str):
            raise TypeError(f"authority must be a string, not {type(authority).__name__}")
        if not client_id.strip():
            raise ValueError("client_id must be the API's application (client) id")
        tenant_policy = options.get("tenant_policy")
        if tenant_policy is not None:
            check_signature(
                "tenant_policy",
                tenant_policy,
                parameters=("tenant_id", "issuer", "claims"),
                returns="bool, sync or async",
            )
        clock = options.get("clock")
        if clock is not None:
            check_signature("clock", clock, parameters=(), returns="float (UNIX seconds)")
        metadata_url = options.get("metadata_url")
        if metadata_url is not None:
            origin, flavour = _metadata_origin(metadata_url, options)
        else:
            try:
                origin = Origin.of(authority)
            except ValueError as exc:
                raise ValueError(f"authority {exc}") from None
            parts = urlsplit(authority)
            if parts.path not in ("", "/") or parts.query:
                raise ValueError(f"authority {authority!r} must be an origin, without a path")
            flavour = flavour_of(host=origin.host, metadata_path=None)
        algorithms = _strings("allowed_algorithms", options.get("allowed_algorithms", ("RS256",)))
        if not algorithms <= RSA_ALGORITHMS:
            unsupported = sorted(algorithms - RSA_ALGORITHMS)
            raise ValueError(f"allowed_algorithms has {unsupported}; Entra keys are RSA keys")
        client_id = client_id.strip()
        if metadata_url is not None:
            tenant = _metadata_tenant(metadata_url, options.get("tenant"))
        elif flavour is Flavour.EXTERNAL_ID:
            tenant = external_id_tenant(authority, options.get("tenant"))
        else:
            tenant = Tenant.parse(options.get("tenant", "organizations"))
        accept_v1 = bool(options.get("accept_v1_tokens", True))
        user_flows = options.get("allowed_user_flows")
        if user_flows is not None and flavour is not Flavour.B2C:
            raise ValueError("allowed_user_flows needs the metadata_url of a B2C user flow")
        client_ids = options.get("allowed_client_ids")
        audiences = options.get("audiences")
        audience_set = (
            _strings("audiences", audiences)
            if audiences is not None
            else default_audiences(client_id)
        )
        allowed_tenants = options.get("allowed_tenants")
        allowed = normalize_tenant_ids(allowed_tenants) if allowed_tenants is not None else None
        clock_skew = _duration("clock_skew", options.get("clock_skew", 300))
        max_token_length = _limit("max_token_length", options.get("max_token_length", 32 * 1024))
        refresh_interval = options.get("refresh_interval", 3600)
        max_stale = options.get("max_stale", 86400)
        interval = _duration("refresh_interval", refresh_interval, positive=True)
        stale = _duration("max_stale", max_stale)
        if stale < interval:
            raise ValueError(
                f"max_stale ({max_stale!r} s) must be at least refresh_interval "
                f"({refresh_interval!r} s), or keys expire before they are refreshed"
            )
        telemetry = options.get("telemetry")
        if telemetry is not None and not isinstance(telemetry, Telemetry):
            raise TypeError(f"telemetry must be an aad_guard.Telemetry, not {telemetry!r}")
        cache_entries = _size("max_cached_tokens", options.get("max_cached_tokens", 16384))
        cache_bytes = _limit(
            "max_token_cache_bytes", options.get("max_token_cache_bytes", 80 * 1024 * 1024)
        )
        store = options.get("revocation_store")
        if store is not None and not callable(getattr(store, "lookup", None)):
            raise TypeError(
                f"revocation_store must be a RevocationStore, not {type(store).__name__}"
            )
        on_failure = options.get("on_revocation_failure", "admit")
        if on_failure not in ("admit", "refuse"):
            raise ValueError(
                f"on_revocation_failure must be 'admit' or 'refuse', not {on_failure!r}"
            )
        return cls(
            client_id=client_id,
            tenant=tenant,
            allowed_tenants=allowed,
            tenant_policy=tenant_policy,
            audiences=audience_set,
            authority=origin,
            metadata_url=metadata_url,
            # B2C user flow names are case-insensitive (`B2C_1_SignIn` is `b2c_1_signin`).
            allowed_user_flows=frozenset(
                flow.lower() for flow in _strings("allowed_user_flows", user_flows)
            )
            if user_flows is not None
            else None,
            allow_guest_users=bool(options.get("allow_guest_users", True)),
            allowed_client_ids=_strings("allowed_client_ids", client_ids)
            if client_ids is not None
            else None,
            accept_v1_tokens=accept_v1,
            accept_id_tokens=bool(options.get("accept_id_tokens", False)),
            allow_acl_tokens=bool(options.get("allow_acl_tokens", False)),
            custom_signing_keys=bool(options.get("custom_signing_keys", False)),
            clock_skew=clock_skew,
            clock=clock,
            http_client=options.get("http_client"),
            allowed_algorithms=algorithms,
            max_token_length=max_token_length,
            refresh_interval=interval,
            kid_miss_cooldown=_duration("kid_miss_cooldown", options.get("kid_miss_cooldown", 30)),
            max_stale=stale,
            fetch_timeout=_duration(
                "fetch_timeout", options.get("fetch_timeout", 5), positive=True
            ),
            max_document_bytes=_limit(
                "max_document_bytes", options.get("max_document_bytes", 1024 * 1024)
            ),
            max_cached_tokens=cache_entries,
            max_token_cache_bytes=cache_bytes,
            shared_key_cache=_shared_key_cache(options.get("shared_key_cache")),
            revocation_store=store,
            on_revocation_failure=on_failure,
            revocation_timeout=_duration(
                "revocation_timeout", options.get("revocation_timeout", 0.5), positive=True
            ),
            telemetry=telemetry or Telemetry(),
        )

    @property
    def flavour(self) -> Flavour:
        """The identity product: B2C and External ID by their hosts or user-flow paths."""
        if self.metadata_url is None:
            return flavour_of(host=self.authority.host, metadata_path=None)
        parts = urlsplit(self.metadata_url)
        return flavour_of(host=self.authority.host, metadata_path=f"{parts.path}/{parts.query}")

    @property
    def metadata_urls(self) -> tuple[str, str | None]:
        """The OpenID metadata documents to fetch: v2.0 (or `metadata_url`), and v1 if any.

        External ID serves no v1 metadata (its `/.well-known/openid-configuration` fails),
        and personal accounts get v2 tokens only: no v1 issuer to learn for either.
        """
        if self.metadata_url is not None:
            return self.metadata_url, None
        base = f"{self.authority.url}/{quote(str(self.tenant), safe='')}"
        v1 = self.accept_v1_tokens and self.tenant.has_v1_issuer
        return (
            f"{base}/v2.0/.well-known/openid-configuration",
            f"{base}/.well-known/openid-configuration"
            if v1 and self.flavour is Flavour.WORKFORCE
            else None,
        )

    def now(self) -> float:
        """The current UNIX time by the configured clock, for token lifetimes."""
        return (self.clock or time.time)()


def _metadata_origin(metadata_url: object, options: ValidatorOptions) -> tuple[Origin, Flavour]:
    """The origin every document of `metadata_url` must come from, and its flavour."""
    if not isinstance(metadata_url, str):
        raise TypeError(f"metadata_url must be a string, not {type(metadata_url).__name__}")
    try:
        origin = Origin.of(metadata_url)
    except ValueError as exc:
        raise ValueError(f"metadata_url {exc}") from None
    if "authority" in options and Origin.of(str(options["authority"])) != origin:
        raise ValueError("metadata_url and authority name different origins; give only one")
    parts = urlsplit(metadata_url)
    if parts.fragment or not parts.path.strip("/"):
        raise ValueError(f"metadata_url {metadata_url!r} must name an OpenID metadata document")
    return origin, flavour_of(host=origin.host, metadata_path=f"{parts.path}/{parts.query}")


def _metadata_tenant(metadata_url: str, tenant: object) -> Tenant:
    """The tenant a `metadata_url` is for.

    `tenant=`, else its first tenant-like path segment (`{tenant}.onmicrosoft.com`, a
    GUID), else its host (a custom domain).
    """
    if tenant is not None:
        parsed = Tenant.parse(tenant)
        if parsed.is_keyword:
            raise ValueError(f"tenant {str(parsed)!r} cannot be used with metadata_url")
        return parsed
    parts = urlsplit(metadata_url)
    for candidate in (*parts.path.split("/"), parts.hostname or ""):
        try:
            parsed = Tenant.parse(candidate)
        except ValueError:
            continue
        if not parsed.is_keyword:
            return parsed
    raise ValueError(f"metadata_url {metadata_url!r} names no tenant: give tenant= too")


def _duration(name: str, value: float, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {kind} finite number of seconds, not {value!r}")
    return float(value)


def _shared_key_cache(value: object) -> SharedKeyCache | None:
    if value is not None and not isinstance(value, SharedKeyCache):
        raise TypeError(f"shared_key_cache must be a SharedKeyCache, not {type(value).__name__}")
    return value


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
