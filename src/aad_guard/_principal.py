"""The Principal: who called, as proven by a validated access token."""

import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NoReturn

from starlette.authentication import BaseUser

from ._flavour import Flavour
from ._tenant import MSA_TENANT_ID
from ._version import CLIENT_CLAIM, TokenVersion

__all__ = ["LIST_CLAIMS", "Principal", "VerifiedToken", "is_guest", "user_flow"]

_NO_NAMES: frozenset[str] = frozenset()
_TO_BASE64 = bytes.maketrans(b"-_", b"+/")


class VerifiedToken:
    """A validated token whose claims a Principal decodes when asked, instead of holding them.

    A cached Principal keeps only the token string, which the cache holds anyway as its key:
    decoded claims cost several times the token's size. The payload already passed the strict
    parser (no duplicate members, no `NaN`), so the plain one reads the same claims from it.
    It holds a bearer credential, so it is neither copied nor pickled.
    """

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def claims(self) -> dict[str, object]:
        """The payload's claims, decoded now."""
        payload = self._token.split(".", 2)[1]
        data = payload.encode("ascii").translate(_TO_BASE64) + b"=" * (-len(payload) % 4)
        claims: dict[str, object] = json.loads(binascii.a2b_base64(data))
        return claims

    def __repr__(self) -> str:
        return "VerifiedToken(...)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a verified token is a credential: it is not copied or pickled")


class _TokenClaims(Mapping[str, object]):
    """A verified token's claims, read-only, decoded at the first lookup.

    A tenant policy that reads only the tenant id, on every use of a cached token, then
    costs no decoding.
    """

    __slots__ = ("_decoded", "_source")

    def __init__(self, source: VerifiedToken) -> None:
        self._source = source
        self._decoded: Mapping[str, object] | None = None

    def _claims(self) -> Mapping[str, object]:
        if self._decoded is None:
            self._decoded = MappingProxyType(self._source.claims())
        return self._decoded

    def __getitem__(self, name: str) -> object:
        return self._claims()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims())

    def __len__(self) -> int:
        return len(self._claims())

    def __repr__(self) -> str:
        return repr(dict(self._claims()))


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


# The list claims it reads besides `roles`: authentication contexts and client capabilities.
LIST_CLAIMS = ("acrs", "xms_cc")


def _names(value: object) -> frozenset[str]:
    """The strings of a list claim (`acrs`, `xms_cc`); the validator checked its type."""
    return (
        frozenset(item for item in value if isinstance(item, str))
        if isinstance(value, list)
        else frozenset()
    )


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
        issued_at: `iat`, in UNIX seconds, if present.
        token_id: The token's own id (`uti`), if present.
        auth_contexts: Authentication context ids the token satisfies (`acrs`), e.g. `c1`.
        client_capabilities: What the calling app declared it handles (`xms_cc`), e.g. `cp1`.
        claims: Every claim of the token, read-only; a Principal from a token decodes them
            on each access (keep the mapping for several lookups).
        is_guest: A guest (B2B) user of a workforce tenant: `idp` is not the issuer, or
            `acct` is 1. Never set for B2C or External ID, where `idp` names a social
            identity provider.
        user_flow: The B2C user flow or custom policy (`tfp`, else `acr`), as the token
            spells it; `None` outside B2C.
        groups: The group object ids of `groups`.
        groups_overage: The user is in more groups than a token carries: `groups` is absent
            and `hasgroups` or `_claim_names.groups` says so. `groups` is then empty, which
            does not mean "in no group"; ask Microsoft Graph.
        flavour: The identity product that issued the token (workforce, B2C, External ID).
        accepted_by: The metadata URL of the validator that accepted the token.

    `is_guest`, `user_flow`, `groups` and `groups_overage` are read from the claims when
    asked (properties), so a cached Principal holds no more than its token.
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
    source: Mapping[str, object] | VerifiedToken = field(repr=False, compare=False, hash=False)
    flavour: Flavour = Flavour.WORKFORCE
    accepted_by: str | None = None

    # Read on every use of a cached token (the revocation check), so kept decoded.
    issued_at: float | None = field(default=None, repr=False, compare=False)
    token_id: str | None = field(default=None, repr=False, compare=False)

    # Read from the claims when asked, so a cached Principal holds no more than its token.
    @property
    def is_guest(self) -> bool:
        """A guest (B2B) user of a workforce tenant (see the class docstring)."""
        return self.flavour.infers_guests and is_guest(self.claims, tenant_id=self.tenant_id)

    @property
    def user_flow(self) -> str | None:
        """The B2C user flow (`tfp`, else `acr`); `None` outside B2C."""
        return user_flow(self.claims) if self.flavour is Flavour.B2C else None

    @property
    def groups(self) -> frozenset[str]:
        """The group object ids of `groups`."""
        groups = self.claims.get("groups")
        if not isinstance(groups, list):
            return _NO_NAMES
        return frozenset(group for group in groups if isinstance(group, str))

    @property
    def groups_overage(self) -> bool:
        """Whether the token is in groups overage (see the class docstring)."""
        return _groups_overage(self.claims)

    @property
    def claims(self) -> Mapping[str, object]:
        """Every claim of the token, read-only."""
        source = self.source
        if isinstance(source, VerifiedToken):
            return _TokenClaims(source)
        return source

    @classmethod
    def from_claims(
        cls,
        claims: Mapping[str, object],
        *,
        token_version: TokenVersion,
        token: str | None = None,
        tenant_id: str | None = None,
        flavour: Flavour = Flavour.WORKFORCE,
        accepted_by: str | None = None,
    ) -> "Principal":
        """Build a Principal from claims the validator has already checked.

        With `token` (the token those claims came from), the Principal keeps the token and
        decodes its claims when they are read, rather than a copy of `claims`. `tenant_id`
        is the tenant the validator established (B2C's is the issuer's path); default the
        `tid` claim.
        """
        get = claims.get
        tenant_id = tenant_id if tenant_id is not None else str(claims["tid"])
        scp, roles, exp, iat = get("scp"), get("roles"), claims["exp"], get("iat")
        # Only the client claim of the token's version: a v2 token's `appid` names no one.
        client_id = get(CLIENT_CLAIM[token_version])
        if not isinstance(client_id, str):
            client_id = None
        return cls(
            tenant_id=tenant_id,
            object_id=_string(claims, "oid"),
            subject=_string(claims, "sub"),
            client_id=client_id,
            name=_string(claims, "name"),
            username=_string(claims, "preferred_username", "upn", "unique_name"),
            scopes=frozenset(scp.split()) if isinstance(scp, str) and scp else _NO_NAMES,
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list) and roles
            else _NO_NAMES,
            # Entra reference: app-only tokens name a client but have no `scp`; `idtyp` says
            # so when present. An ID token (no client claim) is never an app.
            is_app=scp is None
            and "scp" not in claims
            and get("idtyp", "app") == "app"
            and client_id is not None,
            token_version=token_version,
            expires_at=float(exp) if isinstance(exp, int | float) else 0.0,
            source=VerifiedToken(token) if token is not None else MappingProxyType(dict(claims)),
            issued_at=float(iat)
            if isinstance(iat, int | float) and not isinstance(iat, bool)
            else None,
            token_id=_string(claims, "uti"),
            flavour=flavour,
            accepted_by=accepted_by,
        )

    @property
    def auth_contexts(self) -> frozenset[str]:
        """The Conditional Access authentication contexts the token satisfies (`acrs`)."""
        return _names(self.claims.get("acrs"))

    @property
    def client_capabilities(self) -> frozenset[str]:
        """The capabilities the calling app declared (`xms_cc`); `cp1`: claims challenges."""
        return _names(self.claims.get("xms_cc"))

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
