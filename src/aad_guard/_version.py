"""The two token versions Entra issues, and what differs between them."""

from types import MappingProxyType
from typing import Final, Literal, TypeAlias, TypeGuard

__all__ = ["CLIENT_CLAIM", "TOKEN_VERSIONS", "TokenVersion", "is_token_version"]

TokenVersion: TypeAlias = Literal["1.0", "2.0"]
"""A token's `ver`: `"1.0"` (issuer `https://sts.windows.net/{tid}/`) or `"2.0"`."""

TOKEN_VERSIONS: Final[tuple[TokenVersion, ...]] = ("2.0", "1.0")

# The client application claim of each token version (Entra access-token reference).
CLIENT_CLAIM: Final = MappingProxyType[TokenVersion, str]({"1.0": "appid", "2.0": "azp"})


def is_token_version(value: object) -> TypeGuard[TokenVersion]:
    """Whether `value` is one of the versions Entra issues."""
    return value in TOKEN_VERSIONS
