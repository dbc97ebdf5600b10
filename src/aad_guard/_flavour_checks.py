"""The checks that differ by flavour.

B2C's and custom domains' issuer under `metadata_url`, B2C user flows, and the 403s of
callers a valid token proves (clients, guests).

They are entries of `_checks.CHECKS` like every other check; they live here to keep that
module short.
"""

from typing import cast

from ._candidate import Candidate, CheckContext, Evidence
from ._flavour import Flavour
from ._principal import is_guest, user_flow
from ._version import CLIENT_CLAIM
from .errors import (
    ClientNotAllowedError,
    GuestNotAllowedError,
    InvalidIssuerError,
    MissingClaimError,
    UserFlowNotAllowedError,
    VersionMismatchError,
)

__all__ = ["check_client", "check_named_metadata_issuer", "check_user_flow", "refuse_guest"]


def check_named_metadata_issuer(token: Candidate, context: CheckContext) -> None:
    """Under `metadata_url`: `iss` is that document's issuer, exactly.

    A token without `tid` (B2C) is of the issuer's tenant; B2C's v2.0 endpoint issues `ver`
    "1.0" tokens.
    """
    template, flavour = token.snapshot.issuer_v2, context.flavour
    if token.tenant_id == "":
        if template.tenant_id is None:
            raise MissingClaimError(claim="tid", **token.evidence)
        token.tenant_id = template.tenant_id
        token.evidence = Evidence(tenant_id=template.tenant_id, kid=token.evidence["kid"])
    if token.issuer != template.for_tenant(token.tenant_id):
        raise InvalidIssuerError(
            f"The token's issuer {token.issuer!r} is not {template.value!r}, the issuer of "
            "the configured metadata_url.",
            **token.evidence,
        )
    if "ver" not in token.claims:
        raise MissingClaimError(claim="ver", **token.evidence)
    ver = token.claims["ver"]
    accepted = ("1.0", "2.0") if flavour is Flavour.B2C else (template.version,)
    if ver not in accepted:
        raise VersionMismatchError(
            f"The token's 'ver' {ver!r} is not {' or '.join(accepted)}.", **token.evidence
        )
    # B2C names the client in `azp` whatever its `ver`.
    token.version = "2.0" if flavour is Flavour.B2C else template.version


def check_user_flow(token: Candidate, context: CheckContext) -> None:
    """A B2C token's user flow (`tfp`, else `acr`) is one of `allowed_user_flows`."""
    allowed = cast("frozenset[str]", context.settings.allowed_user_flows)  # `applies` saw to it
    flow = user_flow(token.claims)
    if flow is None or flow.lower() not in allowed:
        raise UserFlowNotAllowedError(
            f"The token's user flow {flow!r} is not one of {sorted(allowed)!r}.", **token.evidence
        )


def check_client(token: Candidate, context: CheckContext) -> None:
    """The calling application (`azp`/`appid`) is one of `allowed_client_ids`."""
    allowed = cast("frozenset[str]", context.settings.allowed_client_ids)  # `applies` saw to it
    client = token.claims.get(CLIENT_CLAIM[token.version])
    if client not in allowed:
        raise ClientNotAllowedError(
            f"The token's client {client!r} is not one of allowed_client_ids.", **token.evidence
        )


def refuse_guest(token: Candidate, context: CheckContext) -> None:
    """With `allow_guest_users=False`, a workforce tenant's guest (B2B) user is refused."""
    if context.flavour.infers_guests and is_guest(token.claims, tenant_id=token.tenant_id):
        raise GuestNotAllowedError(
            "The token's user is a guest in its tenant ('idp' is not the issuer, or 'acct' "
            "is 1), and allow_guest_users is False.",
            **token.evidence,
        )
