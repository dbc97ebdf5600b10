"""What a token says reaches the terminal as text: its control characters are shown, not obeyed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aad_guard.cli import main
from aad_guard.cli._terminal import printable
from aad_guard.testing import LocalIssuer
from tests.helpers import segment

AAD_GUARD = Path(sys.executable).with_name("aad-guard")
# Erase the line, move up, return, then print a verdict of its own and hide what follows.
HIDE_THE_VERDICT = "\x1b[2K\x1b[1A\rResult: VALID\x1b[8m"
HOSTILE = [HIDE_THE_VERDICT, "a\nResult: VALID", "\u202eDILAV", "\x9b31m", "\ud800", "\x00\x7f"]


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("plain text, Zoë, 東京") == "plain text, Zoë, 東京"
    assert printable(HIDE_THE_VERDICT) == "\\x1b[2K\\x1b[1A\\x0dResult: VALID\\x1b[8m"
    assert printable("a\nb\tc") == "a\\x0ab\\x09c"
    assert printable("\u202e\ud800\U000e0041") == "\\u202e\\ud800\\U000e0041"


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture(scope="module")
def jwks(issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("keys") / "jwks.json"
    path.write_text(json.dumps(issuer.keys.jwks()))
    return str(path)


def hostile_token(issuer: LocalIssuer, text: str) -> str:
    claims = dict.fromkeys(("preferred_username", "scp", "app_displayname", "tid"), text)
    return issuer.token(claims=claims, headers={"kid": text})


@pytest.mark.slow
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("action", ["inspect", "check"])
def test_the_real_command_prints_no_control_character_from_a_token(
    action: str, text: str, issuer: LocalIssuer, jwks: str
) -> None:
    """Through the installed `aad-guard` script, as a terminal would receive it."""
    token = hostile_token(issuer, text)
    options = ["--client-id", issuer.client_id, "--jwks", jwks] if action == "check" else []
    result = subprocess.run(  # noqa: S603 (the test runs its own command)
        [AAD_GUARD, "token", action, token, *options],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == b""
    lines = result.stdout.decode("utf-8").split("\n")
    assert lines[-1] == ""
    assert all(line.isprintable() for line in lines)
    verdicts = [line for line in lines if line.startswith("Result:")]
    assert verdicts == (["Result: INVALID (invalid_claim)"] if action == "check" else [])


@pytest.mark.parametrize("action", ["inspect", "check"])
def test_json_output_is_ascii_and_gives_back_every_claim(
    action: str, issuer: LocalIssuer, jwks: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = hostile_token(issuer, "".join(HOSTILE))
    options = ["--client-id", issuer.client_id, "--jwks", jwks] if action == "check" else []
    main(["token", action, token, *options, "--json"])
    out = capsys.readouterr().out
    assert out.isascii()
    assert all(line.isprintable() for line in out.split("\n"))
    document = json.loads(out)
    claims = document["token"]["claims"] if action == "check" else document["claims"]
    assert claims["preferred_username"] == "".join(HOSTILE)


claim_text = st.text(max_size=30)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claim_text, claim_text, claim_text, st.sampled_from(["inspect", "check", "json"]))
def test_no_text_in_a_token_puts_a_control_character_on_the_terminal(
    issuer: LocalIssuer,
    jwks: str,
    capsys: pytest.CaptureFixture[str],
    user: str,
    audience: str,
    kid: str,
    mode: str,
) -> None:
    claims = {"preferred_username": user, "aud": audience, "scp": user, "iss": audience}
    token = f"{segment({'alg': 'RS256', 'kid': kid})}.{segment(claims)}.c2ln"
    if mode == "inspect":
        main(["token", "inspect", token])
    else:
        extra = ["--json"] if mode == "json" else []
        main(["token", "check", token, "--client-id", issuer.client_id, "--jwks", jwks, *extra])
    out = capsys.readouterr().out
    assert all(line.isprintable() for line in out.split("\n"))
    out.encode("utf-8")  # no lone surrogate either: a UTF-8 terminal takes every character
    if mode == "json":
        assert json.loads(out)["token"]["claims"] == claims
