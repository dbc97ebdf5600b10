"""`python -m aad_guard.testing`: serve a local issuer on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from ._server import LocalIssuerServer


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m aad_guard.testing") -> int:
    """Serve until Ctrl-C; `aad-guard issuer` runs this too."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local Entra ID look-alike (metadata and keys) on loopback.",
    )
    parser.add_argument("--port", type=int, default=8400, help="port (default 8400; 0 = any)")
    args = parser.parse_args(argv)
    with LocalIssuerServer(port=args.port) as server:
        issuer = server.issuer
        print(f"Local issuer on {server.url} (tenant {issuer.tenant_id})")
        print(f"Metadata: {server.url}/organizations/v2.0/.well-known/openid-configuration")
        print(f"A token for API {issuer.client_id}, valid for an hour:")
        print(issuer.token(scopes=["Tasks.Read", "Tasks.Write"]))
        print(f"More: aad-guard token mint --issuer {server.url} --scope Tasks.Read")
        print("Ctrl-C stops it.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopping.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
