"""Group requirements: admit callers in any one of some groups, groups overage included.

A token carries at most about 200 group ids; for a user in more, Entra leaves `groups` out
and says so (`hasgroups`, or `_claim_names.groups`): the groups overage. Such a token
proves nothing about membership, so a route that requires groups refuses it with a clear 403
unless the app gives a resolver that looks the groups up (in Microsoft Graph).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from starlette.types import Scope

from ._callables import check_signature
from ._principal import Principal
from ._requirement import caller, names
from ._requires import admitting_async
from .errors import GroupsOverageError, MissingTokenError, NotInGroupError

__all__ = ["GroupRequirement", "GroupResolver", "requires_groups"]

GroupResolver: TypeAlias = Callable[[Principal], Awaitable[Iterable[str]]]
"""`async (principal) -> group ids`: the caller's groups when its token is in groups overage."""

Endpoint = TypeVar("Endpoint", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class GroupRequirement:
    """Admit a caller in any one of `groups` (object ids, as `groups` carries them)."""

    groups: frozenset[str]
    resolver: GroupResolver | None

    @classmethod
    def of(cls, groups: Iterable[str], resolver: GroupResolver | None) -> GroupRequirement:
        """The requirement for these group ids.

        Raises:
            ValueError: no group is named, or one is not a non-empty string.
            TypeError: `resolver` is not an async callable taking the Principal.
        """
        wanted = frozenset(names(groups))
        if not wanted or not all(isinstance(group, str) and group for group in wanted):
            raise ValueError("name at least one group id, each a non-empty string")
        if resolver is not None:
            check_signature(
                "resolver", resolver, parameters=("principal",), returns="awaitable group ids"
            )
        return cls(wanted, resolver)

    async def admit(self, scope: Scope) -> Principal:
        """The caller of this connection, if it is in one of the groups.

        Raises:
            MissingTokenError: the connection is anonymous (401).
            GroupsOverageError: the token is in groups overage and no resolver is given (403).
            NotInGroupError: the caller is in none of the groups (403).
        """
        principal = caller(scope)
        if principal is None:
            raise MissingTokenError("This route needs an access token; the request is anonymous.")
        groups: Iterable[str] = principal.groups
        if principal.groups_overage:
            if self.resolver is None:
                raise GroupsOverageError(
                    "The token is in groups overage (too many groups to carry) and the route "
                    "has no group resolver to look them up."
                )
            groups = await self.resolver(principal)
        if self.groups.intersection(groups):
            return principal
        raise NotInGroupError("The caller is in none of the groups this route accepts.")


def requires_groups(
    *groups: str, resolver: GroupResolver | None = None
) -> Callable[[Endpoint], Endpoint]:
    """Admit only callers in any one of `groups` (group object ids): a Starlette decorator.

    Decorates an async endpoint taking the `Request` or `WebSocket`, as `requires` does. A
    token in groups overage is refused with 403 `groups_overage` unless `resolver`, an
    `async (principal) -> group ids`, looks the groups up (e.g. in Microsoft Graph).
    `AADGuardMiddleware` answers the refusals, so it must be in front.

    Raises:
        ValueError: no group is named.
    """
    return admitting_async(GroupRequirement.of(groups, resolver), "requires_groups")
