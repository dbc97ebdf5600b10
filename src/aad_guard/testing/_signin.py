"""The local issuer's sign-in: OAuth 2.0 and OpenID Connect endpoints for fake accounts.

The authorize endpoint (PKCE S256 required; query, fragment and form_post answers; `prompt`
and `login_hint`), the device-code endpoint and its verification page, and the routing to
the token endpoint (`_token.py`); answers and errors shaped as Entra's (AADSTS codes,
`error_codes`, `trace_id`, `correlation_id`), so that MSAL and azure-identity work against
it as against Entra.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable, Mapping

import httpx
from cryptography import x509

from ._accounts import LocalClient, LocalUser, accounts_for, default_users, hinted_account
from ._assertion import load_certificate
from ._cors import cors_headers, preflight
from ._device import DeviceAuthorizations
from ._forms import Pending, PendingForms
from ._grants import AuthorizationRequest, Grant, authorization_request
from ._minting import Minter
from ._oauth import (
    NO_STORE,
    OAuthError,
    Reply,
    ResponseMode,
    form_params,
    posted_form,
    required,
)
from ._page import device_code_page, error_page, notice_page, sign_in_page
from ._scopes import delegated_scopes
from ._token import TokenEndpoint, unknown_client

__all__ = ["DEVICE_LOGIN_PATH", "SignIn"]

_ROUTE = re.compile(r"/(?P<tenant>[^/]+)/oauth2/v2\.0/(?P<endpoint>authorize|token|devicecode)")
DEVICE_LOGIN_PATH = "/devicelogin"
"""Where a user enters a device's code: the local `https://microsoft.com/devicelogin`."""
_RESPONSE_MODES: tuple[ResponseMode, ...] = ("query", "fragment", "form_post")
_DEVICE_LIFETIME = 900.0  # Entra's: 15 minutes to enter the code and sign in
_DEVICE_INTERVAL = 5  # seconds between polls, as Entra says


class SignIn:
    """The authorize, token and device-code endpoints of one `LocalIssuer`, as `issuer.signin`.

    What a test changes: `users` (the accounts offered), `register_client` and `clients`
    (the applications), `revoke` (sign-ins), `token_lifetime` and `code_lifetime`. The rest
    is what the endpoints share.

    Args:
        issuer: The issuer whose tokens it hands out.
        code_lifetime: Seconds an authorization code stays redeemable.
        token_lifetime: Seconds its access and ID tokens are valid for (`expires_in`).

    Attributes:
        users: The accounts the sign-in page offers, by form key; add, replace or remove
            some (removing one revokes its refresh tokens too).
        clients: The registered applications, by client id.
        code_lifetime: Seconds an authorization code stays redeemable.
        token_lifetime: Seconds the access and ID tokens are valid for.
        issuer: The issuer whose tokens it hands out.
        codes: Authorization codes not yet redeemed, by code.
        devices: The device-code flow's authorizations.
        tokens: The token endpoint, which also keeps the refresh tokens.
        lock: Guards what the endpoints share; the loopback server answers from threads.
    """

    def __init__(
        self, issuer: Minter, *, code_lifetime: float, token_lifetime: float = 3600
    ) -> None:
        self.issuer = issuer
        self.code_lifetime = code_lifetime
        self.token_lifetime = token_lifetime
        self.users = default_users()
        self.clients: dict[str, LocalClient] = {}
        self.codes: dict[str, Grant] = {}  # authorization codes, until redeemed
        self._sessions: set[str] = set()  # usernames signed in: what prompt=none may use
        self.devices: DeviceAuthorizations[tuple[AuthorizationRequest, str]] = (
            DeviceAuthorizations()
        )
        self.lock = threading.Lock()  # the loopback server answers from several threads
        self._forms = PendingForms(self.lock)
        self.tokens = TokenEndpoint(self)
        # The API's App ID URIs besides `api://<client_id>` (Entra's `identifierUris`), such
        # as an MCP server's resource URL: scopes may start with them, `resource` may be one.
        self.identifier_uris: list[str] = []

    @property
    def api(self) -> str:
        """The Application ID URI of the issuer's API, the prefix of its scopes."""
        return f"api://{self.issuer.client_id}"

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        """The answer to a request for a sign-in endpoint; `None` for others."""
        if request.url.path == DEVICE_LOGIN_PATH:
            return self._device_login(request)
        match = _ROUTE.fullmatch(request.url.path)
        if match is None:
            return None
        if match["endpoint"] == "authorize":
            return self._authorize_endpoint(request, match["tenant"])
        return self._json_endpoint(request, match["tenant"], match["endpoint"])

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
        self.clients[client_id] = client
        return client

    def revoke(self, user: LocalUser | None = None) -> None:
        """Revoke the refresh tokens and sessions of `user` (by username), or of everyone."""
        self.tokens.revoke(user)
        with self.lock:
            self._sessions = set() if user is None else self._sessions - {user.username}

    # -- authorize -------------------------------------------------------------------------

    def _page_request(self, request: httpx.Request) -> dict[str, str] | httpx.Response:
        """A sign-in page's parameters (`GET`), or the answer to its form (`POST`) or error."""
        if request.method not in ("GET", "POST"):
            return error_page(405, "AADSTS900561: The endpoint only accepts GET and POST.")
        try:
            params = form_params(request.url.query if request.method == "GET" else request.content)
        except OAuthError as exc:
            return error_page(400, exc.description)
        if request.method == "POST":
            return self._decide(params)
        return params

    def _authorize_endpoint(self, request: httpx.Request, tenant: str) -> httpx.Response:
        params = self._page_request(request)
        if isinstance(params, httpx.Response):
            return params
        resolved = self.issuer.resolve_tenant(tenant)
        if resolved is None:
            return error_page(400, f"AADSTS90002: There is no tenant {tenant!r} on this issuer.")
        # RFC 6749 §4.1.2.1: without a known client and its exact redirect URI, tell the
        # user; never send anything to an unchecked URI.
        client_id = params.get("client_id")
        client = self.clients.get(client_id or "")
        if client is None:
            return error_page(
                400,
                "AADSTS900144: client_id is required."
                if client_id is None
                else f"AADSTS700016: No application {client_id!r} is known.",
            )
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return error_page(
                400,
                f"AADSTS50011: The redirect URI {redirect_uri!r} is not registered for "
                f"application {client.client_id!r}; registered: "
                f"{', '.join(client.redirect_uris) or 'none'}.",
            )
        mode = params.get("response_mode", "query")
        reply = Reply(
            redirect_uri,
            params.get("state"),
            next((m for m in _RESPONSE_MODES if m == mode), "query"),
        )
        accounts = self.accounts_of(resolved)
        try:
            if mode not in _RESPONSE_MODES:
                raise OAuthError(
                    "invalid_request", 70007, "response_mode must be query, fragment or form_post."
                )
            checked = authorization_request(
                params, client, self.issuer.client_id, identifier_uris=self.identifier_uris
            )
            selected = hinted_account(accounts, params.get("login_hint"))
            if params.get("prompt") == "none":  # no page: the session's account, or an error
                return reply.send(code=self._issue_code(checked, self._silent(accounts, selected)))
        except OAuthError as exc:
            return reply.error(exc)
        return sign_in_page(
            action=request.url.path,
            csrf_token=self._forms.remember(checked, reply, resolved, now=self.issuer.clock()),
            users=accounts,
            client_id=client.client_id,
            api=self.api,
            scopes=checked.scopes,
            selected=selected,
        )

    def _silent(self, accounts: Mapping[str, LocalUser], selected: str | None) -> LocalUser:
        """The account `prompt=none` signs in: one with a session here, as Entra's SSO."""
        with self.lock:
            sessions = set(self._sessions)
        candidates = [
            key
            for key, user in accounts.items()
            if user.username in sessions and selected in (None, key)
        ]
        if not candidates:
            raise OAuthError(
                "login_required", 50058, "The user is not signed in, and prompt=none was asked."
            )
        if len(candidates) > 1:
            raise OAuthError(
                "interaction_required", 16000, "Several accounts are signed in: pick one."
            )
        return accounts[candidates[0]]

    def _decide(self, params: Mapping[str, str]) -> httpx.Response:
        """The user's answer on a sign-in page this issuer showed, at most once per page.

        The form's CSRF token stands for the checked request: what the page asked is what is
        granted, whatever else the post carries, and a post no page of ours made is refused.
        """
        pending = self._forms.take(params.get("csrf_token", ""), now=self.issuer.clock())
        if pending is None:
            return error_page(
                403,
                "This sign-in form was not shown by this issuer, was already answered, or has "
                "expired. Start the sign-in again from the application.",
            )
        accepted = params.get("decision") == "accept"
        user = self.accounts_of(pending.tenant).get(params.get("user", ""))
        if pending.reply is None:  # a device's sign-in: the device learns it when it polls
            return self._decide_device(pending, user if accepted else None, accepted=accepted)
        try:
            if not accepted:
                raise OAuthError("access_denied", 65004, "The user declined to consent.")
            if user is None:
                raise OAuthError("invalid_request", 90023, "No such account for this tenant.")
            code = self._issue_code(pending.request, user)
        except OAuthError as exc:
            return pending.reply.error(exc)
        return pending.reply.send(code=code)

    def accounts_of(self, tenant: str) -> dict[str, LocalUser]:
        """The accounts that may sign in through `tenant` (a tenant id or a keyword)."""
        # The home tenant is read now: a test may have changed it since.
        return accounts_for(self.users, tenant, home=self.issuer.tenant_id)

    def _issue_code(self, request: AuthorizationRequest, user: LocalUser) -> str:
        now = self.issuer.clock()
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.codes = {c: g for c, g in self.codes.items() if g.expires_at > now}
            self.codes[code] = Grant(request, user, now + self.code_lifetime)
            self._sessions.add(user.username)
        return code

    # -- device code -------------------------------------------------------------------------

    def _device_authorization(
        self, params: Mapping[str, str], tenant: str, origin: str
    ) -> dict[str, object]:
        """Answer the devicecode endpoint: a new device authorization (RFC 8628 §3.2)."""
        client_id = required(params, "client_id")
        client = self.clients.get(client_id)
        if client is None:
            raise unknown_client(client_id)
        scopes, oidc = delegated_scopes(
            params.get("scope"), self.issuer.client_id, identifier_uris=self.identifier_uris
        )
        request = AuthorizationRequest(client, scopes, oidc)
        device = self.devices.start(
            (request, tenant), now=self.issuer.clock(), lifetime=_DEVICE_LIFETIME
        )
        verification_uri = f"{origin}{DEVICE_LOGIN_PATH}"
        return {
            "user_code": device.user_code,
            "device_code": device.device_code,
            "verification_uri": verification_uri,
            "expires_in": int(_DEVICE_LIFETIME),
            "interval": _DEVICE_INTERVAL,
            "message": (
                f"To sign in, use a web browser to open the page {verification_uri} and enter "
                f"the code {device.user_code} to authenticate."
            ),
        }

    def _device_login(self, request: httpx.Request) -> httpx.Response:
        """The verification page: enter the code, then pick an account and consent."""
        params = self._page_request(request)
        if isinstance(params, httpx.Response):
            return params
        user_code = params.get("user_code")
        if user_code is None:
            return device_code_page(action=DEVICE_LOGIN_PATH)
        device = self.devices.by_user_code(user_code, now=self.issuer.clock())
        if device is None:
            return device_code_page(
                action=DEVICE_LOGIN_PATH,
                message="AADSTS70018: That code is unknown or has expired. Check it and retry.",
            )
        checked, tenant = device.request
        return sign_in_page(
            action=DEVICE_LOGIN_PATH,
            csrf_token=self._forms.remember(
                checked, None, tenant, now=self.issuer.clock(), device_code=device.device_code
            ),
            users=self.accounts_of(tenant),
            client_id=checked.client.client_id,
            api=self.api,
            scopes=checked.scopes,
        )

    def _decide_device(
        self, pending: Pending, user: LocalUser | None, *, accepted: bool
    ) -> httpx.Response:
        if accepted and user is None:
            return error_page(400, "AADSTS90023: No such account for this tenant.")
        assert pending.device_code is not None  # noqa: S101 (a page with no reply is a device's)
        if not self.devices.decide(pending.device_code, user):
            return error_page(400, "AADSTS90120: The request was already authorized or declined.")
        if user is None:
            return notice_page("Sign-in declined", "The application on your device gets nothing.")
        with self.lock:
            self._sessions.add(user.username)
        return notice_page(
            "You're signed in",
            f"You have signed in to {pending.request.client.client_id} on your device as "
            f"{user.username}. You may now close this window.",
        )

    # -- token -----------------------------------------------------------------------------

    def _json_endpoint(self, request: httpx.Request, tenant: str, endpoint: str) -> httpx.Response:
        cors = (
            cors_headers(request, self.trusted_origins(request.url.path))
            if endpoint == "token"
            else {}
        )
        if request.method == "OPTIONS" and endpoint == "token":
            return preflight(request, cors)
        correlation_id = request.headers.get("client-request-id")
        echo = {} if correlation_id is None else {"client-request-id": correlation_id}
        try:
            params = posted_form(request)
            resolved = self.issuer.resolve_tenant(tenant)
            if resolved is None:
                raise OAuthError(
                    "invalid_request", 90002, f"Tenant {tenant!r} not found on this issuer."
                )
            if endpoint == "devicecode":
                origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
                body = self._device_authorization(params, resolved, origin)
            else:
                body = self.tokens.answer(request, params, resolved)
        except OAuthError as exc:
            document = exc.document(now=self.issuer.clock(), correlation_id=correlation_id)
            headers = {**cors, **exc.headers, **NO_STORE, **echo}
            return httpx.Response(exc.status, json=document, headers=headers)
        return httpx.Response(200, json=body, headers={**cors, **NO_STORE, **echo})

    # -- shared ----------------------------------------------------------------------------

    def trusted_origins(self, path: str) -> frozenset[str]:
        """The browser origins, besides the issuer's own, that may post to `path`.

        At the token endpoint, those of registered redirect URIs, where single-page apps
        redeem their codes (CORS, as Entra allows them); none anywhere else.
        """
        match = _ROUTE.fullmatch(path)
        if match is None or match["endpoint"] != "token":
            return frozenset()
        return frozenset().union(*(client.origins for client in list(self.clients.values())))
