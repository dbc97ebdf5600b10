"""Step-up: an operation that needs a Conditional Access authentication context (`acrs`).

Microsoft's guidance (developer guide to Conditional Access authentication context): map
operations to auth-context ids per tenant in the app's own data, check the token's `acrs`,
challenge a client that declared `cp1` with a claims request, and explain the refusal to one
that did not. `AuthContext` is that check, free of any framework: the FastAPI dependency,
the Starlette decorator and MCP tool checks all call `admit`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Scope

from ._callables import check_signature
from ._claims import auth_context_claims, can_answer_claims_challenges, encode_claims
from ._principal import Principal
from ._requirement import caller
from .errors import AuthContextChallengeError, AuthContextRequiredError, MissingTokenError

__all__ = ["AuthContext", "AuthContextResolver"]

AuthContextResolver = Callable[[str, str], "str | Awaitable[str | None] | None"]
"""`(tenant_id, operation) -> context id | None`, sync or async; `None`: nothing required."""

# Entra's authentication context ids are `c1` to `c99` (Graph's authContext resource).
_CONTEXT_ID = re.compile(r"c[1-9][0-9]?")


def _context_id(value: object, source: str) -> str:
    if not isinstance(value, str) or not _CONTEXT_ID.fullmatch(value):
        raise ValueError(f"{source} must be an authentication context id, c1 to c99, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Admit a caller whose token satisfies an authentication context, else refuse it.

    Args:
        context: The id (`"c1"`), or a resolver `(tenant_id, operation) -> id | None`,
            sync or async, that reads the tenant's mapping from the app's data.
        operation: The name the resolver is asked about; required with a resolver.

    Raises:
        ValueError: the id is not `c1` to `c99`, or a resolver comes without `operation`.
        TypeError: the resolver cannot take two positional arguments.
    """

    context: str | AuthContextResolver
    operation: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.context, str):
            _context_id(self.context, "the authentication context")
            return
        check_signature(
            "the authentication context resolver",
            self.context,
            parameters=("tenant_id", "operation"),
            returns="str | None, sync or async",
        )
        if not isinstance(self.operation, str) or not self.operation:
            raise ValueError(
                "name the operation= the authentication context resolver is asked about"
            )

    async def required_for(self, principal: Principal) -> str | None:
        """The context id this caller's tenant requires, or `None`.

        Raises:
            ValueError: the resolver answered something else than an id or `None`.
        """
        if isinstance(self.context, str):
            return self.context
        answer = self.context(principal.tenant_id, self.operation or "")
        if inspect.isawaitable(answer):
            answer = await answer
        return None if answer is None else _context_id(answer, "the resolver's answer")

    async def check(self, principal: Principal) -> Principal:
        """`principal`, if its token's `acrs` holds the required context.

        Raises:
            AuthContextChallengeError: it does not, and the client declared `cp1` (401).
            AuthContextRequiredError: it does not, and the client cannot be challenged (403).
        """
        context_id = await self.required_for(principal)
        if context_id is None or context_id in principal.auth_contexts:
            return principal
        message = f"The token's 'acrs' lacks {context_id!r}, which this operation requires."
        if can_answer_claims_challenges(principal.client_capabilities):
            claims = encode_claims(auth_context_claims(context_id))
            raise AuthContextChallengeError(message, context_id=context_id, claims=claims)
        raise AuthContextRequiredError(message, context_id=context_id)

    async def admit(self, scope: Scope) -> Principal:
        """The caller of this connection, if its token satisfies the context.

        Raises:
            MissingTokenError: the connection is anonymous (401).
            AuthContextChallengeError: see `check`.
            AuthContextRequiredError: see `check`.
        """
        principal = caller(scope)
        if principal is None:
            raise MissingTokenError("This route needs an access token; the request is anonymous.")
        return await self.check(principal)
