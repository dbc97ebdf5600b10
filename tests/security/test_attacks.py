"""The attack corpus through the ASGI app: every case refused as docs/design.md prescribes."""

from __future__ import annotations

import logging

import pytest

from aad_guard.testing import LocalIssuer
from tests.conftest import FakeClock
from tests.helpers import bearer
from tests.security.corpus import ATTACKS, Attack, expected_answer
from tests.security.forge import Forge, Probe
from tests.security.guarded import guarded_api

pytestmark = pytest.mark.anyio


def test_the_corpus_has_at_least_150_distinct_named_and_sourced_cases() -> None:
    names = [attack.name for attack in ATTACKS]
    assert len(set(names)) == len(names) >= 150
    assert all(attack.source.strip() for attack in ATTACKS)


async def test_the_harness_lets_a_valid_token_through_and_checks_scopes(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    """The control: the same app and forge answer 200, and 403 for a missing scope."""
    forge = Forge(issuer)
    async with guarded_api(issuer, clock) as api:
        allowed = await api.client.get("/tasks", headers=bearer(forge.token()))
        lacking = await api.client.get("/tasks", headers=bearer(forge.token(scopes=["Other"])))
    assert allowed.status_code == 200
    assert lacking.status_code == 403


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
async def test_attack_is_refused_without_reaching_out(
    attack: Attack, issuer: LocalIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    forge = Forge(issuer)
    if attack.setup is not None:
        attack.setup(forge)
    caplog.set_level(logging.INFO, logger="aad_guard")
    async with guarded_api(issuer, clock, **attack.options) as api:
        await api.validator.refresh()  # keys cached, as on any server past its first request
        fetched = len(issuer.requests)
        forged = attack.forge(forge)
        probe = Probe.authorization(f"Bearer {forged}") if isinstance(forged, str) else forged
        response = await api.send(probe)

    status, error = expected_answer(attack.reason)
    reasons = [getattr(r, "aad_guard_reason", None) for r in caplog.records]
    assert (response.status_code, reasons) == (status, [attack.reason])
    challenge = response.headers["www-authenticate"]
    assert (
        challenge == "Bearer" if error is None else challenge.startswith(f'Bearer error="{error}"')
    )
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == (error or attack.reason)
    # One log record per refusal, whose message and fields are printable ASCII: no control
    # character to forge lines with, nothing a handler's encoding could fail on.
    for record in caplog.records:
        fields = [record.getMessage()] + [
            str(value) for name, value in vars(record).items() if name.startswith("aad_guard_")
        ]
        assert all(field.isascii() and field.isprintable() for field in fields), fields
    # Nothing of the token comes back, and nothing left for any host: not even the authority.
    assert not any(len(part) > 8 and part in response.text for part in str(forged).split("."))
    assert issuer.requests[fetched:] == []
