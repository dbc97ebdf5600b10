"""The local issuer's sign-in: OAuth 2.0 authorize and token endpoints for fake accounts.

Authorization code with PKCE (S256, required) for registered clients, and client credentials
for confidential ones; errors as RFC 6749 §4.1.2.1 (on the redirect) and §5.2 (JSON) say.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import httpx

from ._accounts import LocalClient, LocalUser, default_users
from ._assertion import assertion_client_id, check_client_assertion
from ._oauth import (
    NO_STORE,
    OAuthError,
    Reply,
    basic_credentials,
    form_params,
    required,
    s256,
)
from ._page import error_page, sign_in_page

if TYPE_CHECKING:
    from ._issuer import LocalIssuer

__all__ = ["SignIn"]

_ROUTE = re.compile(r"/(?P<tenant>[^/]+)/oauth2/v2\.0/(?P<endpoint>authorize|token)")
_OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
_KEYWORDS = ("common", "organizations", "consumers")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest (RFC 7636 §4.2)
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_TOKEN_LIFETIME = 3600
_FORM_LIFETIME = 600.0  # seconds a sign-in page can be submitted: time to read and choose
_MAX_PENDING = 1000  # sign-in pages awaiting an answer; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class _Request:
    """A checked authorization request."""

    client: LocalClient
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Grant:
    """What an authorization code stands for, until it is spent or expires."""

    request: _Request
    user: LocalUser
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Pending:
    """A sign-in page shown and not yet answered: what its form's CSRF token stands for."""

    request: _Request
    reply: Reply
    tenant: str
    expires_at: float


class SignIn:
    """The authorize and token endpoints of one `LocalIssuer`, with its accounts and clients.

    Args:
        issuer: The issuer whose tokens it hands out.
        code_lifetime: Seconds an authorization code stays redeemable.
    """

    def __init__(self, issuer: LocalIssuer, *, code_lifetime: float) -> None:
        self.issuer = issuer
        self.code_lifetime = code_lifetime
        self.users = default_users()
        self.clients: dict[str, LocalClient] = {}
        self._codes: dict[str, _Grant] = {}
        self._pending: dict[str, _Pending] = {}  # by CSRF token
        self._lock = threading.Lock()  # the loopback server answers from several threads

    @property
    def api(self) -> str:
        """The Application ID URI of the issuer's API, the prefix of its scopes."""
        return f"api://{self.issuer.client_id}"

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        """The answer to a request for an authorize or token endpoint; `None` for others."""
        match = _ROUTE.fullmatch(request.url.path)
        if match is None:
            return None
        if match["endpoint"] == "token":
            return self._token_endpoint(request, match["tenant"])
        return self._authorize_endpoint(request, match["tenant"])

    # -- authorize -------------------------------------------------------------------------

    def _authorize_endpoint(self, request: httpx.Request, tenant: str) -> httpx.Response:
        if request.method not in ("GET", "POST"):
            return error_page(405, "The authorize endpoint answers GET and POST only.")
        try:
            params = form_params(request.url.query if request.method == "GET" else request.content)
        except OAuthError as exc:
            return error_page(400, exc.description)
        if request.method == "POST":
            return self._decide(params)
        resolved = self.issuer.resolve_tenant(tenant)
        if resolved is None:
            return error_page(400, f"There is no tenant {tenant!r} on this issuer.")
        # RFC 6749 §4.1.2.1: without a known client and its exact redirect URI, tell the
        # user; never send anything to an unchecked URI.
        client_id = params.get("client_id")
        client = self.clients.get(client_id or "")
        if client is None:
            missing = client_id is None
            return error_page(
                400,
                "client_id is required." if missing else f"No application {client_id!r} is known.",
            )
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return error_page(
                400,
                f"The redirect URI {redirect_uri!r} is not registered for application "
                f"{client.client_id!r}; registered: {', '.join(client.redirect_uris) or 'none'}.",
            )
        reply = Reply(redirect_uri, params.get("state"), params.get("response_mode") == "fragment")
        try:
            checked = self._authorization_request(params, client, resolved)
        except OAuthError as exc:
            return reply.error(exc)
        return sign_in_page(
            action=request.url.path,
            csrf_token=self._remember(checked, reply, resolved),
            users=self._accounts_of(resolved),
            client_id=client.client_id,
            api=self.api,
            scopes=checked.scopes,
        )

    def _remember(self, request: _Request, reply: Reply, tenant: str) -> str:
        """Keep a shown page's request until its form is posted; returns its CSRF token."""
        now = self.issuer.clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._pending = {t: p for t, p in self._pending.items() if p.expires_at > now}
            while len(self._pending) >= _MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[token] = _Pending(request, reply, tenant, now + _FORM_LIFETIME)
        return token

    def _decide(self, params: Mapping[str, str]) -> httpx.Response:
        """The user's answer on a sign-in page this issuer showed, at most once per page.

        The form's CSRF token stands for the checked request: what the page asked is what is
        granted, whatever else the post carries, and a post no page of ours made is refused.
        """
        with self._lock:
            pending = self._pending.pop(params.get("csrf_token", ""), None)
        if pending is None or pending.expires_at <= self.issuer.clock():
            return error_page(
                403,
                "This sign-in form was not shown by this issuer, was already answered, or has "
                "expired. Start the sign-in again from the application.",
            )
        try:
            if params.get("decision") != "accept":
                raise OAuthError("access_denied", "The user declined to consent.")
            user = self._accounts_of(pending.tenant).get(params.get("user", ""))
            if user is None:
                raise OAuthError("invalid_request", "No such account for this tenant.")
            code = self._issue_code(pending.request, user)
        except OAuthError as exc:
            return pending.reply.error(exc)
        return pending.reply.send(code=code)

    def _authorization_request(
        self, params: Mapping[str, str], client: LocalClient, tenant: str
    ) -> _Request:
        response_type = params.get("response_type")
        if response_type is None:
            raise OAuthError("invalid_request", "response_type is required.")
        if response_type != "code":
            raise OAuthError("unsupported_response_type", "Only response_type=code is served.")
        if params.get("response_mode", "query") not in ("query", "fragment"):
            raise OAuthError("invalid_request", "response_mode must be query or fragment.")
        challenge = params.get("code_challenge")
        if challenge is None:
            raise OAuthError("invalid_request", "PKCE is required: send a code_challenge.")
        if params.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256.")
        if not _CHALLENGE.fullmatch(challenge):
            raise OAuthError("invalid_request", "code_challenge is not a base64url SHA-256.")
        scopes = self._api_scopes(params.get("scope"), app_only=False)
        return _Request(client, params["redirect_uri"], challenge, scopes)

    def _accounts_of(self, tenant: str) -> dict[str, LocalUser]:
        """The accounts that may sign in through `tenant` (a tenant id or a keyword)."""
        home = self.issuer.tenant_id  # read now: a test may have changed it since
        accounts = {
            key: user if user.tenant_id else replace(user, tenant_id=home)
            for key, user in self.users.items()
        }
        if tenant == "common":
            return accounts
        return {
            key: user
            for key, user in accounts.items()
            if (tenant == "organizations" and not user.is_personal)
            or (tenant == "consumers" and user.is_personal)
            or user.tenant_id == tenant
        }

    def _issue_code(self, request: _Request, user: LocalUser) -> str:
        now = self.issuer.clock()
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes = {c: g for c, g in self._codes.items() if g.expires_at > now}
            self._codes[code] = _Grant(request, user, now + self.code_lifetime)
        return code

    # -- token -----------------------------------------------------------------------------

    def _token_endpoint(self, request: httpx.Request, tenant: str) -> httpx.Response:
        cors = self._cors(request)
        if request.method == "OPTIONS":
            return self._preflight(request, cors)
        try:
            body = self._token_response(request, tenant)
        except OAuthError as exc:
            document = {"error": exc.error, "error_description": exc.description}
            headers = {**cors, **exc.headers, **NO_STORE}
            return httpx.Response(exc.status, json=document, headers=headers)
        return httpx.Response(200, json=body, headers={**cors, **NO_STORE})

    def _token_response(self, request: httpx.Request, tenant: str) -> dict[str, object]:
        if request.method != "POST":
            raise OAuthError("invalid_request", "The token endpoint answers POST only.", status=405)
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "Send the form as x-www-form-urlencoded.")
        params = form_params(request.content)
        resolved = self.issuer.resolve_tenant(tenant)
        if resolved is None:
            raise OAuthError("invalid_request", f"There is no tenant {tenant!r} on this issuer.")
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant_type not in ("authorization_code", "client_credentials"):
            raise OAuthError(
                "unsupported_grant_type",
                "Only authorization_code and client_credentials are served.",
            )
        client = self._authenticate(request, params)
        if grant_type == "authorization_code":
            return self._redeem(params, client)
        return self._client_credentials(params, client, resolved)

    def _authenticate(self, request: httpx.Request, params: Mapping[str, str]) -> LocalClient:
        """The calling client, by its secret (Basic or form), a client assertion, or its id."""
        if "client_assertion" in params or "client_assertion_type" in params:
            return self._assertion_client(request, params)
        authorization = request.headers.get("authorization")
        basic = authorization is not None
        secret: str | None
        if authorization is not None:
            if "client_secret" in params:
                raise OAuthError("invalid_request", "Authenticate the client one way only.")
            client_id, secret = basic_credentials(authorization)
            if params.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id differs from the credentials.")
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client", f"No application {client_id!r} is registered.", status=401,
                basic=basic,
            )  # fmt: skip
        if not client.is_confidential and secret is not None:
            raise OAuthError(
                "invalid_client", "A public client must not send a secret.", status=401,
                basic=basic,
            )  # fmt: skip
        if client.is_confidential and not (
            secret is not None
            and client.secret is not None
            and hmac.compare_digest(secret.encode(), client.secret.encode())
        ):
            raise OAuthError(
                "invalid_client", "The client secret is missing or wrong.", status=401,
                basic=basic,
            )  # fmt: skip
        return client

    def _assertion_client(self, request: httpx.Request, params: Mapping[str, str]) -> LocalClient:
        """The client whose certificate signed `client_assertion` for this token endpoint."""
        if "authorization" in request.headers or "client_secret" in params:
            raise OAuthError("invalid_request", "Authenticate the client one way only.")
        client_id = params.get("client_id") or assertion_client_id(
            params.get("client_assertion", "")
        )
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client",
                f"AADSTS700016: Application with identifier {client_id!r} was not found.",
                status=401,
            )
        endpoint = str(request.url.copy_with(query=None))
        check_client_assertion(client, params, audiences=[endpoint], now=self.issuer.clock())
        return client

    def _redeem(self, params: Mapping[str, str], client: LocalClient) -> dict[str, object]:
        code, redirect_uri = required(params, "code"), required(params, "redirect_uri")
        verifier = required(params, "code_verifier")
        with self._lock:  # a code is spent by its first redemption (RFC 6749 §4.1.2)
            grant = self._codes.pop(code, None)
        if grant is None:
            raise OAuthError("invalid_grant", "The code is unknown or was already used.")
        if grant.expires_at <= self.issuer.clock():
            raise OAuthError("invalid_grant", "The code has expired.")
        if grant.request.client.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The code was issued to another client.")
        if grant.request.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization's.")
        if not hmac.compare_digest(s256(verifier), grant.request.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")
        user = grant.user
        token = self.issuer.token(
            tenant_id=user.tenant_id,
            scopes=grant.request.scopes,
            roles=user.roles or None,
            client_id=client.client_id,
            lifetime=_TOKEN_LIFETIME,
            claims={
                "oid": user.object_id,
                "sub": s256(f"{user.object_id}/{client.client_id}"),  # pairwise, as Entra
                "name": user.name,
                "preferred_username": user.username,
            },
        )
        return _token_body(token, [f"{self.api}/{scope}" for scope in grant.request.scopes])

    def _client_credentials(
        self, params: Mapping[str, str], client: LocalClient, tenant: str
    ) -> dict[str, object]:
        if not client.is_confidential:
            raise OAuthError(
                "unauthorized_client", "A public client cannot use client credentials."
            )
        if tenant in _KEYWORDS:
            raise OAuthError(
                "invalid_request",
                f"Client credentials need a tenant id or domain in the path, not {tenant!r}.",
            )
        self._api_scopes(params.get("scope"), app_only=True)
        service_principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{client.client_id}"))
        token = self.issuer.token(
            app_only=True,
            tenant_id=tenant,
            roles=client.roles or None,
            client_id=client.client_id,
            lifetime=_TOKEN_LIFETIME,
            claims={"oid": service_principal, "sub": service_principal},
        )
        return _token_body(token, [f"{self.api}/.default"])

    # -- shared ----------------------------------------------------------------------------

    def _api_scopes(self, scope: str | None, *, app_only: bool) -> tuple[str, ...]:
        """The API's scopes named in `scope`, by short name; OpenID Connect scopes are skipped.

        Entra issues a token for one resource at a time: every other scope is refused.
        """
        if scope is None:
            raise OAuthError("invalid_request", "scope is required.")
        api_id = self.issuer.client_id
        names: list[str] = []
        for item in scope.split(" "):
            if not item or (item in _OIDC_SCOPES and not app_only):
                continue
            name = next(
                (item[len(p) :] for p in (f"{self.api}/", f"{api_id}/") if item.startswith(p)),
                "",
            )
            if not _SCOPE_TOKEN.fullmatch(name) or "/" in name:
                raise OAuthError(
                    "invalid_scope",
                    f"{item!r} is not a scope of {self.api}, the only API of this issuer.",
                )
            names.append(name)
        if app_only and names != [".default"]:
            raise OAuthError("invalid_scope", f"Client credentials take scope {self.api}/.default.")
        if not app_only and (not names or ".default" in names):
            raise OAuthError(
                "invalid_scope",
                f"Name the scopes of {self.api} to consent to, like {self.api}/access_as_user.",
            )
        return tuple(dict.fromkeys(names))

    def trusted_origins(self, path: str) -> frozenset[str]:
        """The browser origins, besides the issuer's own, that may post to `path`.

        At the token endpoint, those of registered redirect URIs, where single-page apps
        redeem their codes (CORS, as Entra allows them); none anywhere else.
        """
        match = _ROUTE.fullmatch(path)
        if match is None or match["endpoint"] != "token":
            return frozenset()
        return frozenset().union(*(client.origins for client in list(self.clients.values())))

    def _cors(self, request: httpx.Request) -> dict[str, str]:
        """CORS headers for an origin of a registered redirect URI, as Entra gives SPAs."""
        origin = request.headers.get("origin")
        if origin is None or origin not in self.trusted_origins(request.url.path):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _preflight(self, request: httpx.Request, cors: Mapping[str, str]) -> httpx.Response:
        if not cors:
            document = {
                "error": "invalid_request",
                "error_description": "This origin is not that of a registered redirect URI.",
            }
            return httpx.Response(403, json=document)
        asked = request.headers.get("access-control-request-headers", "").split(",")
        allowed = ", ".join(n.strip() for n in asked if _HEADER_NAME.fullmatch(n.strip()))
        headers = {
            **cors,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": allowed,
            "Access-Control-Max-Age": "600",
        }
        return httpx.Response(204, headers=headers)


def _token_body(token: str, scopes: list[str]) -> dict[str, object]:
    return {
        "token_type": "Bearer",
        "scope": " ".join(scopes),
        "expires_in": _TOKEN_LIFETIME,
        "ext_expires_in": _TOKEN_LIFETIME,
        "access_token": token,
    }
