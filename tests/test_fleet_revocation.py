"""Four uvicorn workers on one Redis: a user revoked with `aad-guard revoke` is refused by every
worker on its next request, tokens each worker had cached included; a cp1 caller gets the
`nbf` claims challenge.

Real parts throughout: uvicorn's `--workers 4`, Debian's redis-server, the local issuer served
on loopback, and the `aad-guard` command.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aad_guard._claims import decode_claims
from aad_guard.testing import LocalIssuer, LocalIssuerServer
from tests.helpers import bearer, decoded, serving
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 4
# Requests sent until every worker has answered; the kernel spreads new connections unevenly.
_MAX_REQUESTS = 2000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fleet(redis_server: RedisServer) -> Iterator[tuple[str, LocalIssuer]]:
    """The step-up example under `uvicorn --workers 4`, sharing revocations on Redis."""
    with LocalIssuerServer() as issuer_server, pytest.MonkeyPatch.context() as environment:
        environment.setenv("AAD_GUARD_AUTHORITY", issuer_server.url)
        environment.setenv("AAD_GUARD_CLIENT_ID", issuer_server.issuer.client_id)
        environment.setenv("AAD_GUARD_REDIS_URL", redis_server.url)
        port = _free_port()
        command = [
            "uvicorn", "--factory", "tests.fleet_app:create_app", "--workers", str(WORKERS),
            "--port", str(port), "--log-level", "info",
        ]  # fmt: skip
        with serving(command, ready="INFO:     Application startup complete", cwd=ROOT):
            yield f"http://127.0.0.1:{port}", issuer_server.issuer


def answers_of_every_worker(
    url: str, token: str, *, each: int = 2
) -> dict[str, list[httpx.Response]]:
    """Send `token` on new connections until each worker answered it `each` times."""
    seen: dict[str, list[httpx.Response]] = {}
    # No keep-alive: each request is a new connection, which any worker may accept.
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as client:
        for _ in range(_MAX_REQUESTS):
            answer = client.get(url, headers=bearer(token))
            seen.setdefault(answer.headers["x-worker"], []).append(answer)
            if len(seen) == WORKERS and all(len(a) >= each for a in seen.values()):
                return seen
    raise AssertionError(f"only workers {sorted(seen)} answered {_MAX_REQUESTS} requests")


def test_a_revoked_user_is_refused_by_every_worker_on_the_next_request(
    fleet: tuple[str, LocalIssuer], redis_server: RedisServer
) -> None:
    base, issuer = fleet
    url = f"{base}/payments"
    capable = issuer.token(scopes=["Payments.Read"], claims={"xms_cc": ["cp1"]})
    plain = issuer.token(scopes=["Payments.Read"])
    # Every worker has verified both tokens, and served them again from its cache.
    for token in (capable, plain):
        before = answers_of_every_worker(url, token)
        assert {a.status_code for answers in before.values() for a in answers} == {200}

    claims = decoded(plain, 1)
    revoked = subprocess.run(  # noqa: S603 (the aad-guard command of this environment)
        [
            sys.executable,
            "-m",
            "aad_guard.cli",
            "revoke",
            "user",
            "--tenant",
            str(claims["tid"]),
            "--object-id",
            str(claims["oid"]),
            "--prefix",
            "payments-api:revoked:",
        ],
        env={**os.environ, "AAD_GUARD_REDIS_URL": redis_server.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    match = re.search(r"\((\d+)\) are refused", revoked.stdout)
    assert match is not None, revoked.stdout
    revoked_at = int(match[1])

    nbf_request = {"access_token": {"nbf": {"essential": True, "value": str(revoked_at + 1)}}}
    for worker, answers in answers_of_every_worker(url, capable, each=1).items():
        for answer in answers:
            assert answer.status_code == 401, worker
            header = answer.headers["WWW-Authenticate"]
            assert 'error="insufficient_claims"' in header
            assert decode_claims(header.split('claims="', 1)[1].split('"', 1)[0]) == nbf_request
    for worker, answers in answers_of_every_worker(url, plain, each=1).items():
        assert [a.status_code for a in answers] == [401] * len(answers), worker
        assert answers[0].json()["error"] == "invalid_token"
