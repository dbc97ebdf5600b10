"""Bad configuration fails when the validator is built, never at the first request."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest

from aad_guard import TokenValidator


@pytest.mark.parametrize(
    "options",
    [
        {"client_id": ""},
        {"client_id": "   "},
        {"tenant": "not a tenant"},
        {"tenant": "https://login.microsoftonline.com/contoso"},
        {"tenant": "12345"},
        {"allowed_tenants": ["contoso.onmicrosoft.com"]},
        {"allowed_tenants": []},
        {"audiences": []},
        {"audiences": [""]},
        {"authority": "http://login.microsoftonline.com"},
        {"authority": "https://login.microsoftonline.com/common"},
        {"authority": "https://login.microsoftonline.com?x=1"},
        {"allowed_algorithms": ["RS256", "HS256"]},
        {"allowed_algorithms": ["none"]},
        {"allowed_algorithms": []},
        {"clock_skew": -1},
        {"refresh_interval": 0},
        {"fetch_timeout": 0},
        {"kid_miss_cooldown": -0.5},
        {"max_stale": float("inf")},
        {"max_stale": float("nan")},
        {"max_token_length": 0},
        {"max_document_bytes": -1},
        {"max_stale": 600},
        {"max_stale": 0, "refresh_interval": 60},
        {"max_cached_tokens": -1},
        {"max_token_cache_bytes": 0},
    ],
    ids=repr,
)
def test_invalid_settings_raise_value_error_at_construction(options: dict[str, Any]) -> None:
    options.setdefault("client_id", "6e5a2b8c-0000-4000-8000-0000000a0001")
    with pytest.raises(ValueError):
        TokenValidator(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"tenant": 5},
        {"allowed_tenants": "72f988bf-0000-4000-8000-00000000a001"},
        {"audiences": "api://x"},
        {"tenant_policy": "allow all"},
        {"clock": 12},
        {"clock_skew": "300"},
        {"clock_skew": True},
        {"authority": 5},
        {"max_token_length": "32768"},
        {"max_document_bytes": 1.5},
        {"max_cached_tokens": True},
        {"max_cached_tokens": "4096"},
        {"max_token_cache_bytes": 1.5},
    ],
    ids=repr,
)
def test_settings_of_the_wrong_type_raise_type_error(options: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        TokenValidator(client_id="api", **options)


def test_error_messages_name_the_setting() -> None:
    with pytest.raises(ValueError, match="refresh_interval"):
        TokenValidator(client_id="api", refresh_interval=-5)
    with pytest.raises(ValueError, match="'not a tenant'"):
        TokenValidator(client_id="api", tenant="not a tenant")
    with pytest.raises(ValueError, match=r"^authority 'http://login\.microsoftonline\.com' must"):
        TokenValidator(client_id="api", authority="http://login.microsoftonline.com")


@pytest.mark.parametrize(
    ("tenant", "expected"),
    [
        ("organizations", "organizations"),
        ("Common", "common"),
        ("72F988BF-0000-4000-8000-00000000A001", "72f988bf-0000-4000-8000-00000000a001"),
        ("contoso.onmicrosoft.com", "contoso.onmicrosoft.com"),
    ],
)
def test_tenant_is_normalized(tenant: str, expected: str) -> None:
    validator = TokenValidator(client_id="api", tenant=tenant)
    assert validator.tenant == expected
    assert validator.metadata_url == (
        f"https://login.microsoftonline.com/{expected}/v2.0/.well-known/openid-configuration"
    )


def test_default_audiences_are_the_client_id_and_app_id_uri() -> None:
    validator = TokenValidator(client_id="6e5a2b8c-0000-4000-8000-0000000a0001")
    assert validator.audiences == {
        "6e5a2b8c-0000-4000-8000-0000000a0001",
        "api://6e5a2b8c-0000-4000-8000-0000000a0001",
    }


@pytest.mark.parametrize(
    "authority",
    [
        "https://login.microsoftonline.us",
        "https://login.chinacloudapi.cn/",
        "https://LOGIN.example",
    ],
)
def test_any_https_cloud_authority_is_accepted(authority: str) -> None:
    validator = TokenValidator(client_id="api", authority=authority)
    assert validator.metadata_url.startswith(authority.rstrip("/").lower() + "/organizations/")


def test_client_id_of_the_wrong_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="client_id"):
        TokenValidator(client_id=5)  # type: ignore[arg-type]


# -- callables: their signature is checked when the validator is built -------------------


def policy(tenant_id: str, issuer: str, claims: Mapping[str, object]) -> bool:
    return True


async def async_policy(tenant_id: str, issuer: str, claims: Mapping[str, object]) -> bool:
    return True


class PolicyObject:
    def __call__(self, tenant_id: str, issuer: str, claims: Mapping[str, object]) -> bool:
        return True

    def method(self, tenant_id: str, issuer: str, claims: Mapping[str, object]) -> bool:
        return True


def two_arguments(tenant_id: str, issuer: str) -> bool:
    return True


async def keyword_only(*, tenant_id: str, issuer: str, claims: Mapping[str, object]) -> bool:
    return True


@pytest.mark.parametrize(
    "tenant_policy",
    [
        policy,
        async_policy,
        PolicyObject(),
        PolicyObject().method,
        functools.partial(lambda flag, t, i, c: flag, True),
        lambda *arguments: True,
        lambda tenant_id, issuer, claims, extra=None: True,
        lambda t, i, c: True,
    ],
    ids=repr,
)
def test_a_tenant_policy_taking_three_positional_arguments_is_accepted(
    tenant_policy: Any,
) -> None:
    TokenValidator(client_id="api", tenant_policy=tenant_policy)


@pytest.mark.parametrize(
    "tenant_policy",
    [
        two_arguments,
        keyword_only,
        lambda: True,
        lambda t, i, c, d: True,
        PolicyObject,  # the class, not an instance: builds from zero arguments
        functools.partial(policy, "t"),
    ],
    ids=repr,
)
def test_a_tenant_policy_of_the_wrong_signature_is_refused_when_built(
    tenant_policy: Any,
) -> None:
    expected = re.escape(
        "tenant_policy must be a callable (tenant_id, issuer, claims) -> bool, sync or async; "
        "it is called with 3 positional arguments, which "
    )
    with pytest.raises(TypeError, match=expected + ".* cannot take$"):
        TokenValidator(client_id="api", tenant_policy=tenant_policy)


def test_the_message_shows_the_policy_and_its_signature() -> None:
    with pytest.raises(TypeError, match=re.escape("which two_arguments(tenant_id, issuer) cannot")):
        TokenValidator(client_id="api", tenant_policy=two_arguments)  # type: ignore[arg-type]


def test_a_clock_must_take_no_arguments() -> None:
    TokenValidator(client_id="api", clock=time.time)
    with pytest.raises(TypeError, match=re.escape("clock must be a callable () -> float")):
        TokenValidator(client_id="api", clock=two_arguments)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("clock must be a callable () -> float")):
        TokenValidator(client_id="api", clock=abs)  # type: ignore[arg-type]
