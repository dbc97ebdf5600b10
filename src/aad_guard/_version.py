"""The two token versions Entra issues, and what differs between them."""

from types import MappingProxyType
from typing import Final, Literal, TypeAlias

__all__ = ["CLIENT_CLAIM", "TokenVersion"]

TokenVersion: TypeAlias = Literal["1.0", "2.0"]
"""A token's `ver`: `"1.0"` (issuer `https://sts.windows.net/{tid}/`) or `"2.0"`."""

# The client application claim of each token version (Entra access-token reference).
CLIENT_CLAIM: Final = MappingProxyType[TokenVersion, str]({"1.0": "appid", "2.0": "azp"})
