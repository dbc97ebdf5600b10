"""The `aad-guard` command: mint, inspect and check tokens; serve a local issuer; revoke.

Exit codes: 0 success (a valid token for `check`), 1 failure (an invalid token, an
unreachable issuer), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from ._commands import UsageError, check, inspect, mint
from ._revoke import add_revoke_parser, revoke
from ._terminal import Terminal, printable

__all__ = ["main"]

DEFAULT_LOCAL_ISSUER = "http://127.0.0.1:8400"


def main(argv: Sequence[str] | None = None) -> int:
    """Run `aad-guard` with `argv` (default: the process arguments); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["issuer"]:  # its options belong to the local issuer server
        from ..testing.__main__ import main as serve  # noqa: PLC0415 (the kit loads on use)

        return serve(args[1:], prog="aad-guard issuer")
    if args[:1] == ["mcp"]:  # `aad-guard mcp check URL`
        from ._mcp_check import main as check_mcp  # noqa: PLC0415 (loads on use)

        return check_mcp(args[1:])
    parser = _parser()
    options = parser.parse_args(args)
    if options.command is None or (options.command == "token" and options.action is None):
        parser.print_help(sys.stderr)
        return 2
    # Everything printed passes through `Terminal`: a token's text is shown, never obeyed.
    out = Terminal(sys.stdout)
    try:
        if options.command == "revoke":
            return revoke(options, out)
        if options.action == "mint":
            return mint(options, out)
        token = _read_token(options.token, sys.stdin)
        if options.action == "inspect":
            return inspect(token, options, out, now=time.time())
        return check(token, options, out, now=time.time())
    except UsageError as error:
        parser.exit(2, f"aad-guard: error: {printable(str(error))}\n")
    except BrokenPipeError:  # `aad-guard token inspect ... | head` stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _read_token(value: str, stdin: TextIO) -> str:
    token = stdin.read() if value == "-" else value
    token = token.strip()
    if not token:
        raise UsageError("no token given (pass it as an argument, or '-' to read stdin)")
    return token


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aad-guard",
        description="Work with Microsoft Entra ID access tokens without a tenant.",
        epilog="aad-guard issuer [--port PORT ...]: serve a local issuer on loopback. "
        "aad-guard mcp check URL: what spec-strict MCP clients refuse about a server.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{token,issuer,revoke}")
    commands.add_parser("issuer", help="serve a local Entra ID look-alike on loopback")
    token = commands.add_parser("token", help="mint, inspect or check a token")
    actions = token.add_subparsers(dest="action", metavar="{mint,inspect,check}")

    minting = actions.add_parser("mint", help="a token of the local issuer")
    minting.add_argument(
        "--issuer",
        default=os.environ.get("AAD_GUARD_LOCAL_ISSUER", DEFAULT_LOCAL_ISSUER),
        help="the local issuer's URL (default $AAD_GUARD_LOCAL_ISSUER or %(default)s)",
    )
    minting.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="the local issuer's folder: the CA an https issuer is trusted by, the keys an "
        "offline token is signed with (default $AAD_GUARD_CACHE_DIR or the user cache "
        "folder's aad-guard)",
    )
    minting.add_argument(
        "--offline",
        action="store_true",
        help="sign with the keys in the cache folder without asking the issuer (done anyway "
        "when none answers)",
    )
    minting.add_argument("--tenant", dest="tenant_id", help="tenant id (default: its home)")
    minting.add_argument("--personal", action="store_true", help="a personal account token")
    minting.add_argument("--version", choices=("1", "2"), default="2", help="token version")
    minting.add_argument("--scope", dest="scopes", action="append", help="a delegated scope")
    minting.add_argument("--role", dest="roles", action="append", help="an app role")
    minting.add_argument("--app-only", action="store_true", help="an app-only token (no user)")
    minting.add_argument("--audience", help="aud (default: the issuer's API client id)")
    minting.add_argument("--client-app", dest="client_id", help="the calling app (azp/appid)")
    minting.add_argument("--lifetime", type=float, default=3600, help="seconds (default 3600)")
    minting.add_argument("--expired", action="store_true", help="expired an hour ago")
    minting.add_argument(
        "--claim",
        dest="claims",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add or replace a claim; VALUE is JSON, or else a string",
    )
    minting.add_argument("--json", action="store_true", help="print the issuer's whole answer")

    inspecting = actions.add_parser("inspect", help="show a token's header and claims")
    inspecting.add_argument("token", help="the token, or '-' to read it from stdin")
    inspecting.add_argument("--json", action="store_true", help="machine-readable output")

    checking = actions.add_parser("check", help="validate a token and explain each step")
    checking.add_argument("token", help="the token, or '-' to read it from stdin")
    checking.add_argument("--client-id", required=True, help="your API's application id")
    checking.add_argument(
        "--tenant", default="organizations", help="tenant id, domain or keyword (organizations)"
    )
    checking.add_argument(
        "--allowed-tenant", dest="allowed_tenants", action="append", help="admit only these"
    )
    checking.add_argument("--audience", dest="audiences", action="append", help="accepted aud")
    checking.add_argument("--jwks", metavar="FILE", help="the key set as a JSON file (offline)")
    checking.add_argument(
        "--authority",
        default="https://login.microsoftonline.com",
        help="the cloud's sign-in origin (default %(default)s)",
    )
    checking.add_argument(
        "--metadata-url", help="an OpenID metadata document (a B2C user flow's, a custom domain's)"
    )
    checking.add_argument("--no-v1", action="store_true", help="refuse v1 tokens")
    checking.add_argument("--no-guests", action="store_true", help="refuse guest (B2B) users")
    checking.add_argument("--accept-id-tokens", action="store_true", help="admit ID tokens")
    checking.add_argument("--allow-acl-tokens", action="store_true", help="no scp/roles is ok")
    checking.add_argument(
        "--custom-signing-keys", action="store_true", help="keys of ?appid=CLIENT_ID"
    )
    checking.add_argument("--clock-skew", type=float, default=300, help="seconds (300)")
    checking.add_argument("--json", action="store_true", help="machine-readable output")
    add_revoke_parser(commands)
    return parser
