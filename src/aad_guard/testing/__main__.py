"""`python -m aad_guard.testing`: serve a local issuer on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ._assertion import load_certificate, thumbprints
from ._cache import CACHE_DIR_VARIABLE, CacheFolder, default_cache_dir
from ._issuer import DEFAULT_CALLER_CLIENT_ID, LocalIssuer
from ._keystore import stored_issuer
from ._server import LocalIssuerServer

# Swagger UI of an API served by `uvicorn` on its default port.
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8000/docs/oauth2-redirect",
    "http://localhost:8000/docs/oauth2-redirect",
)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m aad_guard.testing") -> int:
    """Serve until Ctrl-C; `aad-guard issuer` runs this too."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        cache_dir = args.cache_dir
        if args.throwaway:
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="aad-guard-"))
        folder = CacheFolder(cache_dir)
        server = stack.enter_context(
            LocalIssuerServer(
                port=args.port,
                tls=args.tls,
                cache_dir=folder.path,
                issuer=lambda authority: stored_issuer(authority, folder),
            )
        )
        try:
            clients = _register_clients(server.issuer, args)
        except ValueError as exc:
            parser.error(str(exc))
        _announce(server, folder, args, clients)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopping.")
    return 0


def _parser(prog: str) -> argparse.ArgumentParser:
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
        help="where the CA and the signing keys are kept (default "
        f"${CACHE_DIR_VARIABLE} or {default_cache_dir()})",
    )
    folder.add_argument(
        "--throwaway",
        action="store_true",
        help="a new CA and new keys in a temporary folder, deleted when the issuer stops",
    )
    parser.add_argument(
        "--client",
        action="append",
        metavar="CLIENT_ID[:SECRET]",
        help="a client to register: public, or confidential with a secret; repeatable "
        f"(default: the public client {DEFAULT_CALLER_CLIENT_ID})",
    )
    parser.add_argument(
        "--client-cert",
        action="append",
        metavar="CLIENT_ID:PEM_FILE",
        help="a confidential client that authenticates with a client assertion signed by this "
        "certificate's key (the file's first certificate); repeatable",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        metavar="URI",
        help="a redirect URI of the --client clients, matched exactly; repeatable (default: "
        "Swagger UI's on 127.0.0.1:8000 and localhost:8000)",
    )
    parser.add_argument(
        "--client-role",
        action="append",
        metavar="ROLE",
        help="an app role in the confidential clients' client-credentials tokens; repeatable",
    )
    parser.add_argument(
        "--admin-role",
        action="append",
        metavar="ROLE",
        help="an app role of the admin account; repeatable (default Admin)",
    )
    return parser


def _register_clients(issuer: LocalIssuer, args: argparse.Namespace) -> list[str]:
    """Register the clients the options name; one line about each, to print."""
    redirect_uris = tuple(args.redirect_uri or DEFAULT_REDIRECT_URIS)
    roles = tuple(args.client_role or ())
    lines = []
    for text in args.client or [DEFAULT_CALLER_CLIENT_ID]:
        client_id, colon, secret = text.partition(":")
        client = issuer.signin.register_client(
            client_id, redirect_uris=redirect_uris, secret=secret if colon else None, roles=roles
        )
        kind = " (confidential, with a secret)" if client.is_confidential else ""
        lines.append(f"Client {client_id}{kind} may redirect to: {', '.join(redirect_uris)}")
    for text in args.client_cert or ():
        client_id, colon, path = text.partition(":")
        if not colon or not path:
            raise ValueError(f"--client-cert {text!r} is not CLIENT_ID:PEM_FILE")
        try:
            certificate = load_certificate(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--client-cert {text!r}: {exc}") from exc
        known = issuer.signin.clients.get(client_id)
        issuer.signin.register_client(
            client_id,
            redirect_uris=known.redirect_uris if known else (),
            secret=known.secret if known else None,
            roles=roles,
            certificate=certificate,
        )
        lines.append(
            f"Client {client_id} (confidential) authenticates with the certificate of "
            f"x5t {thumbprints(certificate)[0]}"
        )
    return lines


def _announce(
    server: LocalIssuerServer, folder: CacheFolder, args: argparse.Namespace, clients: list[str]
) -> None:
    issuer = server.issuer
    if args.admin_role:
        issuer.signin.users["admin"] = replace(
            issuer.signin.users["admin"], roles=tuple(args.admin_role)
        )
    print(f"Local issuer on {server.url} (tenant {issuer.tenant_id})")
    print(f"Metadata: {server.url}/organizations/v2.0/.well-known/openid-configuration")
    if server.ca_path is not None:
        print(f"CA certificate (trust it in clients, e.g. verify=...): {server.ca_path}")
    print(f"Signing keys: {folder.path}")
    print(f"A token for API {issuer.client_id}, valid for an hour:")
    print(issuer.token(scopes=["Tasks.Read", "Tasks.Write"]))
    print(f"Sign-in: {server.url}/{{tenant}}/oauth2/v2.0/authorize and .../token")
    for line in clients:
        print(line)
    print(f"More tokens: aad-guard token mint --issuer {server.url} --scope Tasks.Read")
    print("Ctrl-C stops it.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
