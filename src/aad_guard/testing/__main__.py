"""`python -m aad_guard.testing`: serve a local issuer on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace

from ._cache import CACHE_DIR_VARIABLE, default_cache_dir
from ._issuer import DEFAULT_CALLER_CLIENT_ID
from ._server import LocalIssuerServer

# Swagger UI of an API served by `uvicorn` on its default port.
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8000/docs/oauth2-redirect",
    "http://localhost:8000/docs/oauth2-redirect",
)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m aad_guard.testing") -> int:
    """Serve until Ctrl-C; `aad-guard issuer` runs this too."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local Entra ID look-alike (metadata, keys, sign-in) on loopback.",
    )
    parser.add_argument("--port", type=int, default=8400, help="port (default 8400; 0 = any)")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https, with a certificate of a local CA that it prints the path of",
    )
    folder = parser.add_mutually_exclusive_group()
    folder.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"where the CA is kept (default ${CACHE_DIR_VARIABLE} or {default_cache_dir()})",
    )
    folder.add_argument(
        "--throwaway",
        action="store_true",
        help="a new CA in a temporary folder, deleted when the issuer stops",
    )
    parser.add_argument(
        "--client",
        default=DEFAULT_CALLER_CLIENT_ID,
        metavar="CLIENT_ID",
        help=f"the public client that signs users in (default {DEFAULT_CALLER_CLIENT_ID})",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        metavar="URI",
        help="a redirect URI of that client, matched exactly; repeatable (default: Swagger "
        "UI's on 127.0.0.1:8000 and localhost:8000)",
    )
    parser.add_argument(
        "--admin-role",
        action="append",
        metavar="ROLE",
        help="an app role of the admin account; repeatable (default Admin)",
    )
    args = parser.parse_args(argv)
    redirect_uris = args.redirect_uri or DEFAULT_REDIRECT_URIS
    with contextlib.ExitStack() as stack:
        cache_dir = args.cache_dir
        if args.throwaway:
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="aad-guard-"))
        server = stack.enter_context(
            LocalIssuerServer(port=args.port, tls=args.tls, cache_dir=cache_dir)
        )
        _serve(server, args, redirect_uris, parser)
    return 0


def _serve(
    server: LocalIssuerServer,
    args: argparse.Namespace,
    redirect_uris: Sequence[str],
    parser: argparse.ArgumentParser,
) -> None:
    issuer = server.issuer
    try:
        issuer.register_client(args.client, redirect_uris=redirect_uris)
    except ValueError as exc:
        parser.error(str(exc))
    if args.admin_role:
        issuer.users["admin"] = replace(issuer.users["admin"], roles=tuple(args.admin_role))
    print(f"Local issuer on {server.url} (tenant {issuer.tenant_id})")
    print(f"Metadata: {server.url}/organizations/v2.0/.well-known/openid-configuration")
    if server.ca_path is not None:
        print(f"CA certificate (trust it in clients, e.g. verify=...): {server.ca_path}")
    print(f"A token for API {issuer.client_id}, valid for an hour:")
    print(issuer.token(scopes=["Tasks.Read", "Tasks.Write"]))
    print(f"Sign-in: {server.url}/{{tenant}}/oauth2/v2.0/authorize and .../token")
    print(f"Client {args.client} may redirect to: {', '.join(redirect_uris)}")
    print(f"More tokens: aad-guard token mint --issuer {server.url} --scope Tasks.Read")
    print("Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopping.")


if __name__ == "__main__":
    sys.exit(main())
