"""Several authorities in one app: each token goes to the validator whose issuer it names.

An API may accept a workforce tenant and an External ID tenant, or two app registrations.
Trying each validator in turn would verify signatures with keys of issuers the token does not
name, and make a token of an unknown issuer refetch every key set. So the token's unverified
`iss` (and `tid`) picks the one validator whose metadata names that issuer; that validator
then checks everything, the issuer again included. A token naming no configured issuer is
refused without any key lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._jose import b64url_decode, loads_object
from ._principal import Principal
from ._validator import TokenValidator
from .errors import InvalidIssuerError, KeysUnavailableError

__all__ = ["ValidatorRouter"]


class ValidatorRouter:
    """Validates each token with the one validator whose issuer it names.

    Raises:
        TypeError: `validators` is empty, or holds something else than validators.
    """

    def __init__(self, validators: Sequence[TokenValidator]) -> None:
        validators = tuple(validators)
        if not validators:
            raise TypeError("validators must hold at least one TokenValidator")
        for validator in validators:
            if not isinstance(validator, TokenValidator):
                raise TypeError(f"validators must be TokenValidators, not {validator!r}")
        if len({id(validator) for validator in validators}) != len(validators):
            raise TypeError("validators holds the same TokenValidator twice")
        self.validators = validators

    async def validate(self, token: str) -> Principal:
        """Validate `token` with the validator of its issuer.

        Raises:
            TokenError: refused by that validator, or `invalid_issuer` when no validator's
                metadata names the token's issuer.
            KeysUnavailableError: the issuer is no available validator's, and some
                validator's metadata could not be had (so the token might be its).
        """
        first = self.validators[0]
        claims = _unverified_claims(token) if len(self.validators) > 1 else None
        issuer = claims.get("iss") if claims is not None else None
        if claims is None or not isinstance(issuer, str):
            return await first.validate(token)  # it refuses a malformed token, as it should
        tenant_id = claims.get("tid")
        unavailable: KeysUnavailableError | None = None
        for validator in self.validators:
            try:
                names_it = await validator.names_issuer(
                    issuer, tenant_id if isinstance(tenant_id, str) else None
                )
            except KeysUnavailableError as error:
                unavailable = unavailable or error
                continue
            if names_it:
                return await validator.validate(token)
        if unavailable is not None:
            raise unavailable
        raise InvalidIssuerError(
            f"The token's issuer {issuer!r} is not the issuer of any configured authority."
        )


def _unverified_claims(token: str) -> dict[str, object] | None:
    """The payload of a compact JWS, unverified, or `None` if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return loads_object(b64url_decode(parts[1]))
    except ValueError:
        return None
