"""LocalIssuer: an Entra ID look-alike that serves metadata and keys and mints tokens.

The issuer routes requests and holds what a test changes; the parts live beside it: keys
(`_keyset.py`), faults (`_faults.py`), minting (`_minting.py`), metadata (`_metadata.py`),
the sign-in (`_signin.py`) and the mint endpoint (`_mint_endpoint.py`). Metadata building
and token claims are extension points (`metadata=`, `claim_rules=`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import httpx

from .._fetch import Origin
from .._tenant import ISSUER_PLACEHOLDER, KEYWORDS, Tenant, TenantKind, is_guid
from .._tenant import MSA_TENANT_ID as _MSA_TENANT_ID
from .._version import TokenVersion
from ._faults import Document, Fault, FaultKind, document_kind, json_response, misbehave
from ._keys import LocalKey
from ._keyset import KeySet
from ._metadata import MetadataBuilder, MetadataRequest, entra_metadata
from ._mint_endpoint import MINT_PATH, mint_response
from ._minting import (
    DEFAULT_CALLER_CLIENT_ID,
    ClaimRule,
    TokenSpec,
    access_token_claims,
    sign_jws,
)
from ._signin import SignIn

__all__ = [
    "DEFAULT_API_CLIENT_ID",
    "DEFAULT_CALLER_CLIENT_ID",
    "DEFAULT_TENANT_ID",
    "MSA_TENANT_ID",
    "LocalIssuer",
]

MSA_TENANT_ID: Final = _MSA_TENANT_ID
"""The tenant of every personal Microsoft account (`personal=True` tokens carry it)."""
DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000a001"
"""The local issuer's home tenant, a made-up work/school tenant."""
DEFAULT_API_CLIENT_ID = "6e5a2b8c-0000-4000-8000-0000000a0001"
"""The client id of the API the local tokens are addressed to by default."""

# The v1 issuer host of each cloud, which the v1 metadata names (Entra token reference).
_V1_ISSUER_ORIGINS = MappingProxyType(
    {
        "https://login.microsoftonline.com": "https://sts.windows.net",
        "https://login.microsoftonline.us": "https://login.microsoftonline.us",
        "https://login.chinacloudapi.cn": "https://sts.chinacloudapi.cn",
    }
)
_V2_ISSUER_ORIGINS = MappingProxyType(
    {"https://login.chinacloudapi.cn": "https://login.partner.microsoftonline.cn"}
)
_ROUTES = re.compile(
    r"/(?P<tenant>[^/]+)/(?:(?P<v2meta>v2\.0/)?\.well-known/openid-configuration"
    r"|discovery/(?:v2\.0/)?keys)"
)
_STRANGER_TENANT_ID = "00000000-0000-4000-8000-00000000dead"


class LocalIssuer:
    """A local stand-in for Microsoft Entra ID, for tests and development without a tenant.

    It has its own RSA keys and serves v1 and v2 OpenID metadata and JWKS for any tenant on the
    configured authority's URLs, as an httpx transport (`transport`, `client()`). It counts
    requests, rotates keys (`keys`), simulates outages and bad answers (`simulate`), signs
    users in (`signin`), and mints v1/v2, delegated or app-only, work or personal-account
    tokens whose every claim can be changed (`token`).

    Args:
        authority: The origin it impersonates. Default `https://login.microsoftonline.com`.
        tenant_id: The home tenant of minted tokens. Default `DEFAULT_TENANT_ID`.
        client_id: The API that minted tokens are addressed to. Default
            `DEFAULT_API_CLIENT_ID`.
        domains: Verified domains and the tenant id each belongs to.
        clock: Returns UNIX seconds, for `iat`/`nbf`/`exp`. Default `time.time`.
        code_lifetime: Seconds an authorization code of the sign-in stays redeemable.
            Default 60.
        token_lifetime: Seconds the access and ID tokens of the sign-in (token endpoint)
            are valid for. Default 3600.
        metadata: Builds each OpenID metadata document. Default `entra_metadata`.
        claim_rules: Add claims to every access token, in order (see `ClaimRule`).

    Attributes:
        authority: The origin it impersonates, normalised.
        tenant_id: The home tenant; change it to move the issuer to another tenant.
        client_id: The API's client id, the default audience.
        domains: Verified domain names (lower case) and the tenant id of each.
        clock: The issuer's clock.
        keys: Its signing keys: listed, signing, rotation (`KeySet`).
        signin: Its sign-in: accounts, registered clients, lifetimes (`SignIn`).
        requests: Every `httpx.Request` it answered, oldest first.
        transport: The `httpx.MockTransport` that answers in-process.
    """

    def __init__(
        self,
        *,
        authority: str = "https://login.microsoftonline.com",
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_API_CLIENT_ID,
        domains: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        code_lifetime: float = 60,
        token_lifetime: float = 3600,
        metadata: MetadataBuilder = entra_metadata,
        claim_rules: Sequence[ClaimRule] = (),
    ) -> None:
        if not is_guid(tenant_id):
            raise ValueError(f"tenant_id {tenant_id!r} is not a lower-case GUID")
        self.authority = Origin.of(authority).url
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.domains = {name.lower(): tid for name, tid in (domains or {}).items()}
        self.clock = clock or time.time
        self._v1_origin = _V1_ISSUER_ORIGINS.get(self.authority, self.authority)
        self._v2_origin = _V2_ISSUER_ORIGINS.get(self.authority, self.authority)
        self._metadata = metadata
        self._claim_rules = tuple(claim_rules)
        self.keys = KeySet(issuer_template=f"{self._v2_origin}/{ISSUER_PLACEHOLDER}/v2.0")
        self.requests: list[httpx.Request] = []
        self._fault: Fault | None = None
        self.transport = httpx.MockTransport(self.handle)
        self.signin = SignIn(self, code_lifetime=code_lifetime, token_lifetime=token_lifetime)

    # -- tenants and metadata --------------------------------------------------------------

    def resolve_tenant(self, tenant: str) -> str | None:
        """The tenant id behind a path segment: a GUID, a known domain, or a keyword."""
        tenant = tenant.lower()
        if tenant in KEYWORDS or is_guid(tenant):
            return tenant
        return self.domains.get(tenant)

    def issuer(self, tenant_id: str, *, version: str = "2.0") -> str:
        """The issuer of a token of `tenant_id` (or the template for a keyword tenant)."""
        segment = tenant_id  # one tenant: its id
        if tenant_id in KEYWORDS:  # every personal account lives in one tenant; others vary
            consumers = Tenant.parse(tenant_id).kind is TenantKind.CONSUMERS
            segment = MSA_TENANT_ID if consumers else ISSUER_PLACEHOLDER
        if version == "1.0":
            return f"{self._v1_origin}/{segment}/"
        return f"{self._v2_origin}/{segment}/v2.0"

    def metadata(
        self, tenant: str, *, version: str = "2.0", query: Mapping[str, str] | None = None
    ) -> dict[str, object]:
        """The OpenID metadata document of `tenant`, as the `metadata` builder makes it.

        `query` is the request's query string (a B2C user flow's `p=`, say), empty by default.
        """
        tenant_id = self.resolve_tenant(tenant) or tenant
        return self._metadata(
            MetadataRequest(
                self.authority,
                tenant,
                issuer=self.issuer(tenant_id, version=version),
                version=version,
                keyword=tenant_id in KEYWORDS,
                query=MappingProxyType(dict(query or {})),
            )
        )

    # -- faults ----------------------------------------------------------------------------

    def simulate(
        self,
        fault: FaultKind | None,
        *,
        only: Document | None = None,
        delay: float = 1.0,
        status: int = 500,
        retry_after: float | None = None,
    ) -> None:
        """Misbehave from now on, for every document or `only` one kind; `None` heals.

        Args:
            fault: `down` (connection refused), `slow` (answer after `delay` s), `hang`
                (never answer), `status` (answer `status`, with `Retry-After` if given),
                `not_json`, `truncated`, `huge` (2 MiB), `redirect` (to another host),
                `foreign_jwks_uri`, `empty_keys`, `wrong_issuer` (another tenant's).
            only: `"metadata"` or `"jwks"` to break one kind of document only.
            delay: The seconds a `slow` answer waits.
            status: The HTTP status a `status` fault answers.
            retry_after: The `Retry-After` seconds a `status` fault sends, if any.
        """
        self._fault = None if fault is None else Fault(fault, only, delay, status, retry_after)

    # -- requests --------------------------------------------------------------------------

    def count(self, document: Document | None = None) -> int:
        """How many requests were made, for one kind of document or in all."""
        if document is None:
            return len(self.requests)
        return sum(1 for r in self.requests if document_kind(r.url.path) == document)

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` that reaches this issuer in-process; the caller closes it."""
        return httpx.AsyncClient(transport=self.transport, **kwargs)  # type: ignore[arg-type]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Entra would (or as the simulated fault says)."""
        self.requests.append(request)
        document = document_kind(request.url.path)
        fault = self._fault
        if fault is not None and document is not None and fault.applies_to(document):
            response = await misbehave(
                fault,
                request,
                document,
                answer=lambda: self._answer(request),
                stranger_issuer=self._stranger_issuer,
            )
            if response is not None:
                return response
        return self._answer(request)

    def _stranger_issuer(self, version: str) -> str:
        """The issuer of a tenant nobody configured, for the `wrong_issuer` fault."""
        return self.issuer(_STRANGER_TENANT_ID, version=version)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        match = _ROUTES.fullmatch(request.url.path)
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        if request.url.path == MINT_PATH and origin == self.authority:
            return mint_response(self, request)
        signin = self.signin.answer(request) if origin == self.authority else None
        if signin is not None:
            return signin
        if request.method != "GET" or match is None or origin != self.authority:
            return json_response(404, {"error": "not_found"})
        tenant = match["tenant"]
        if self.resolve_tenant(tenant) is None:
            return json_response(400, {"error": "invalid_tenant"})
        if request.url.path.endswith("/keys"):
            return json_response(200, self.keys.jwks(app_id=request.url.params.get("appid")))
        version = "2.0" if match["v2meta"] else "1.0"
        query = dict(request.url.params.items())
        return json_response(200, self.metadata(tenant, version=version, query=query))

    # -- tokens ----------------------------------------------------------------------------

    def token(
        self,
        *,
        version: TokenVersion = "2.0",
        tenant_id: str | None = None,
        personal: bool = False,
        scopes: Iterable[str] | None = ("access_as_user",),
        roles: Iterable[str] | None = None,
        app_only: bool = False,
        audience: str | None = None,
        client_id: str = DEFAULT_CALLER_CLIENT_ID,
        lifetime: float = 3600,
        issued_at: float | None = None,
        claims: Mapping[str, object] | None = None,
        remove: Iterable[str] = (),
        headers: Mapping[str, object] | None = None,
        key: LocalKey | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """Mint a signed access token; every claim can be overridden or removed.

        Args:
            version: `"2.0"` (default) or `"1.0"`, which sets issuer, `ver` and claim names.
            tenant_id: The token's tenant. Default: the issuer's home tenant.
            personal: A personal Microsoft account (the MSA tenant; v2 only).
            scopes: Delegated scopes (`scp`). Ignored when `app_only`.
            roles: App roles (`roles`).
            app_only: An app-only (client credentials) token: no `scp`, `idtyp` "app".
            audience: `aud`. Default: the API's client id (v2) or `api://` + it (v1).
            client_id: The calling application (`azp` in v2, `appid` in v1).
            lifetime: Seconds from `issued_at` to `exp`. Default 3600.
            issued_at: `iat` and `nbf`. Default: now, from the issuer's clock.
            claims: Claims to add or replace, after the defaults and the claim rules.
            remove: Claims to leave out.
            headers: The JOSE header members besides `alg` and `typ`. Default `kid` (and,
                for v1, `x5t`) of the signing key.
            key: The key to sign with. Default: `keys.signing`.
            algorithm: The JWS algorithm. Default `RS256`.
        """
        return self.mint(
            TokenSpec(
                version=version,
                tenant_id=tenant_id,
                personal=personal,
                scopes=None if scopes is None else tuple(scopes),
                roles=None if roles is None else tuple(roles),
                app_only=app_only,
                audience=audience,
                client_id=client_id,
                lifetime=lifetime,
                issued_at=issued_at,
                claims=dict(claims or {}),
                remove=tuple(remove),
                headers=headers,
                key=key,
                algorithm=algorithm,
            )
        )

    def mint(self, spec: TokenSpec) -> str:
        """Mint the access token `spec` describes: `token()` with its arguments as a value."""
        tenant_id = MSA_TENANT_ID if spec.personal else (spec.tenant_id or self.tenant_id)
        payload = access_token_claims(
            spec,
            tenant_id=tenant_id,
            api_client_id=self.client_id,
            issuer=self.issuer(tenant_id, version=spec.version),
            now=self.clock(),
        )
        for rule in self._claim_rules:
            payload.update(rule(spec, dict(payload)))
        payload.update(spec.claims)
        for name in spec.remove:
            payload.pop(name, None)
        signer = spec.key or self.keys.signing
        headers = spec.headers
        if headers is None:
            headers = (
                {"kid": signer.kid}
                if spec.version == "2.0"
                else {"kid": signer.kid, "x5t": signer.kid}
            )
        return self.sign(payload, headers=headers, key=signer, algorithm=spec.algorithm)

    def sign(
        self,
        payload: Mapping[str, object],
        *,
        headers: Mapping[str, object] | None = None,
        key: LocalKey | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """Sign any header and payload as they are, even ones no validator should accept.

        `alg` is set to `algorithm` unless `headers` names another; the signature is always
        made with `algorithm` (an RSA algorithm), so hostile headers can be tested.
        """
        signer = key or self.keys.signing
        header = {
            "alg": algorithm,
            "typ": "JWT",
            **(headers if headers is not None else {"kid": signer.kid}),
        }
        return sign_jws(header, payload, signer, algorithm)
