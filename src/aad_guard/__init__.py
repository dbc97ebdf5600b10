"""aad_guard: protect Starlette and FastAPI APIs with Microsoft Entra ID bearer tokens."""

from __future__ import annotations

from ._middleware import AADGuardMiddleware
from ._principal import Principal
from ._validator import TokenValidator
from .errors import AADGuardError, InsufficientScopeError, KeysUnavailableError, TokenError

__all__ = [
    "AADGuardError",
    "AADGuardMiddleware",
    "InsufficientScopeError",
    "KeysUnavailableError",
    "Principal",
    "TokenError",
    "TokenValidator",
]

__version__ = "0.1.0.dev0"
