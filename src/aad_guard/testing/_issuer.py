"""LocalIssuer: an Entra ID look-alike that serves metadata and keys and mints tokens."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import anyio
import httpx
from cryptography import x509
from jwt.algorithms import get_default_algorithms

from .._fetch import Origin
from .._policy import MSA_TENANT_ID, is_guid
from ._accounts import LocalClient, LocalUser
from ._assertion import load_certificate
from ._keys import LocalKey, new_key
from ._metadata import metadata_document
from ._mint import MINT_PATH, mint_response
from ._signin import SignIn

__all__ = [
    "DEFAULT_API_CLIENT_ID",
    "DEFAULT_CALLER_CLIENT_ID",
    "DEFAULT_TENANT_ID",
    "MSA_TENANT_ID",
    "Fault",
    "LocalIssuer",
]

DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000a001"
"""The local issuer's home tenant, a made-up work/school tenant."""
DEFAULT_API_CLIENT_ID = "6e5a2b8c-0000-4000-8000-0000000a0001"
"""The client id of the API the local tokens are addressed to by default."""
DEFAULT_CALLER_CLIENT_ID = "0c1d2e3f-0000-4000-8000-0000000c0001"
"""The client id of the application that requests the local tokens by default."""

Fault = Literal[
    "down",
    "slow",
    "hang",
    "status",
    "not_json",
    "truncated",
    "huge",
    "redirect",
    "foreign_jwks_uri",
    "empty_keys",
    "wrong_issuer",
]
Document = Literal["metadata", "jwks"]

# The v1 issuer host of each cloud, which the v1 metadata names (Entra token reference).
_V1_ISSUER_ORIGINS = {
    "https://login.microsoftonline.com": "https://sts.windows.net",
    "https://login.microsoftonline.us": "https://login.microsoftonline.us",
    "https://login.chinacloudapi.cn": "https://sts.chinacloudapi.cn",
}
_V2_ISSUER_ORIGINS = {"https://login.chinacloudapi.cn": "https://login.partner.microsoftonline.cn"}
_ROUTES = re.compile(
    r"/(?P<tenant>[^/]+)/(?:(?P<v2meta>v2\.0/)?\.well-known/openid-configuration"
    r"|discovery/(?:v2\.0/)?keys)"
)
_KEYWORDS = ("common", "organizations", "consumers")
_STRANGER_TENANT_ID = "00000000-0000-4000-8000-00000000dead"


@dataclass(frozen=True, slots=True)
class _FaultState:
    fault: Fault
    only: Document | None
    delay: float
    status: int
    retry_after: float | None


class LocalIssuer:
    """A local stand-in for Microsoft Entra ID, for tests and development without a tenant.

    It has its own RSA keys and serves v1 and v2 OpenID metadata and JWKS for any tenant on the
    configured authority's URLs, as an httpx transport (`transport`, `client()`). It counts
    requests, rotates keys, simulates outages and bad answers, and mints v1/v2, delegated or
    app-only, work or personal-account tokens whose every claim can be changed.

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
    ) -> None:
        if not is_guid(tenant_id):
            raise ValueError(f"tenant_id {tenant_id!r} is not a lower-case GUID")
        self.authority = Origin.of(authority).url
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.domains = {name.lower(): tid for name, tid in (domains or {}).items()}
        self.clock = clock or time.time
        self.v1_issuer_origin = _V1_ISSUER_ORIGINS.get(self.authority, self.authority)
        self.v2_issuer_origin = _V2_ISSUER_ORIGINS.get(self.authority, self.authority)
        self._key_count = 0
        # Entra always lists more than one key: the signing key and the next one.
        self.keys: list[LocalKey] = [self._new_key(), self._new_key()]
        self.signing_key = self.keys[0]
        self.custom_keys: dict[str, LocalKey] = {}
        # The JWK `issuer` of a key, by kid; unlisted keys are bound to the v2 template.
        self.key_issuers: dict[str, str | None] = {}
        self.requests: list[httpx.Request] = []
        self._fault: _FaultState | None = None
        self.transport = httpx.MockTransport(self.handle)
        self.signin = SignIn(self, code_lifetime=code_lifetime, token_lifetime=token_lifetime)
        # The API's App ID URIs besides `api://<client_id>` (Entra's `identifierUris`), such
        # as an MCP server's resource URL: scopes may start with them, `resource` may be one.
        self.identifier_uris: list[str] = []

    # -- sign-in ---------------------------------------------------------------------------

    @property
    def users(self) -> dict[str, LocalUser]:
        """The accounts the sign-in page offers, by form key; add, replace or remove some."""
        return self.signin.users

    @property
    def token_lifetime(self) -> float:
        """Seconds the sign-in's access and ID tokens are valid for (`expires_in`)."""
        return self.signin.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        self.signin.token_lifetime = seconds

    def revoke_sign_ins(self, user: LocalUser | None = None) -> None:
        """Revoke the refresh tokens and sessions of `user` (by username), or of everyone.

        Removing an account from `users` revokes its refresh tokens too.
        """
        self.signin.revoke(user)

    @property
    def clients(self) -> dict[str, LocalClient]:
        """The registered applications, by client id (see `register_client`)."""
        return self.signin.clients

    def register_client(
        self,
        client_id: str,
        *,
        redirect_uris: Iterable[str] = (),
        secret: str | None = None,
        roles: Iterable[str] = (),
        certificate: x509.Certificate | bytes | str | None = None,
    ) -> LocalClient:
        """Register (or replace) an application that may sign users in or get app tokens.

        Args:
            client_id: Its application (client) id.
            redirect_uris: Where the authorize endpoint may send codes; matched exactly.
            secret: A client secret, making it a confidential client; `None` (default) is a
                public client (single-page or native app), unless it has a `certificate`.
            roles: App roles in its client-credentials tokens.
            certificate: A certificate credential (a `cryptography` certificate, or PEM):
                the client authenticates with a `client_assertion` signed by its key.

        Raises:
            ValueError: an empty client id or secret, a redirect URI that is not an
                absolute http(s) URI without a fragment, or a certificate that is not PEM.
        """
        if certificate is not None and not isinstance(certificate, x509.Certificate):
            certificate = load_certificate(certificate)
        client = LocalClient(client_id, tuple(redirect_uris), secret, tuple(roles), certificate)
        self.signin.clients[client_id] = client
        return client

    # -- keys ------------------------------------------------------------------------------

    def _new_key(self) -> LocalKey:
        key = new_key(self._key_count)
        self._key_count += 1
        return key

    def rotate_keys(self) -> LocalKey:
        """Publish a new key and sign with it from now on; older keys stay listed."""
        key = self._new_key()
        self.keys.append(key)
        self.signing_key = key
        return key

    def retire_key(self, kid: str) -> None:
        """Stop listing the key `kid` in the JWKS."""
        self.keys = [key for key in self.keys if key.kid != kid]

    def add_custom_key(self, app_id: str) -> LocalKey:
        """A custom signing key of app `app_id`, listed only when keys are asked `?appid=`."""
        key = self._new_key()
        self.custom_keys[app_id] = key
        return key

    def jwks(self, *, app_id: str | None = None) -> dict[str, list[dict[str, object]]]:
        """The JWKS as served: every listed key, bound to its issuer (`key_issuers`)."""
        listed = list(self.keys)
        if app_id is not None and app_id in self.custom_keys:
            listed.append(self.custom_keys[app_id])
        template = f"{self.v2_issuer_origin}/{{tenantid}}/v2.0"
        keys = []
        for key in listed:
            issuer = self.key_issuers.get(key.kid, template)
            keys.append(key.public_jwk() if issuer is None else key.public_jwk(issuer=issuer))
        return {"keys": keys}

    # -- metadata --------------------------------------------------------------------------

    def resolve_tenant(self, tenant: str) -> str | None:
        """The tenant id behind a path segment: a GUID, a known domain, or a keyword."""
        tenant = tenant.lower()
        if tenant in _KEYWORDS or is_guid(tenant):
            return tenant
        return self.domains.get(tenant)

    def issuer(self, tenant_id: str, *, version: str = "2.0") -> str:
        """The issuer of a token of `tenant_id` (or the template for a keyword tenant)."""
        segment = "{tenantid}" if tenant_id in ("common", "organizations") else tenant_id
        if tenant_id == "consumers":
            segment = MSA_TENANT_ID
        if version == "1.0":
            return f"{self.v1_issuer_origin}/{segment}/"
        return f"{self.v2_issuer_origin}/{segment}/v2.0"

    def metadata(self, tenant: str, *, version: str = "2.0") -> dict[str, object]:
        """The OpenID metadata document of `tenant`, shaped like Entra's."""
        tenant_id = self.resolve_tenant(tenant) or tenant
        return metadata_document(
            self.authority,
            tenant,
            issuer=self.issuer(tenant_id, version=version),
            version=version,
            keyword=tenant_id in _KEYWORDS,
        )

    # -- faults ----------------------------------------------------------------------------

    def simulate(
        self,
        fault: Fault | None,
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
        """
        self._fault = (
            None if fault is None else _FaultState(fault, only, delay, status, retry_after)
        )

    # -- requests --------------------------------------------------------------------------

    def count(self, document: Document | None = None) -> int:
        """How many requests were made, for one kind of document or in all."""
        if document is None:
            return len(self.requests)
        return sum(1 for r in self.requests if _kind(r.url.path) == document)

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` that reaches this issuer in-process; the caller closes it."""
        return httpx.AsyncClient(transport=self.transport, **kwargs)  # type: ignore[arg-type]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Entra would (or as the simulated fault says)."""
        self.requests.append(request)
        kind = _kind(request.url.path)
        fault = self._fault
        if fault is not None and kind is not None and fault.only in (None, kind):
            response = await self._misbehave(fault, request, kind)
            if response is not None:
                return response
        return self._answer(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        match = _ROUTES.fullmatch(request.url.path)
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        if request.url.path == MINT_PATH and origin == self.authority:
            return mint_response(self, request)
        signin = self.signin.answer(request) if origin == self.authority else None
        if signin is not None:
            return signin
        if request.method != "GET" or match is None or origin != self.authority:
            return _json(404, {"error": "not_found"})
        tenant = match["tenant"]
        if self.resolve_tenant(tenant) is None:
            return _json(400, {"error": "invalid_tenant"})
        if request.url.path.endswith("/keys"):
            return _json(200, self.jwks(app_id=request.url.params.get("appid")))
        return _json(200, self.metadata(tenant, version="2.0" if match["v2meta"] else "1.0"))

    async def _misbehave(
        self, fault: _FaultState, request: httpx.Request, kind: Document
    ) -> httpx.Response | None:
        if fault.fault == "down":
            raise httpx.ConnectError("connection refused (simulated)", request=request)
        if fault.fault == "slow":
            await anyio.sleep(fault.delay)
            return None
        if fault.fault == "hang":
            await anyio.sleep_forever()
        if fault.fault == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return _json(fault.status, {"error": "simulated"}, headers=headers)
        if fault.fault == "not_json":
            return httpx.Response(200, text="<html>Service Unavailable</html>")
        if fault.fault == "truncated":
            return httpx.Response(200, content=self._answer(request).content[:40])
        if fault.fault == "huge":
            return _json(200, {"keys": [], "padding": "x" * (2 * 1024 * 1024)})
        if fault.fault == "redirect":
            location = f"https://attacker.example{request.url.path}"
            return httpx.Response(302, headers={"Location": location})
        if kind == "metadata" and fault.fault in ("foreign_jwks_uri", "wrong_issuer"):
            document = json.loads(self._answer(request).content)
            if fault.fault == "foreign_jwks_uri":
                document["jwks_uri"] = "https://attacker.example/common/discovery/v2.0/keys"
            else:  # the same form, fixed to a tenant nobody configured
                version = "2.0" if document["issuer"].endswith("/v2.0") else "1.0"
                document["issuer"] = self.issuer(_STRANGER_TENANT_ID, version=version)
            return _json(200, document)
        if kind == "jwks" and fault.fault == "empty_keys":
            return _json(200, {"keys": []})
        return None

    # -- tokens ----------------------------------------------------------------------------

    def token(
        self,
        *,
        version: Literal["1.0", "2.0"] = "2.0",
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
            claims: Claims to add or replace, after the defaults.
            remove: Claims to leave out.
            headers: The JOSE header members besides `alg` and `typ`. Default `kid` (and,
                for v1, `x5t`) of the signing key.
            key: The key to sign with. Default: the current signing key.
            algorithm: The JWS algorithm. Default `RS256`.
        """
        if personal:
            tenant_id = MSA_TENANT_ID
        tenant_id = tenant_id or self.tenant_id
        now = self.clock() if issued_at is None else issued_at
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/local-user"))
        payload: dict[str, object] = {
            "aud": audience or (self.client_id if version == "2.0" else f"api://{self.client_id}"),
            "iss": self.issuer(tenant_id, version=version),
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + lifetime),
            "tid": tenant_id,
            "oid": user_id,
            "sub": f"local-{user_id[:8]}",
            "ver": version,
            "uti": uuid.uuid4().hex[:22],
        }
        payload["azp" if version == "2.0" else "appid"] = client_id
        if app_only:
            payload["idtyp"] = "app"
        else:
            if scopes is not None:
                payload["scp"] = " ".join(scopes)
            payload["name"] = "Local User"
            username = "local.user@example.com" if personal else "local.user@contoso.example"
            payload["preferred_username" if version == "2.0" else "upn"] = username
        if roles is not None:
            payload["roles"] = list(roles)
        payload.update(claims or {})
        for name in remove:
            payload.pop(name, None)
        signer = key or self.signing_key
        if headers is None:
            headers = (
                {"kid": signer.kid} if version == "2.0" else {"kid": signer.kid, "x5t": signer.kid}
            )
        return self.sign(payload, headers=headers, key=signer, algorithm=algorithm)

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
        signer = key or self.signing_key
        header = {
            "alg": algorithm,
            "typ": "JWT",
            **(headers if headers is not None else {"kid": signer.kid}),
        }
        segments = [_b64_json(header), _b64_json(payload)]
        signing_input = ".".join(segments).encode("ascii")
        signature = get_default_algorithms()[algorithm].sign(signing_input, signer.private_key)
        return ".".join([*segments, base64.urlsafe_b64encode(signature).decode().rstrip("=")])


def _b64_json(document: Mapping[str, object]) -> str:
    data = json.dumps(document, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _kind(path: str) -> Document | None:
    if path.endswith("/.well-known/openid-configuration"):
        return "metadata"
    if path.endswith("/keys"):
        return "jwks"
    return None


def _json(
    status: int, document: Mapping[str, object], *, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=document, headers=headers)
