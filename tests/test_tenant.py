"""A tenant setting is parsed once into its kind, which decides what it admits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aad_guard import TokenValidator
from aad_guard._tenant import MSA_TENANT_ID, Tenant, TenantKind

WORK = "72f988bf-0000-4000-8000-00000000a001"


@pytest.mark.parametrize(
    ("setting", "kind"),
    [
        ("organizations", TenantKind.ORGANIZATIONS),
        (" Consumers ", TenantKind.CONSUMERS),
        ("COMMON", TenantKind.COMMON),
        (WORK.upper(), TenantKind.TENANT_ID),
        ("contoso.onmicrosoft.com", TenantKind.DOMAIN),
    ],
)
def test_a_tenant_knows_its_kind(setting: str, kind: TenantKind) -> None:
    tenant = Tenant.parse(setting)
    assert tenant.kind is kind
    assert tenant.is_keyword is (kind.value in ("organizations", "consumers", "common"))
    assert Tenant.parse(tenant) is tenant


@given(st.sampled_from(["organizations", "consumers", "common", WORK, "contoso.com"]))
def test_a_tenant_is_its_lower_cased_string(setting: str) -> None:
    tenant = Tenant.parse(setting.upper())
    assert tenant == setting and str(tenant) == setting
    assert tenant == Tenant.parse(setting) and hash(tenant) == hash(Tenant.parse(setting))
    assert repr(tenant) == f"Tenant({setting!r})"
    assert tenant != 1


@pytest.mark.parametrize(
    ("setting", "admitted"),
    [
        ("common", {WORK, MSA_TENANT_ID}),
        ("organizations", {WORK}),
        ("consumers", {MSA_TENANT_ID}),
        (WORK, {WORK}),
    ],
)
def test_what_a_tenant_admits(setting: str, admitted: set[str]) -> None:
    tenant = Tenant.parse(setting)
    assert {t for t in (WORK, MSA_TENANT_ID) if tenant.admits(t, resolved_tenant_id=None)} == (
        admitted
    )


def test_a_domain_admits_only_the_tenant_its_metadata_names() -> None:
    domain = Tenant.parse("contoso.com")
    assert not domain.admits(WORK, resolved_tenant_id=None)
    assert domain.admits(WORK, resolved_tenant_id=WORK)
    assert not domain.admits(MSA_TENANT_ID, resolved_tenant_id=WORK)


def test_only_personal_accounts_have_no_v1_issuer() -> None:
    assert [Tenant.parse(t).has_v1_issuer for t in ("consumers", "common", WORK)] == [
        False,
        True,
        True,
    ]


@pytest.mark.parametrize("setting", ["", "{tenantid}", "contoso", "72f988bf", "a b.com"])
def test_anything_else_is_refused_when_the_validator_is_built(setting: str) -> None:
    with pytest.raises(ValueError, match="neither a tenant id"):
        TokenValidator(client_id="api", tenant=setting)
