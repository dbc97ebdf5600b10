"""The fake accounts and registered clients the local sign-in knows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from cryptography import x509

from .._tenant import MSA_TENANT_ID, Tenant

__all__ = [
    "OTHER_TENANT_ID",
    "LocalClient",
    "LocalUser",
    "accounts_for",
    "default_users",
    "hinted_account",
]

OTHER_TENANT_ID = "b0b0b0b0-0000-4000-8000-00000000b0b0"
"""A second made-up work/school tenant, home of the sign-in page's "other tenant" account."""


@dataclass(frozen=True, slots=True)
class LocalUser:
    """A fake account offered on the sign-in page; its tokens carry these claims.

    Args:
        name: `name`.
        username: `preferred_username`.
        tenant_id: `tid`; `MSA_TENANT_ID` makes it a personal Microsoft account. Default
            `None`: the issuer's `tenant_id` when the account signs in.
        roles: App roles assigned to the account (`roles`).
        label: How the sign-in page describes the account.
    """

    name: str
    username: str
    tenant_id: str | None = None
    roles: tuple[str, ...] = ()
    label: str = ""

    @property
    def object_id(self) -> str:
        """`oid`: the same for the same username, whatever the tenant."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-user/{self.username}"))

    @property
    def is_personal(self) -> bool:
        """A personal Microsoft account (the MSA tenant), not a work or school one."""
        return self.tenant_id == MSA_TENANT_ID


def default_users() -> dict[str, LocalUser]:
    """The four accounts of a new issuer, by the key the sign-in form posts."""
    return {
        "work": LocalUser("Local User", "local.user@contoso.example", label="Work account"),
        "other-tenant": LocalUser(
            "Other User",
            "other.user@fabrikam.example",
            OTHER_TENANT_ID,
            label="Work account in another tenant",
        ),
        "personal": LocalUser(
            "Personal User",
            "personal.user@outlook.example",
            MSA_TENANT_ID,
            label="Personal Microsoft account",
        ),
        "admin": LocalUser(
            "Admin User",
            "admin@contoso.example",
            roles=("Admin",),
            label="Work account with app roles",
        ),
    }


def accounts_for(users: Mapping[str, LocalUser], tenant: str, *, home: str) -> dict[str, LocalUser]:
    """The accounts that may sign in through `tenant` (a tenant id or a keyword).

    Accounts without a tenant are given `home`, the issuer's tenant.
    """
    accounts = {
        key: user if user.tenant_id else replace(user, tenant_id=home)
        for key, user in users.items()
    }
    admitting = Tenant.parse(tenant)
    return {
        key: user
        for key, user in accounts.items()
        if user.tenant_id is not None and admitting.admits(user.tenant_id, resolved_tenant_id=None)
    }


def hinted_account(accounts: Mapping[str, LocalUser], login_hint: str | None) -> str | None:
    """The form key of the account `login_hint` names, if it is offered."""
    if login_hint is None:
        return None
    hint = login_hint.lower()
    return next((key for key, user in accounts.items() if user.username == hint), None)


@dataclass(frozen=True, slots=True)
class LocalClient:
    """An application registered with the local issuer.

    Args:
        client_id: Its application (client) id.
        redirect_uris: Where codes may be sent; matched exactly.
        secret: Its client secret; `None` (and no `certificate`) makes it a public client (a
            single-page or native app), which must not send one and cannot use client
            credentials.
        roles: App roles granted to the application, for its client-credentials tokens.
        certificate: A certificate whose private key signs its client assertions (a
            certificate credential), making it a confidential client.

    Raises:
        ValueError: an empty client id or secret, or a redirect URI that is not an absolute
            http(s) URI without a fragment (RFC 6749 §3.1.2).
    """

    client_id: str
    redirect_uris: tuple[str, ...] = ()
    secret: str | None = None
    roles: tuple[str, ...] = ()
    certificate: x509.Certificate | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.secret == "":
            raise ValueError("secret must not be empty; None makes a public client")
        for uri in self.redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("http", "https") or not parts.netloc or "#" in uri:
                raise ValueError(f"redirect URI {uri!r} is not an absolute http(s) URI")

    @property
    def is_confidential(self) -> bool:
        """It has a secret or a certificate, so it must authenticate at the token endpoint."""
        return self.secret is not None or self.certificate is not None

    @property
    def origins(self) -> frozenset[str]:
        """The origins of its redirect URIs, allowed to call the token endpoint (CORS)."""
        return frozenset(
            f"{parts.scheme}://{parts.netloc}" for parts in map(urlsplit, self.redirect_uris)
        )
