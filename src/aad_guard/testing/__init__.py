"""Test aad_guard-protected APIs without a tenant: a local Entra ID look-alike.

```python
from aad_guard.testing import LocalIssuer

issuer = LocalIssuer()
validator = TokenValidator(client_id=issuer.client_id, http_client=issuer.client())
principal = await validator.validate(issuer.token(scopes=["Tasks.Read"]))
```

`LocalIssuer` is the one object most tests need; `LocalIssuerServer` serves it on loopback.
The others are the values it works with: keys (`KeySet`, `LocalKey`), accounts and
applications (`SignIn`, `LocalUser`, `LocalClient`), faults (`Fault`, `FaultKind`), tokens
(`TokenSpec`, `ClaimRule`) and metadata (`MetadataRequest`, `MetadataBuilder`,
`entra_metadata`). Azure AD B2C and External ID issuers and their tokens, and guests'
tokens: `b2c_issuer`, `b2c_token`, `external_id_issuer`, `external_id_token`, `guest_token`.
"""

from __future__ import annotations

from .._version import TokenVersion
from ._accounts import OTHER_TENANT_ID, LocalClient, LocalUser
from ._faults import Document, Fault, FaultKind
from ._flavours import (
    b2c_issuer,
    b2c_metadata,
    b2c_metadata_url,
    b2c_token,
    external_id_issuer,
    external_id_metadata,
    external_id_token,
    guest_token,
)
from ._issuer import (
    DEFAULT_API_CLIENT_ID,
    DEFAULT_CALLER_CLIENT_ID,
    DEFAULT_TENANT_ID,
    MSA_TENANT_ID,
    LocalIssuer,
)
from ._keys import LocalKey
from ._keyset import KeySet
from ._metadata import MetadataBuilder, MetadataRequest, entra_metadata
from ._minting import ClaimRule, TokenSpec
from ._server import LocalIssuerServer
from ._signin import SignIn

__all__ = [
    "ClaimRule",
    "DEFAULT_API_CLIENT_ID",
    "DEFAULT_CALLER_CLIENT_ID",
    "DEFAULT_TENANT_ID",
    "Document",
    "Fault",
    "FaultKind",
    "KeySet",
    "LocalClient",
    "LocalIssuer",
    "LocalIssuerServer",
    "LocalKey",
    "LocalUser",
    "MSA_TENANT_ID",
    "MetadataBuilder",
    "MetadataRequest",
    "OTHER_TENANT_ID",
    "SignIn",
    "TokenSpec",
    "TokenVersion",
    "b2c_issuer",
    "b2c_metadata",
    "b2c_metadata_url",
    "b2c_token",
    "entra_metadata",
    "external_id_issuer",
    "external_id_metadata",
    "external_id_token",
    "guest_token",
]
