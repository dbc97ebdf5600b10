"""The validator's checks are one ordered list; its settings one frozen value (docs/design.md)."""

import dataclasses
import sys
import types
from typing import Any

import pytest

import aad_guard.errors
from aad_guard import InMemoryRevocationStore, TokenValidator
from aad_guard._candidate import Check
from aad_guard._checks import CHECKS, refused_by
from aad_guard._settings import ValidatorOptions, ValidatorSettings
from aad_guard.cli._diagnosis import STEPS, diagnose
from aad_guard.cli._summary import summarize
from aad_guard.errors import InvalidClaimError, MissingClaimError, TokenError
from aad_guard.testing import DEFAULT_CALLER_CLIENT_ID, LocalIssuer
from tests.conftest import FakeClock, MakeValidator

pytestmark = pytest.mark.anyio


async def checks_run_by(validator: TokenValidator, token: str) -> list[Check]:
    """The checks `validate(token)` runs, in the order it starts them, seen by a profiler."""
    by_code = {check.run.__code__: check for check in CHECKS}
    started: list[Check] = []

    def profile(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code in by_code:
            started.append(by_code[frame.f_code])

    sys.setprofile(profile)
    try:
        await validator.validate(token)
    except TokenError:
        pass
    finally:
        sys.setprofile(None)
    # A coroutine's frame reports a call each time it resumes: keep the first.
    return list(dict.fromkeys(started))


def options_for(issuer: LocalIssuer, clock: FakeClock, client: Any) -> ValidatorOptions:
    return {"client_id": issuer.client_id, "clock": clock, "http_client": client}


async def test_the_cli_reports_the_steps_in_the_order_the_validator_runs_its_checks(
    issuer: LocalIssuer, make_validator: MakeValidator, clock: FakeClock
) -> None:
    token = issuer.token()
    # Every optional check applies: a tenant policy, a revocation store, allowed clients and
    # no guests are given.
    every_workforce_check: ValidatorOptions = {
        "tenant_policy": lambda *_: True,
        "allowed_client_ids": {DEFAULT_CALLER_CLIENT_ID},
        "allow_guest_users": False,
        "revocation_store": InMemoryRevocationStore(),
    }
    ran = await checks_run_by(make_validator(**dict(every_workforce_check)), token)
    # Every check but B2C's user flow, which only a B2C metadata_url validator runs.
    assert ran == [check for check in CHECKS if check.name != "user_flow"]

    async with issuer.client() as client:
        options = options_for(issuer, clock, client)
        diagnosis = await diagnose(
            token, {**options, **every_workforce_check}, summarize(token), now=clock.now
        )
    assert diagnosis.valid
    # A check that completes an earlier step (`part_of`) is reported under that step.
    assert [step.name for step in diagnosis.steps] == [c.name for c in ran if c.part_of is None]
    assert [step.title for step in diagnosis.steps] == [
        title for name, title in STEPS.items() if name != "user_flow"
    ]


@pytest.mark.parametrize(
    ("changes", "step"),
    [
        ({"lifetime": -4000}, "lifetime"),
        ({"audience": "api://someone-else"}, "audience"),
        ({"claims": {"tid": "contoso"}}, "issuer"),
        ({"scopes": None}, "token_type"),
    ],
)
async def test_the_cli_fails_the_step_of_the_check_the_validator_stopped_at(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    clock: FakeClock,
    changes: dict[str, Any],
    step: str,
) -> None:
    token = issuer.token(**changes)
    ran = await checks_run_by(make_validator(), token)
    assert ran[-1].step == step
    async with issuer.client() as client:
        options = options_for(issuer, clock, client)
        diagnosis = await diagnose(token, options, summarize(token), now=clock.now)
    statuses = {s.name: s.status for s in diagnosis.steps}
    assert statuses[step] == "fail"
    before = [check.name for check in ran[:-1] if check.part_of is None]
    assert all(statuses[name] == "pass" for name in before if name != step)


def test_every_refusal_names_the_one_check_that_raises_it() -> None:
    """Renaming a reason code or a step cannot silently break the CLI's diagnosis."""
    errors = [getattr(aad_guard.errors, name) for name in aad_guard.errors.__all__]
    refusals = [
        error
        for error in errors
        if error is aad_guard.errors.KeysUnavailableError
        # The 403s of a proven token whose caller is not admitted (guests, clients).
        or issubclass(error, aad_guard.errors._ForbiddenTokenError)
        or (issubclass(error, TokenError) and error is not TokenError)
    ]
    declared = [reason for check in CHECKS for reason in check.reasons]
    assert len(declared) == len(set(declared))
    claim_errors = (MissingClaimError, InvalidClaimError)
    assert set(declared) == {e.reason for e in refusals if not issubclass(e, claim_errors)}
    for error in refusals:
        if not issubclass(error, claim_errors):
            assert error.reason in refused_by(error()).reasons
    claims = [claim for check in CHECKS for claim in check.claims]
    assert len(claims) == len(set(claims))
    for claim in claims:
        assert claim in refused_by(MissingClaimError(claim=claim)).claims
    with pytest.raises(LookupError):
        refused_by(InvalidClaimError(claim="not-a-claim-any-check-reads"))


def test_check_names_are_unique_and_each_step_is_a_check_of_its_own() -> None:
    names = [check.name for check in CHECKS]
    assert len(names) == len(set(names))
    assert {check.step for check in CHECKS} == set(STEPS) <= set(names)
    for check in CHECKS:
        if check.part_of is not None:
            assert names.index(check.part_of) != names.index(check.name)


def test_a_check_that_runs_on_every_cache_hit_must_be_sync() -> None:
    async def check(token: object, context: object) -> None: ...

    with pytest.raises(TypeError, match="must be sync"):
        Check("late", "Late", check, on_cache_hit="forget")


def test_every_option_is_one_setting() -> None:
    fields = {field.name for field in dataclasses.fields(ValidatorSettings)}
    assert set(ValidatorOptions.__annotations__) == fields


async def test_settings_cannot_be_changed_after_construction(
    issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    validator = make_validator()
    other = issuer.token(audience="api://someone-else")
    with pytest.raises(dataclasses.FrozenInstanceError):
        validator.settings.audiences = frozenset({"api://someone-else"})  # type: ignore[misc]
    with pytest.raises(AttributeError):
        validator.audiences = frozenset({"api://someone-else"})  # type: ignore[misc]
    with pytest.raises(AttributeError):
        validator.tenant = "common"  # type: ignore[assignment,misc]
    with pytest.raises(aad_guard.errors.InvalidAudienceError):
        await validator.validate(other)


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(TypeError, match="audience"):
        TokenValidator(client_id="api", audience="api://api")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("changes", "well_formed_tenant"),
    [
        ({"lifetime": -4000}, True),
        ({"audience": "api://someone-else"}, True),
        ({"claims": {"tid": "contoso"}}, False),
        ({"scopes": None}, True),
    ],
)
async def test_each_refusal_is_built_with_the_tokens_tenant_and_key(
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    changes: dict[str, Any],
    well_formed_tenant: bool,
) -> None:
    with pytest.raises(TokenError) as caught:
        await make_validator().validate(issuer.token(**changes))
    expected_tenant = issuer.tenant_id if well_formed_tenant else None
    assert (caught.value.tenant_id, caught.value.kid) == (expected_tenant, issuer.keys.signing.kid)
