"""Bad configuration fails when the validator is built, never at the first request."""

from __future__ import annotations

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
