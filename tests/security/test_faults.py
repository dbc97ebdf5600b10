"""The fault table: how the app answers while the identity provider misbehaves.

Each row is one `LocalIssuer` fault in one situation: `cold` (no keys cached yet) or `warm`
(keys cached an hour ago, so a refresh is due). The app then gets a valid token every second
for a minute of (simulated) time. The row gives the first answer, its `Retry-After`,
every answer seen, and how many fetch attempts (metadata GETs) the minute cost. The outbound
client would follow redirects if asked, so not following them is the validator's doing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, get_args

import anyio
import httpx
import pytest

from aad_guard import TokenValidator
from aad_guard.testing import FaultKind, LocalIssuer
from tests.conftest import FakeClock
from tests.helpers import bearer
from tests.security.guarded import build_app

# Slow: a minute of requests per row, with real fetch timeouts.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# What a minute of requests every second costs while fetches keep failing: attempts at
# 0, 1, 3, 7, 15 and 31 s (backoff from 1 s, doubling; docs/design.md, rule 13).
BACKED_OFF = 6
STEPS, STEP = 60, 1.0
# A bound on waits that must not happen: only a request stuck behind a fetch would reach it.
HANG = 5.0


@dataclass(frozen=True, slots=True)
class Row:
    """One fault, one situation, and the answers the app must give."""

    fault: FaultKind | Literal["alternating"]
    situation: Literal["cold", "warm"]
    first: int
    retry_after: int | None
    answers: frozenset[int]
    attempts: int
    simulate: dict[str, float] = field(default_factory=dict)
    fetch_timeout: float = 1.0  # real seconds; the slow rows' delays stay far below it

    @property
    def id(self) -> str:
        label = "-".join([self.fault, *(f"{k}{v:g}" for k, v in self.simulate.items())])
        return f"{label}-{self.situation}"


OK, UNAVAILABLE = frozenset({200}), frozenset({503})
FAILING: list[tuple[FaultKind, dict[str, float]]] = [
    ("down", {}),
    ("status", {"status": 500}),
    ("not_json", {}),
    ("truncated", {}),
    ("huge", {}),
    ("redirect", {}),
    ("foreign_jwks_uri", {}),
    ("empty_keys", {}),
    ("wrong_issuer", {}),
]
TABLE: list[Row] = [
    *(Row(f, "cold", 503, 1, UNAVAILABLE, BACKED_OFF, options) for f, options in FAILING),
    *(Row(f, "warm", 200, None, OK, BACKED_OFF, options) for f, options in FAILING),
    # Entra asks for 42 s, longer than the backoff: each next attempt waits that long.
    Row("status", "cold", 503, 42, UNAVAILABLE, 2, {"status": 429, "retry_after": 42}),
    Row("status", "warm", 200, None, OK, 2, {"status": 429, "retry_after": 42}),
    # Slow but within the fetch timeout: a cold request waits for it once, then keys are cached.
    Row("slow", "cold", 200, None, OK, 1, {"delay": 0.05}),
    Row("slow", "warm", 200, None, OK, 1, {"delay": 0.05}),
    # Slower than the timeout, or no answer at all: a failed fetch, bounded by the timeout.
    Row("slow", "cold", 503, 1, UNAVAILABLE, BACKED_OFF, {"delay": 1.0}, fetch_timeout=0.05),
    Row("hang", "cold", 503, 1, UNAVAILABLE, BACKED_OFF, fetch_timeout=0.05),
    # A hanging refresh is one attempt under way: nobody waits for it, nobody starts another.
    Row("hang", "warm", 200, None, OK, 1, fetch_timeout=HANG),
    # Bad, good, bad, good...: the first good answer is kept; bad ones never replace it.
    Row("alternating", "cold", 503, 1, frozenset({503, 200}), 2),
    Row("alternating", "warm", 200, None, OK, 2),
]


class Alternating:
    """The issuer, once `active`, answering every other fetch attempt with a 500 (bad first)."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.active = False
        self._failing = False
        self.transport = httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.active and request.url.path.endswith("/openid-configuration"):
            self._failing = not self._failing
            self.issuer.simulate("status" if self._failing else None, status=500)
        return await self.issuer.handle(request)


@pytest.fixture
async def outbound(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    # A client that would follow redirects: the validator must refuse to.
    async with issuer.client(follow_redirects=True) as client:
        yield client


def test_the_table_covers_every_fault_in_both_situations() -> None:
    faults = {row.fault for row in TABLE}
    assert faults == {*get_args(FaultKind), "alternating"}
    for fault in faults:
        assert {row.situation for row in TABLE if row.fault == fault} == {"cold", "warm"}


@pytest.mark.parametrize("row", TABLE, ids=[row.id for row in TABLE])
async def test_fault_is_answered_as_the_table_says(
    row: Row, issuer: LocalIssuer, clock: FakeClock, outbound: httpx.AsyncClient
) -> None:
    client, alternating = outbound, Alternating(issuer)
    if row.fault == "alternating":
        client = httpx.AsyncClient(transport=alternating.transport, follow_redirects=True)
    validator = TokenValidator(
        client_id=issuer.client_id,
        clock=clock,
        http_client=client,
        accept_v1_tokens=False,  # one metadata GET per fetch attempt: attempts are countable
        fetch_timeout=row.fetch_timeout,
    )
    app = httpx.AsyncClient(
        transport=httpx.ASGITransport(build_app(validator)), base_url="http://a"
    )
    token = issuer.token(scopes=["Tasks.Read"], lifetime=86400)
    if row.situation == "warm":
        await validator.refresh()
        clock.advance(3600)  # the background refresh is due
    if row.fault == "alternating":
        alternating.active = True
    else:
        issuer.simulate(row.fault, **row.simulate)  # type: ignore[arg-type]
    before = issuer.count("metadata")

    answers: list[httpx.Response] = []
    async with app:
        for _ in range(STEPS):
            with anyio.fail_after(HANG):
                answers.append(await app.get("/tasks", headers=bearer(token)))
            await anyio.wait_all_tasks_blocked()  # let a background refresh run its course
            clock.advance(STEP)
    if client is not outbound:
        await client.aclose()

    first = answers[0]
    assert first.status_code == row.first
    retry_after = first.headers.get("retry-after")
    assert (int(retry_after) if retry_after is not None else None) == row.retry_after
    assert {answer.status_code for answer in answers} == row.answers
    assert issuer.count("metadata") - before == row.attempts
    assert {request.url.host for request in issuer.requests} == {"login.microsoftonline.com"}
