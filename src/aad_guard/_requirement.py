"""What a route admits: any one of some scopes or app roles (no framework import).

The FastAPI dependencies and the Starlette `requires` decorator check callers with this one
code and raise the same errors, which `AADGuardMiddleware` answers: both answer alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Scope

from ._app_id_uri import short_scope
from ._principal import Principal
from ._telemetry import record_authorization
from .errors import AADGuardError, InsufficientScopeError, MissingTokenError

__all__ = ["Requirement", "caller", "names", "short_scope"]

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def names(values: Iterable[str]) -> tuple[str, ...]:
    """`values` as a tuple, refusing a lone string (whose letters would be the names).

    Raises:
        ValueError: `values` is a string.
    """
    if isinstance(values, str):
        raise ValueError("scopes and roles must be collections of names, not a string")
    return tuple(values)


def caller(scope: Scope) -> Principal | None:
    """The `Principal` the middleware set on this connection, or `None` when anonymous."""
    user = scope.get("user")
    return user if isinstance(user, Principal) else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """Admit a caller holding any one of `scopes` (delegated, `scp`) or `roles` (`roles`).

    Full scope URIs (`api://<app>/Tasks.Read`) match by their last segment, as `scp` carries
    them; matching is case-sensitive (docs/design.md, rule 22).
    """

    scopes: tuple[str, ...]
    roles: tuple[str, ...]

    @classmethod
    def of(cls, scopes: Iterable[str], roles: Iterable[str]) -> Requirement:
        """The requirement for these names.

        Raises:
            ValueError: no name is given, or one is not a non-empty string.
        """
        scopes, roles = names(scopes), names(roles)
        names_given = (*scopes, *roles)
        if not names_given:
            raise ValueError("name at least one scope or role")
        if any(
            not isinstance(name, str) or not _SCOPE_TOKEN.fullmatch(name) for name in names_given
        ):
            # They are sent back in the challenge's `scope` attribute: RFC 6749 §3.3 characters.
            raise ValueError(
                "scopes and roles must be non-empty strings of printable ASCII characters "
                "other than space, '\"' and '\\' (RFC 6749, section 3.3)"
            )
        return cls(tuple(short_scope(scope) for scope in scopes), roles)

    @property
    def kind(self) -> str:
        """`scopes`, `roles` or `scopes_or_roles`: what the authorization counter names."""
        if self.scopes and self.roles:
            return "scopes_or_roles"
        return "scopes" if self.scopes else "roles"

    def admit(self, scope: Scope) -> Principal:
        """The caller of this connection, if it holds one of the scopes or roles.

        Raises:
            MissingTokenError: the connection is anonymous (401).
            InsufficientScopeError: the token grants none of them (403).
        """
        try:
            principal = self._admit(scope)
        except AADGuardError as error:
            record_authorization(scope, self.kind, error)
            raise
        record_authorization(scope, self.kind)
        return principal

    def _admit(self, scope: Scope) -> Principal:
        principal = caller(scope)
        if principal is None:
            raise MissingTokenError("This route needs an access token; the request is anonymous.")
        if principal.scopes.intersection(self.scopes) or principal.roles.intersection(self.roles):
            return principal
        raise InsufficientScopeError(
            "The token grants none of the scopes or roles this route accepts.",
            scopes=self.scopes,
            # Named once in the challenge when a role has a scope's name.
            roles=tuple(role for role in self.roles if role not in self.scopes),
        )
