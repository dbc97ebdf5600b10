"""Where the task service's tokens come from: a real app registration, or, if asked, a local issuer.

An API that guessed would fail open: trusting a local issuer because a variable is missing,
or guarding a placeholder client id against real Entra because one is empty. So the service
starts only when the environment says exactly one of the two (README.md):

    AAD_GUARD_CLIENT_ID         the API's application (client) id            (Entra: required)
    AAD_GUARD_TENANT            a tenant id or domain, or organizations / consumers / common
                                (default organizations)
    AAD_GUARD_OPERATOR_TENANT   the tenant id of the service's operators; required unless
                                AAD_GUARD_TENANT is a tenant id, which it then defaults to
    AAD_GUARD_AUTHORITY         the cloud (default https://login.microsoftonline.com)
    AAD_GUARD_SWAGGER_CLIENT_ID the app registration Swagger UI signs in with (optional)

or `AAD_GUARD_LOCAL_ISSUER` alone, the loopback URL of a local issuer to trust, for
development: `http://127.0.0.1:8400` for `python -m aad_guard.testing` (the variable that
`aad-guard token mint` reads too).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from aad_guard.testing import DEFAULT_API_CLIENT_ID, DEFAULT_CALLER_CLIENT_ID, DEFAULT_TENANT_ID

__all__ = ["ENTRA", "LOCAL_ISSUER", "Settings", "SettingsError"]

ENTRA = "https://login.microsoftonline.com"
LOCAL_ISSUER = "http://127.0.0.1:8400"  # `python -m aad_guard.testing`

_LOCAL_ISSUER = "AAD_GUARD_LOCAL_ISSUER"
_CLIENT_ID = "AAD_GUARD_CLIENT_ID"
_TENANT = "AAD_GUARD_TENANT"
_OPERATOR_TENANT = "AAD_GUARD_OPERATOR_TENANT"
_AUTHORITY = "AAD_GUARD_AUTHORITY"
_SWAGGER_CLIENT_ID = "AAD_GUARD_SWAGGER_CLIENT_ID"
_VARIABLES = (_LOCAL_ISSUER, _CLIENT_ID, _TENANT, _OPERATOR_TENANT, _AUTHORITY, _SWAGGER_CLIENT_ID)
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class SettingsError(ValueError):
    """The environment configures the service partly or contradictorily: it must not start."""


@dataclass(frozen=True)
class Settings:
    """Where the API's tokens come from, and which tenant runs the service.

    Args:
        client_id: The API's application (client) id, the audience of its tokens.
        operator_tenant: The tenant id whose callers with the `Tasks.Admin` role operate the
            service (see every tenant's figures).
        tenant: The tenants admitted: a tenant id or domain, or a keyword.
        authority: The cloud, or a local issuer's loopback URL.
        swagger_client_id: The app registration Swagger UI signs in with; default the API's.
    """

    client_id: str
    operator_tenant: str
    tenant: str = "organizations"
    authority: str = ENTRA
    swagger_client_id: str | None = None

    @classmethod
    def local(cls, authority: str = LOCAL_ISSUER) -> Settings:
        """Trust the local issuer at `authority`: its API client id, home tenant and client.

        For development only: anyone who can reach that issuer can mint tokens.
        """
        return cls(
            client_id=DEFAULT_API_CLIENT_ID,
            operator_tenant=DEFAULT_TENANT_ID,
            authority=authority,
            swagger_client_id=DEFAULT_CALLER_CLIENT_ID,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read the `AAD_GUARD_*` variables (see the module docstring).

        Raises:
            SettingsError: a variable is set but empty, a required one is missing, or they
                contradict each other; the message names the variable.
        """
        values = {name: environ[name].strip() for name in _VARIABLES if name in environ}
        for name, value in values.items():
            if not value:
                raise SettingsError(f"{name} is set but empty: give it a value or unset it.")
        local_issuer = values.pop(_LOCAL_ISSUER, None)
        return _entra(values) if local_issuer is None else _local(local_issuer, values)


def _local(authority: str, others: Mapping[str, str]) -> Settings:
    if others:
        raise SettingsError(
            f"{min(others)} configures a real app registration, but {_LOCAL_ISSUER} says to "
            "trust a local issuer: unset one of them."
        )
    if not _is_loopback_url(authority):
        raise SettingsError(
            f"{_LOCAL_ISSUER} must be a loopback URL, like {LOCAL_ISSUER}, not {authority!r}: "
            "a local issuer mints tokens for anyone who asks."
        )
    return Settings.local(authority)


def _entra(values: Mapping[str, str]) -> Settings:
    client_id = values.get(_CLIENT_ID)
    if client_id is None:
        raise SettingsError(
            f"{_CLIENT_ID} is not set: set it to the API's application (client) id, or set "
            f"{_LOCAL_ISSUER}={LOCAL_ISSUER} to trust a local issuer (development only)."
        )
    tenant = values.get(_TENANT, "organizations")
    single_tenant = _GUID.fullmatch(tenant) is not None
    operator_tenant = values.get(_OPERATOR_TENANT, tenant if single_tenant else None)
    if operator_tenant is None:
        raise SettingsError(
            f"{_OPERATOR_TENANT} is not set: with {_TENANT}={tenant!r} every customer tenant "
            "can give its callers the Tasks.Admin role, so name the tenant id whose callers "
            "may see every tenant's figures."
        )
    if _GUID.fullmatch(operator_tenant) is None:
        raise SettingsError(
            f"{_OPERATOR_TENANT} must be a tenant id (a lower-case GUID), not {operator_tenant!r}."
        )
    if single_tenant and operator_tenant != tenant:
        raise SettingsError(
            f"{_OPERATOR_TENANT} must be {_TENANT} ({tenant}) when the API admits that tenant "
            "only: no other tenant's callers get in."
        )
    return Settings(
        client_id=client_id,
        operator_tenant=operator_tenant,
        tenant=tenant,
        authority=values.get(_AUTHORITY, ENTRA),
        swagger_client_id=values.get(_SWAGGER_CLIENT_ID),
    )


def _is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
