"""The local sign-in's token endpoint: each grant redeemed, and the client authenticated.

Codes, refresh tokens (rotating, bound to their client and account), device codes and client
credentials, answered with Entra's members: `access_token`, `refresh_token`, `id_token` and
`client_info` as the request asks.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

import httpx

from .._tenant import KEYWORDS
from ._accounts import LocalClient, LocalUser
from ._assertion import assertion_client_id, check_client_assertion
from ._claims_request import access_token_claims
from ._device import DeviceAuthorizations
from ._grants import AuthorizationRequest, Grant
from ._minting import Minter, TokenSpec
from ._oauth import OAuthError, basic_credentials, required, s256
from ._oidc import client_info, id_token, pairwise_subject
from ._scopes import delegated_scopes, scope_names

__all__ = ["DEVICE_GRANT", "Grants", "TokenEndpoint", "unknown_client"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT)
_REFRESH_LIFETIME = 90 * 24 * 3600.0  # Entra's default for refresh tokens


class Grants(Protocol):
    """What the token endpoint redeems: the sign-in's clients, codes and devices (`SignIn`)."""

    issuer: Minter
    lock: threading.Lock
    clients: dict[str, LocalClient]
    codes: dict[str, Grant]
    devices: DeviceAuthorizations[tuple[AuthorizationRequest, str]]
    token_lifetime: float
    identifier_uris: list[str]  # the API's App ID URIs besides `api`

    @property
    def api(self) -> str:
        """The Application ID URI of the issuer's API."""
        ...

    def accounts_of(self, tenant: str) -> dict[str, LocalUser]:
        """The accounts that may sign in through `tenant`."""
        ...


class TokenEndpoint:
    """`/{tenant}/oauth2/v2.0/token` of one sign-in, and the refresh tokens it handed out."""

    def __init__(self, signin: Grants) -> None:
        self._signin = signin
        self.issuer = signin.issuer
        self._refresh_tokens: dict[str, Grant] = {}

    @property
    def _api(self) -> str:
        return self._signin.api

    def revoke(self, user: LocalUser | None) -> None:
        """Forget the refresh tokens of `user` (by username), or every one."""
        with self._signin.lock:
            self._refresh_tokens = {
                token: grant
                for token, grant in self._refresh_tokens.items()
                if user is not None and grant.user.username != user.username
            }

    def answer(
        self, request: httpx.Request, params: Mapping[str, str], tenant: str
    ) -> dict[str, object]:
        """The token answer to the posted `params`, or the `OAuthError` to answer instead."""
        grant_type = required(params, "grant_type")
        if grant_type not in _GRANT_TYPES:
            raise OAuthError(
                "unsupported_grant_type",
                70003,
                f"The grant type {grant_type!r} is not served; served: {', '.join(_GRANT_TYPES)}.",
            )
        client = self._authenticate(request, params)
        if grant_type == "authorization_code":
            return self._redeem(params, client)
        if grant_type == "refresh_token":
            return self._refresh(params, client)
        if grant_type == DEVICE_GRANT:
            return self._redeem_device_code(params, client)
        return self._client_credentials(params, client, tenant)

    def _authenticate(self, request: httpx.Request, params: Mapping[str, str]) -> LocalClient:
        """The calling client, by its secret (Basic or form), a client assertion, or its id."""
        if "client_assertion" in params or "client_assertion_type" in params:
            return self._assertion_client(request, params)
        authorization = request.headers.get("authorization")
        basic = authorization is not None
        secret: str | None
        if authorization is not None:
            if "client_secret" in params:
                raise OAuthError("invalid_request", 90023, "Authenticate the client one way only.")
            client_id, secret = basic_credentials(authorization)
            if params.get("client_id", client_id) != client_id:
                raise OAuthError(
                    "invalid_request", 90023, "client_id differs from the credentials."
                )
        else:
            client_id, secret = required(params, "client_id"), params.get("client_secret")
        client = self._signin.clients.get(client_id)
        if client is None:
            raise unknown_client(client_id)
        if not client.is_confidential and secret is not None:
            raise OAuthError(
                "invalid_client", 700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                "presented.", status=401, basic=basic,
            )  # fmt: skip
        if client.is_confidential and secret is None:
            raise OAuthError(
                "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.", status=401, basic=basic,
            )  # fmt: skip
        if client.is_confidential and not (
            secret is not None
            and client.secret is not None
            and hmac.compare_digest(secret.encode(), client.secret.encode())
        ):
            raise OAuthError(
                "invalid_client", 7000215, "Invalid client secret provided.", status=401,
                basic=basic,
            )  # fmt: skip
        return client

    def _assertion_client(self, request: httpx.Request, params: Mapping[str, str]) -> LocalClient:
        """The client whose certificate signed `client_assertion` for this token endpoint."""
        if "authorization" in request.headers or "client_secret" in params:
            raise OAuthError("invalid_request", 90023, "Authenticate the client one way only.")
        client_id = params.get("client_id") or assertion_client_id(
            params.get("client_assertion", "")
        )
        client = self._signin.clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client",
                700016,
                f"Application with identifier {client_id!r} was not found in the directory.",
                status=401,
            )
        endpoint = str(request.url.copy_with(query=None))
        check_client_assertion(client, params, audiences=[endpoint], now=self.issuer.clock())
        return client

    def _redeem(self, params: Mapping[str, str], client: LocalClient) -> dict[str, object]:
        code, redirect_uri = required(params, "code"), required(params, "redirect_uri")
        verifier = required(params, "code_verifier")
        with self._signin.lock:  # a code is spent by its first redemption (RFC 6749 §4.1.2)
            grant = self._signin.codes.pop(code, None)
        if grant is None:
            raise OAuthError(
                "invalid_grant", 54005, "The code is unknown or was already used (redeemed)."
            )
        if grant.expires_at <= self.issuer.clock():
            raise OAuthError("invalid_grant", 70008, "The code has expired.")
        if grant.request.client.client_id != client.client_id:
            raise OAuthError("invalid_grant", 70000, "The code was issued to another client.")
        if grant.request.redirect_uri != redirect_uri:
            raise OAuthError(
                "invalid_grant", 70000, "redirect_uri differs from the authorization's."
            )
        if not hmac.compare_digest(s256(verifier), grant.request.code_challenge):
            raise OAuthError(
                "invalid_grant",
                501481,
                "The code_verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        return self._user_tokens(grant.request, grant.user, params)

    def _refresh(self, params: Mapping[str, str], client: LocalClient) -> dict[str, object]:
        """Redeem a refresh token for new tokens and a new refresh token (it rotates)."""
        token = required(params, "refresh_token")
        with self._signin.lock:
            grant = self._refresh_tokens.get(token)
        if grant is None:
            raise OAuthError(
                "invalid_grant", 9002313, "The refresh token is unknown, revoked or spent."
            )
        if grant.request.client.client_id != client.client_id:
            raise OAuthError(
                "invalid_grant", 70000, "The refresh token was issued to another client."
            )
        if grant.expires_at <= self.issuer.clock():
            raise OAuthError("invalid_grant", 700082, "The refresh token has expired.")
        user = self._current(grant.user)
        if user is None:
            raise OAuthError(
                "invalid_grant",
                50173,
                f"The provided grant has been revoked: the account {grant.user.username!r} "
                "was removed. Sign in again.",
            )
        asked = grant.request
        if "scope" in params:
            scopes, oidc = delegated_scopes(
                params["scope"], self.issuer.client_id, identifier_uris=self._signin.identifier_uris
            )
            if not set(scopes) <= set(asked.scopes):
                raise OAuthError(
                    "invalid_grant",
                    65001,
                    "The user has not consented to "
                    f"{', '.join(sorted(set(scopes) - set(asked.scopes)))}: sign in again.",
                )
            asked = replace(asked, scopes=scopes, oidc=oidc & asked.oidc)
        # A refresh token answers with the next one, whether or not offline_access is repeated.
        asked = replace(asked, oidc=asked.oidc | {"offline_access"})
        with self._signin.lock:  # spent now: the answer carries the next one
            if self._refresh_tokens.pop(token, None) is None:
                raise OAuthError("invalid_grant", 9002313, "The refresh token was just spent.")
        return self._user_tokens(replace(asked, nonce=None), user, params, granted=grant.request)

    def _current(self, user: LocalUser) -> LocalUser | None:
        """The account as it is now (its roles may have changed), if it was not removed."""
        return next(
            (
                now
                for now in self._signin.accounts_of("common").values()
                if (now.username, now.tenant_id) == (user.username, user.tenant_id)
            ),
            None,
        )

    def _user_tokens(
        self,
        request: AuthorizationRequest,
        user: LocalUser,
        params: Mapping[str, str],
        *,
        granted: AuthorizationRequest | None = None,
    ) -> dict[str, object]:
        """Entra's answer to a user's grant, its members in Entra's order.

        The access token, and what `openid`, `offline_access` and `client_info=1` ask for.
        """
        client_id = request.client.client_id
        lifetime = self._signin.token_lifetime
        access_token = self.issuer.mint(
            TokenSpec(
                tenant_id=user.tenant_id,
                scopes=tuple(request.scopes),
                roles=user.roles or None,
                client_id=client_id,
                lifetime=lifetime,
                claims={
                    "oid": user.object_id,
                    "sub": pairwise_subject(user, client_id),
                    "name": user.name,
                    "preferred_username": user.username,
                    **access_token_claims((request.claims, params.get("claims"))),
                },
                grant_params=params,
            )
        )
        api = request.app_id_uri or self._api  # as Entra: the App ID URI the client asked with
        scope = [f"{api}/{name}" for name in request.scopes]
        scope += [name for name in ("openid", "profile", "email") if name in request.oidc]
        body: dict[str, object] = {
            "token_type": "Bearer",
            "scope": " ".join(scope),
            "expires_in": int(lifetime),
            "ext_expires_in": int(lifetime),
            "access_token": access_token,
        }
        if "offline_access" in request.oidc:
            refresh_token = secrets.token_urlsafe(48)
            grant = Grant(granted or request, user, self.issuer.clock() + _REFRESH_LIFETIME)
            with self._signin.lock:
                self._refresh_tokens[refresh_token] = grant
            body["refresh_token"] = refresh_token
        if "openid" in request.oidc:
            body["id_token"] = id_token(
                self.issuer,
                user,
                client_id=client_id,
                scopes=request.oidc,
                nonce=request.nonce,
                lifetime=lifetime,
            )
        if params.get("client_info") == "1":
            body["client_info"] = client_info(user, self.issuer.tenant_id)
        return body

    def _redeem_device_code(
        self, params: Mapping[str, str], client: LocalClient
    ) -> dict[str, object]:
        device_code = required(params, "device_code")
        device = self._signin.devices.poll(device_code)
        if device is None:
            raise OAuthError("bad_verification_code", 70018, "The device_code is not known.")
        request, _ = device.request
        if request.client.client_id != client.client_id:
            raise OAuthError(
                "invalid_grant", 70000, "The device_code was issued to another client."
            )
        if device.expires_at <= self.issuer.clock():
            self._signin.devices.forget(device_code)
            raise OAuthError("expired_token", 70019, "Verification code expired.")
        if device.state == "pending":
            raise OAuthError(
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        if device.user is None:
            raise OAuthError("authorization_declined", 70000, "The end user denied the request.")
        return self._user_tokens(request, device.user, params)

    def _client_credentials(
        self, params: Mapping[str, str], client: LocalClient, tenant: str
    ) -> dict[str, object]:
        if not client.is_confidential:
            raise OAuthError(
                "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.", status=401,
            )  # fmt: skip
        if tenant in KEYWORDS:
            raise OAuthError(
                "invalid_request",
                9001023,
                f"The grant type isn't supported over the /{tenant} endpoint: use a tenant id "
                "or domain in the path.",
            )
        scopes = scope_names(
            required(params, "scope"),
            self.issuer.client_id,
            skip_oidc=False,
            identifier_uris=self._signin.identifier_uris,
        )
        if scopes != [".default"]:
            raise OAuthError(
                "invalid_scope", 1002012, f"Client credentials take scope {self._api}/.default."
            )
        service_principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{client.client_id}"))
        lifetime = self._signin.token_lifetime
        token = self.issuer.mint(
            TokenSpec(
                app_only=True,
                tenant_id=tenant,
                roles=client.roles or None,
                client_id=client.client_id,
                lifetime=lifetime,
                claims={
                    "oid": service_principal,
                    "sub": service_principal,
                    **access_token_claims((params.get("claims"),)),
                },
                grant_params=params,
            )
        )
        # Entra names no scope here: the token is for the resource's .default.
        return {
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "ext_expires_in": int(lifetime),
            "access_token": token,
        }


def unknown_client(client_id: str) -> OAuthError:
    return OAuthError(
        "unauthorized_client",
        700016,
        f"Application with identifier {client_id!r} was not found in the directory.",
    )
