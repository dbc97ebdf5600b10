"""The local issuer's signing keys: the ones its JWKS lists, the one it signs with, rotation."""

from __future__ import annotations

from ._keys import LocalKey, new_key

__all__ = ["KeySet"]


class KeySet:
    """The keys of one `LocalIssuer`, as `issuer.keys`.

    Entra always lists more than one key (the signing key and the next one), so a new set
    lists two and signs with the first. Change `listed`, `custom` and `issuers` freely: the
    JWKS is built from them on each request.

    Args:
        issuer_template: The `issuer` member bound to a listed key unless `issuers` says
            otherwise: the v2 issuer with the literal `{tenantid}`, as Entra's JWKS has it.

    Attributes:
        listed: The keys the JWKS lists, in order.
        signing: The key tokens are signed with by default.
        custom: Custom signing keys of applications, by app id, listed only when the JWKS is
            asked for with `?appid=<app id>` (see `add_custom`).
        issuers: The JWK `issuer` of a key, by kid; `None` publishes the key without one.
    """

    def __init__(self, *, issuer_template: str) -> None:
        self._made = 0
        self._issuer_template = issuer_template
        self.listed: list[LocalKey] = [self._new(), self._new()]
        self.signing: LocalKey = self.listed[0]
        self.custom: dict[str, LocalKey] = {}
        self.issuers: dict[str, str | None] = {}

    def _new(self) -> LocalKey:
        key = new_key(self._made)
        self._made += 1
        return key

    def rotate(self) -> LocalKey:
        """Publish a new key and sign with it from now on; older keys stay listed."""
        key = self._new()
        self.listed.append(key)
        self.signing = key
        return key

    def retire(self, kid: str) -> None:
        """Stop listing the key `kid` in the JWKS."""
        self.listed = [key for key in self.listed if key.kid != kid]

    def add_custom(self, app_id: str) -> LocalKey:
        """A custom signing key of app `app_id`, listed only when keys are asked `?appid=`."""
        key = self._new()
        self.custom[app_id] = key
        return key

    def jwks(self, *, app_id: str | None = None) -> dict[str, list[dict[str, object]]]:
        """The JWKS as served: every listed key, bound to its issuer (`issuers`)."""
        keys = list(self.listed)
        if app_id is not None and app_id in self.custom:
            keys.append(self.custom[app_id])
        published = []
        for key in keys:
            issuer = self.issuers.get(key.kid, self._issuer_template)
            published.append(key.public_jwk() if issuer is None else key.public_jwk(issuer=issuer))
        return {"keys": published}
