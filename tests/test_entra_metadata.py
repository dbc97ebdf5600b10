"""The local issuer's metadata against the real Entra documents: same members, same values."""

from __future__ import annotations

import pytest

from aad_guard.testing import LocalIssuer
from tests.vectors import openid_configuration

GLOBAL = "https://login.microsoftonline.com"


@pytest.mark.parametrize(
    ("authority", "tenant", "version", "document"),
    [
        (GLOBAL, "common", "2.0", "entra_common_v2.json"),
        (GLOBAL, "organizations", "2.0", "entra_organizations_v2.json"),
        (GLOBAL, "consumers", "2.0", "entra_consumers_v2.json"),
        (GLOBAL, "common", "1.0", "entra_common_v1.json"),
        ("https://login.microsoftonline.us", "common", "2.0", "usgov_common_v2.json"),
        ("https://login.microsoftonline.us", "organizations", "2.0", "usgov_organizations_v2.json"),
        ("https://login.microsoftonline.us", "consumers", "2.0", "usgov_consumers_v2.json"),
        ("https://login.chinacloudapi.cn", "common", "2.0", "china_common_v2.json"),
        ("https://login.chinacloudapi.cn", "organizations", "2.0", "china_organizations_v2.json"),
        ("https://login.chinacloudapi.cn", "consumers", "2.0", "china_consumers_v2.json"),
    ],
)
def test_keyword_tenant_metadata_is_entras_member_for_member(
    authority: str, tenant: str, version: str, document: str
) -> None:
    """On a cloud's authority, the document is that cloud's: its members, order and values."""
    local = LocalIssuer(authority=authority).metadata(tenant, version=version)
    assert list(local.items()) == list(openid_configuration(document).items())


def test_tenant_metadata_has_entras_members_with_the_tenants_endpoints() -> None:
    tenant = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
    local = LocalIssuer(tenant_id=tenant).metadata(tenant)
    common = LocalIssuer().metadata("common")
    real = openid_configuration("entra_tenant_v2_6babcaad.json")
    assert list(local) == list(common)  # today's tenant documents have the keyword ones' members
    assert set(real) <= set(local)  # and the older snapshot's
    assert "code_challenge_methods_supported" not in local  # Entra publishes none
    for name, value in real.items():
        if name not in ("claims_supported", "token_endpoint_auth_methods_supported"):
            assert local[name] == value, name
    claims = local["claims_supported"]
    assert isinstance(claims, list) and set(real["claims_supported"]) <= set(claims)
    assert local["device_authorization_endpoint"] == (
        f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode"
    )


def test_metadata_on_a_loopback_authority_names_its_endpoints() -> None:
    local = LocalIssuer(authority="https://127.0.0.1:8400").metadata("organizations")
    endpoints = {name: value for name, value in local.items() if name.endswith("_endpoint")}
    assert endpoints == {
        "token_endpoint": "https://127.0.0.1:8400/organizations/oauth2/v2.0/token",
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": "https://127.0.0.1:8400/organizations/oauth2/v2.0/authorize",
        "device_authorization_endpoint": (
            "https://127.0.0.1:8400/organizations/oauth2/v2.0/devicecode"
        ),
        "end_session_endpoint": "https://127.0.0.1:8400/organizations/oauth2/v2.0/logout",
        "kerberos_endpoint": "https://127.0.0.1:8400/organizations/kerberos",
    }
    assert (local["cloud_instance_name"], local["tenant_region_scope"]) == ("local", None)
