"""`aad-guard revoke user|token|client`: write a revocation to the API's Redis store.

The same store the API's `RedisRevocationStore` reads, so every worker refuses the next
request. The Redis URL (`redis://` or `rediss://` for TLS, with the ACL user and password)
comes from `--redis-url` or, to keep the password out of the shell history and `ps`,
`$AAD_GUARD_REDIS_URL`.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

import anyio

from .._redis_revocation import RedisRevocationStore
from ._commands import UsageError
from ._terminal import Terminal

__all__ = ["add_revoke_parser", "revoke"]


def add_revoke_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `revoke` command and its three kinds."""
    revoking = commands.add_parser("revoke", help="revoke a user, a token or a client app")
    kinds = revoking.add_subparsers(dest="kind", metavar="{user,token,client}", required=True)
    user = kinds.add_parser("user", help="refuse the user's tokens issued before now (or --since)")
    user.add_argument("--tenant", required=True, dest="tenant_id", help="the user's tenant (tid)")
    user.add_argument("--object-id", required=True, help="the user's object id (oid)")
    token = kinds.add_parser("token", help="refuse one token, by its uti claim")
    token.add_argument("--uti", required=True, help="the token's uti claim")
    client = kinds.add_parser("client", help="refuse a client app's app-only tokens in a tenant")
    client.add_argument("--tenant", required=True, dest="tenant_id", help="the tenant (tid)")
    client.add_argument("--client-app", required=True, dest="client_id", help="azp/appid")
    for kind in (user, token, client):
        kind.add_argument(
            "--since", type=float, help="UNIX seconds the revocation takes effect (default now)"
        )
        kind.add_argument(
            "--redis-url",
            default=os.environ.get("AAD_GUARD_REDIS_URL"),
            help="the API's Redis (default $AAD_GUARD_REDIS_URL)",
        )
        kind.add_argument(
            "--prefix", default="aad_guard:revoked:", help="the store's key prefix (%(default)s)"
        )


def revoke(options: argparse.Namespace, out: Terminal) -> int:
    """Write the revocation; 0 when Redis took it, 1 when it could not be reached."""
    from redis.asyncio import Redis  # noqa: PLC0415 (redis is an optional extra)
    from redis.exceptions import RedisError  # noqa: PLC0415

    if not options.redis_url:
        raise UsageError("name the API's Redis: --redis-url or $AAD_GUARD_REDIS_URL")

    async def write() -> float:
        client = Redis.from_url(options.redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            store = RedisRevocationStore(client, prefix=options.prefix)
            if options.kind == "user":
                return await store.revoke_user(
                    options.tenant_id, options.object_id, since=options.since
                )
            if options.kind == "token":
                return await store.revoke_token(options.uti, at=options.since)
            return await store.revoke_client(
                options.tenant_id, options.client_id, since=options.since
            )
        finally:
            await client.aclose()

    try:
        revoked_at = anyio.run(write)
    except (RedisError, OSError) as error:
        out.line(f"aad-guard: Redis did not take the revocation: {type(error).__name__}: {error}")
        return 1
    moment = datetime.fromtimestamp(revoked_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    what = (
        f"the token with uti {options.uti!r} is refused"
        if options.kind == "token"
        else f"tokens issued before {moment} ({int(revoked_at)}) are refused"
    )
    out.line(f"revoked {options.kind}: {what}")
    return 0
