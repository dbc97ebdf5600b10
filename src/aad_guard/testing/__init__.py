"""Test aad_guard-protected APIs without a tenant: a local Entra ID look-alike.

```python
from aad_guard.testing import LocalIssuer

issuer = LocalIssuer()
validator = TokenValidator(client_id=issuer.client_id, http_client=issuer.client())
principal = await validator.validate(issuer.token(scopes=["Tasks.Read"]))
```
"""

from __future__ import annotations

from ._accounts import OTHER_TENANT_ID, LocalClient, LocalUser
from ._issuer import (
    DEFAULT_API_CLIENT_ID,
    DEFAULT_CALLER_CLIENT_ID,
    DEFAULT_TENANT_ID,
    MSA_TENANT_ID,
    Fault,
    LocalIssuer,
)
from ._keys import LocalKey
from ._server import LocalIssuerServer

__all__ = [
    "DEFAULT_API_CLIENT_ID",
    "DEFAULT_CALLER_CLIENT_ID",
    "DEFAULT_TENANT_ID",
    "Fault",
    "LocalClient",
    "LocalIssuer",
    "LocalIssuerServer",
    "LocalKey",
    "LocalUser",
    "MSA_TENANT_ID",
    "OTHER_TENANT_ID",
]
