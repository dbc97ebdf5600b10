"""The vocabulary of the validator's checks.

A `Check`, the `Candidate` token it examines, the `CheckContext` it may use and the
`Evidence` its refusals carry.
"""

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypedDict

from jwt.algorithms import Algorithm

from ._flavour import Flavour
from ._jose import CompactJWS, KeyRef, TokenReader
from ._keys import KeySnapshot, KeyStore, SigningKey
from ._settings import ValidatorSettings
from ._version import TokenVersion

__all__ = ["Candidate", "Check", "CheckContext", "CheckFunction", "Evidence"]


class Evidence(TypedDict):
    """What a refusal names for the rejection log: a well-formed tenant id and the key id."""

    tenant_id: str | None
    kid: str | None


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the checks of one validator share.

    Its settings, key store and token reader, and its settings' flavour, decided once.
    """

    settings: ValidatorSettings
    keys: KeyStore
    reader: TokenReader
    algorithms: Mapping[str, Algorithm]
    flavour: Flavour = Flavour.WORKFORCE


class Candidate:
    """The token under check, and what the checks have learnt of it so far.

    An attribute is set by the check that learns it (`claims` by `format`, `snapshot` by
    `keys`, ...); a later check reads it. The validator makes one per `validate` call.
    """

    __slots__ = (
        "claims",
        "evidence",
        "exp",
        "issuer",
        "jws",
        "key",
        "key_ref",
        "nbf",
        "snapshot",
        "tenant_id",
        "token",
        "version",
    )

    token: str
    jws: CompactJWS
    key_ref: KeyRef
    claims: Mapping[str, object]
    evidence: Evidence
    exp: float
    nbf: float | None
    tenant_id: str
    issuer: str
    snapshot: KeySnapshot
    version: TokenVersion
    key: SigningKey

    def __init__(self, token: str) -> None:
        self.token = token
        self.evidence = Evidence(tenant_id=None, kid=None)


CheckFunction: TypeAlias = Callable[[Candidate, CheckContext], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Check:
    """One named check of `CHECKS`.

    Attributes:
        name: A stable name; a check of its own step unless `part_of` names another.
        title: What `aad-guard token check` calls its step.
        run: The check itself, sync or async.
        reasons: The reason codes of the errors it raises, besides claim errors.
        claims: The claims whose `MissingClaimError` or `InvalidClaimError` it raises.
        part_of: The step it reports under, when it completes another check's step.
        on_cache_hit: `"forget"`: runs again on a cache hit, and a refusal drops the entry
            (it must be sync: the cache path awaits nothing it need not);
            `"repeat"`: runs again once the keys are known current, the entry stays;
            `"skip"`: what it proved cannot change.
        applies: Whether a validator with these settings runs it at all (e.g. only when an
            optional setting is given); a validator decides this once, when it is built.
    """

    name: str
    title: str
    run: CheckFunction
    reasons: frozenset[str] = frozenset()
    claims: frozenset[str] = frozenset()
    part_of: str | None = None
    on_cache_hit: Literal["skip", "forget", "repeat"] = "skip"
    applies: Callable[[ValidatorSettings], bool] = lambda _settings: True

    def __post_init__(self) -> None:
        if self.on_cache_hit == "forget" and inspect.iscoroutinefunction(self.run):
            raise TypeError(f"check {self.name!r} runs on every cache hit, so it must be sync")

    @property
    def step(self) -> str:
        """The step of the `aad-guard token check` report this check's verdict goes to."""
        return self.part_of or self.name
