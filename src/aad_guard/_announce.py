"""Where the API's Entra settings are announced for OpenAPI documents (no FastAPI import)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EntraApp", "announce", "announced"]


@dataclass(frozen=True, slots=True)
class EntraApp:
    """What Swagger UI needs to sign a user in: the authority, tenant and API client id."""

    authority: str
    tenant: str
    client_id: str

    @property
    def app_id_uri(self) -> str:
        """The default Application ID URI, the prefix of the API's full scope names."""
        return f"api://{self.client_id}"


_current: EntraApp | None = None


def announce(app: EntraApp) -> None:
    """Record the settings of the middleware built last; OpenAPI documents describe them."""
    global _current  # one process serves one API's OpenAPI document
    _current = app


def announced() -> EntraApp | None:
    """The settings announced last, if any middleware was built."""
    return _current
