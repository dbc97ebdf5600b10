"""The Principal: who called, as proven by a validated access token."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from starlette.authentication import BaseUser

from ._flavour import Flavour
from ._tenant import MSA_TENANT_ID
from ._version import CLIENT_CLAIM, TokenVersion

__all__ = ["Principal", "is_guest", "user_flow"]


def is_guest(claims: Mapping[str, object], *, tenant_id: str) -> bool:
    """Whether a workforce token's user is a guest (B2B) in the token's tenant.

    Entra's token reference: `idp` is the issuer unless the account lives in another tenant
    (or is a personal account), and the optional `acct` claim is 1 for guests. Personal
    accounts in their own tenant are never guests.
    """
    if tenant_id == MSA_TENANT_ID:
        return False
    idp = claims.get("idp")
    return claims.get("acct") == 1 or (isinstance(idp, str) and idp != claims.get("iss"))


def user_flow(claims: Mapping[str, object]) -> str | None:
    """A B2C token's user flow or custom policy: `tfp`, or `acr` in older tokens."""
    return _string(claims, "tfp", "acr")


def _groups_overage(claims: Mapping[str, object]) -> bool:
    """Whether the token had too many groups to carry them (Entra's groups overage claim)."""
    if "groups" in claims:
        return False
    names = claims.get("_claim_names")
    return claims.get("hasgroups") is True or (isinstance(names, dict) and "groups" in names)


def _string(claims: Mapping[str, object], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            return value
    return None


@dataclass(frozen=True, slots=True)
class Principal(BaseUser):
    """The caller behind a validated token; a Starlette `BaseUser`, so `request.user` works.

    Attributes:
        tenant_id: The caller's tenant (`tid`).
        object_id: The user's or service principal's object id (`oid`), if present.
        subject: The subject (`sub`), unique per user and application.
        client_id: The calling application (`azp` in v2, `appid` in v1), if present.
        name: The display name (`name`), if present.
        username: `preferred_username` (v2), else `upn` or `unique_name` (v1), if present.
        scopes: Delegated scopes from `scp`, split on whitespace.
        roles: App roles from `roles`.
        is_app: `True` for an app-only token (client credentials): no `scp`.
        token_version: `"1.0"` or `"2.0"`.
        expires_at: `exp`, in UNIX seconds.
        claims: Every claim of the token, read-only.
        is_guest: A guest (B2B) user of a workforce tenant: `idp` is not the issuer, or
            `acct` is 1. Never set for B2C or External ID, where `idp` names a social
            identity provider.
        user_flow: The B2C user flow or custom policy (`tfp`, else `acr`), as the token
            spells it; `None` outside B2C.
        groups: The group object ids of `groups`.
        groups_overage: The user is in more groups than a token carries: `groups` is absent
            and `hasgroups` or `_claim_names.groups` says so. `groups` is then empty, which
            does not mean "in no group"; ask Microsoft Graph.
        accepted_by: The metadata URL of the validator that accepted the token.
    """

    tenant_id: str
    object_id: str | None
    subject: str | None
    client_id: str | None
    name: str | None
    username: str | None
    scopes: frozenset[str]
    roles: frozenset[str]
    is_app: bool
    token_version: TokenVersion
    expires_at: float
    claims: Mapping[str, object] = field(repr=False, compare=False, hash=False)
    is_guest: bool = False
    user_flow: str | None = None
    groups: frozenset[str] = frozenset()
    groups_overage: bool = False
    accepted_by: str | None = None

    @classmethod
    def from_claims(
        cls,
        claims: Mapping[str, object],
        *,
        token_version: TokenVersion,
        tenant_id: str | None = None,
        flavour: Flavour = Flavour.WORKFORCE,
        accepted_by: str | None = None,
    ) -> "Principal":
        """Build a Principal from claims the validator has already checked.

        `tenant_id` is the tenant the validator established (B2C's is the issuer's path);
        default the `tid` claim.
        """
        tenant_id = tenant_id if tenant_id is not None else str(claims["tid"])
        groups = claims.get("groups")
        scp = claims.get("scp")
        roles = claims.get("roles")
        exp = claims["exp"]
        # Only the client claim of the token's version: a v2 token's `appid` names no one.
        client_id = _string(claims, CLIENT_CLAIM[token_version])
        return cls(
            tenant_id=tenant_id,
            object_id=_string(claims, "oid"),
            subject=_string(claims, "sub"),
            client_id=client_id,
            name=_string(claims, "name"),
            username=_string(claims, "preferred_username", "upn", "unique_name"),
            scopes=frozenset(scp.split()) if isinstance(scp, str) else frozenset(),
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
            # Entra reference: app-only tokens name a client but have no `scp`; `idtyp` says
            # so when present. An ID token (no client claim) is never an app.
            is_app="scp" not in claims
            and claims.get("idtyp", "app") == "app"
            and client_id is not None,
            token_version=token_version,
            expires_at=float(exp) if isinstance(exp, int | float) else 0.0,
            claims=MappingProxyType(dict(claims)),
            is_guest=flavour.infers_guests and is_guest(claims, tenant_id=tenant_id),
            user_flow=user_flow(claims) if flavour is Flavour.B2C else None,
            groups=frozenset(g for g in groups if isinstance(g, str))
            if isinstance(groups, list)
            else frozenset(),
            groups_overage=_groups_overage(claims),
            accepted_by=accepted_by,
        )

    def has_scope(self, scope: str) -> bool:
        """Whether the token grants the delegated scope `scope` (case-sensitive)."""
        return scope in self.scopes

    def has_role(self, role: str) -> bool:
        """Whether the token grants the app role `role` (case-sensitive)."""
        return role in self.roles

    @property
    def is_authenticated(self) -> bool:
        """Always `True`: a Principal exists only for a validated token."""
        return True

    @property
    def display_name(self) -> str:
        """The best human-readable name available."""
        return self.name or self.username or self.client_id or self.subject or ""

    @property
    def identity(self) -> str:
        """A stable identifier: the object id, else the subject."""
        return self.object_id or self.subject or ""
