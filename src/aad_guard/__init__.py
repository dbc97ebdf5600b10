"""aad_guard: protect Starlette and FastAPI APIs with Microsoft Entra ID bearer tokens."""

from typing import TYPE_CHECKING

from ._auth_context import AuthContext
from ._groups import requires_groups
from ._key_status import KeyStatus
from ._middleware import AADGuardMiddleware
from ._principal import Principal
from ._redis_revocation import RedisRevocationStore
from ._requires import requires, requires_auth_context
from ._resource import ProtectedResource
from ._revocation import InMemoryRevocationStore, RevocationStore
from ._shared_keys import SharedKeyCache
from ._telemetry import Telemetry
from ._validator import TokenValidator
from .errors import AADGuardError, InsufficientScopeError, KeysUnavailableError, TokenError

if TYPE_CHECKING:
    from ._fastapi import (
        current_principal,
        require_auth_context,
        require_groups,
        require_roles,
        require_scope_or_role,
        require_scopes,
        swagger_ui_init_oauth,
    )

__all__ = [
    "AADGuardError",
    "AADGuardMiddleware",
    "AuthContext",
    "InMemoryRevocationStore",
    "InsufficientScopeError",
    "KeyStatus",
    "KeysUnavailableError",
    "Principal",
    "ProtectedResource",
    "RedisRevocationStore",
    "RevocationStore",
    "SharedKeyCache",
    "Telemetry",
    "TokenError",
    "TokenValidator",
    "current_principal",
    "require_auth_context",
    "require_groups",
    "require_roles",
    "require_scope_or_role",
    "require_scopes",
    "requires",
    "requires_auth_context",
    "requires_groups",
    "swagger_ui_init_oauth",
]

__version__ = "0.1.0.dev0"

# The public names report this module, as their documentation does: `aad_guard.TokenValidator`.
for _exported in (
    AADGuardMiddleware,
    AuthContext,
    InMemoryRevocationStore,
    KeyStatus,
    Principal,
    ProtectedResource,
    RedisRevocationStore,
    RevocationStore,
    SharedKeyCache,
    Telemetry,
    TokenValidator,
    requires,
    requires_auth_context,
    requires_groups,
):
    _exported.__module__ = __name__
del _exported, TYPE_CHECKING

# FastAPI is an optional extra: its dependencies are imported on first use only, so the
# core (and Starlette-only apps) never import FastAPI.
_FASTAPI_NAMES = frozenset(
    {
        "current_principal",
        "require_auth_context",
        "require_groups",
        "require_roles",
        "require_scope_or_role",
        "require_scopes",
        "swagger_ui_init_oauth",
    }
)


def __getattr__(name: str) -> object:
    if name in _FASTAPI_NAMES:
        try:
            from . import _fastapi  # noqa: PLC0415 (FastAPI is an optional extra)
        except ImportError as exc:  # pragma: no cover - the test environment has FastAPI
            raise ImportError(
                f"aad_guard.{name} needs FastAPI: pip install 'aad-guard[fastapi]'"
            ) from exc
        exported = getattr(_fastapi, name)
        exported.__module__ = __name__
        return exported
    raise AttributeError(f"module 'aad_guard' has no attribute {name!r}")
