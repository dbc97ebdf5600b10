"""The `revocation` check of `CHECKS`: the validator's use of a `RevocationStore`.

Apart from `_revocation` so that the stores, which the settings name, import nothing of the
checks (no import cycle, not even for annotations).
"""

from typing import cast

from ._candidate import Candidate, CheckContext
from ._principal import Principal
from ._revocation import RevocationStore, enforce_revocations

__all__ = ["check_revocation"]


async def check_revocation(token: Candidate, context: CheckContext) -> None:
    """The `revocation` check of `CHECKS`: nothing in the store revokes the token.

    On a cache hit the token carries its Principal; a new one gets its own.
    """
    settings = context.settings
    principal = getattr(token, "principal", None)
    if not isinstance(principal, Principal):
        principal = Principal.from_claims(token.claims, token_version=token.version)
    await enforce_revocations(
        principal,
        store=cast("RevocationStore", settings.revocation_store),  # `applies` saw to it
        read_timeout=settings.revocation_timeout,
        on_failure=settings.on_revocation_failure,
        **token.evidence,
    )
