"""The `aad-guard` command: every action in a subprocess, each named mistake in-process."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aad_guard.cli import main
from aad_guard.testing import MSA_TENANT_ID, LocalIssuer, LocalIssuerServer
from tests.vectors import RealToken, real_tokens, real_tokens_jwks

AAD_GUARD = [sys.executable, "-m", "aad_guard.cli"]
OTHER_TENANT = "11111111-2222-4333-8444-555555555555"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the test runs its own command)
        [*AAD_GUARD, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LocalIssuerServer]:
    with LocalIssuerServer() as running:
        yield running


@pytest.fixture(scope="module")
def vectors() -> dict[str, RealToken]:
    return real_tokens()


@pytest.fixture(scope="module")
def real_jwks(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("jwks") / "real_tokens_jwks.json"
    path.write_text(json.dumps(real_tokens_jwks()))
    return str(path)


@pytest.fixture
def local() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture
def local_jwks(local: LocalIssuer, tmp_path: Path) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(local.keys.jwks()))
    return str(path)


def check(
    capsys: pytest.CaptureFixture[str], token: str, *options: str
) -> tuple[int, dict[str, Any]]:
    """`aad-guard token check TOKEN OPTIONS --json` in-process: its exit code and report."""
    code = main(["token", "check", token, *options, "--json"])
    return code, json.loads(capsys.readouterr().out)


def mistakes(report: dict[str, Any]) -> list[str]:
    listed = report["mistakes"]
    assert isinstance(listed, list)
    return [mistake["code"] for mistake in listed]


def steps(report: dict[str, Any]) -> dict[str, str]:
    listed = report["steps"]
    assert isinstance(listed, list)
    return {step["name"]: step["status"] for step in listed}


# -- each command in a subprocess ------------------------------------------------------------


@pytest.mark.slow
def test_mint_then_check_against_a_running_local_issuer(server: LocalIssuerServer) -> None:
    minted = run("token", "mint", "--issuer", server.url, "--scope", "Tasks.Read")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert token.count(".") == 2

    checked = run(
        "token", "check", token, "--client-id", server.issuer.client_id, "--authority", server.url
    )
    assert checked.returncode == 0, checked.stdout
    assert "Result: VALID" in checked.stdout
    assert checked.stdout.count("PASS") == 9


@pytest.mark.slow
def test_mint_sets_what_was_asked(server: LocalIssuerServer) -> None:
    minted = run(
        "token", "mint", "--issuer", server.url, "--version", "1", "--tenant", OTHER_TENANT,
        "--role", "Tasks.Admin", "--app-only", "--lifetime", "600",
        "--claim", 'xms_cc=["cp1"]', "--claim", "app_displayname=Nightly job", "--json",
    )  # fmt: skip
    assert minted.returncode == 0, minted.stderr
    answer = json.loads(minted.stdout)
    assert answer["expires_in"] == 600
    shown = json.loads(run("token", "inspect", answer["access_token"], "--json").stdout)
    assert shown["version"] == "1.0"
    assert shown["account"] == "app"
    assert shown["tenant_id"] == OTHER_TENANT
    assert shown["roles"] == ["Tasks.Admin"]
    assert shown["claims"]["xms_cc"] == ["cp1"]
    assert shown["claims"]["app_displayname"] == "Nightly job"


@pytest.mark.slow
def test_mint_without_a_running_issuer_signs_with_the_cached_keys(tmp_path: Path) -> None:
    result = run("token", "mint", "--issuer", "http://127.0.0.1:9", "--cache-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"signed with the keys in {tmp_path}, which `aad-guard issuer` serves" in result.stderr
    assert result.stdout.count(".") == 2
    assert sorted(p.name for p in tmp_path.glob("*.pem")) == [
        "signing-key-1.pem",
        "signing-key-2.pem",
    ]


@pytest.mark.slow
def test_mint_from_a_server_that_is_no_issuer_fails(tmp_path: Path) -> None:
    with LocalIssuerServer() as plain:  # https asked of a plain http server: a TLS failure
        result = run("token", "mint", "--issuer", plain.url.replace("http:", "https:"))
    assert result.returncode == 1
    assert "did not answer" in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_mint_reports_what_the_issuer_refused(server: LocalIssuerServer) -> None:
    result = run("token", "mint", "--issuer", server.url, "--lifetime", "-5")
    assert result.returncode == 1
    assert "'lifetime' must be a positive number" in result.stderr


@pytest.mark.slow
def test_inspect_reads_a_token_without_the_network(vectors: dict[str, RealToken]) -> None:
    token = vectors["aad-v2.0-at-2024-06-17-ok"]
    result = run("token", "inspect", "-", stdin=f"Bearer {token.token}\n")
    assert result.returncode == 0, result.stderr
    assert "A v2.0 access token (read without verifying it)" in result.stdout
    assert "work or school" in result.stdout
    assert str(token.tenant_id) in result.stdout
    assert "defaultaccess" in result.stdout
    assert "2024-06-17T13:28:23Z (" in result.stdout  # ISO 8601, UTC, then how long ago
    assert "days ago)" in result.stdout


@pytest.mark.slow
def test_inspect_names_a_graph_token_and_refuses_garbage(vectors: dict[str, RealToken]) -> None:
    graph = run("token", "inspect", vectors["aad-v1.0-at-2020-08-14-graphnonce"].token)
    assert "Microsoft Graph" in graph.stdout
    assert "only Graph can validate it" in graph.stdout

    garbage = run("token", "inspect", "not-a-token")
    assert garbage.returncode == 1
    assert "three dot-separated segments" in garbage.stderr
    encrypted = run("token", "inspect", "a.b.c.d.e")
    assert "encrypted token (JWE" in encrypted.stderr


@pytest.mark.slow
def test_check_exit_codes_and_json(
    vectors: dict[str, RealToken], real_jwks: str, tmp_path: Path
) -> None:
    token = vectors["aad-v2.0-at-2024-06-17-ok"]
    invalid = run("token", "check", token.token, "--client-id", token.audience, "--jwks", real_jwks,
                  "--json")  # fmt: skip
    assert invalid.returncode == 1
    report = json.loads(invalid.stdout)
    assert report["valid"] is False
    assert report["reason"] == "token_expired"
    assert report["token"]["tenant_id"] == token.tenant_id

    no_client = run("token", "check", token.token)
    assert no_client.returncode == 2
    assert "--client-id" in no_client.stderr
    missing = run("token", "check", token.token, "--client-id", "x", "--jwks", "/nonexistent")
    assert missing.returncode == 2
    assert "cannot read --jwks" in missing.stderr
    (tmp_path / "bad.json").write_text('{"keys": 1}')
    bad = run(
        "token", "check", token.token, "--client-id", "x", "--jwks", str(tmp_path / "bad.json")
    )
    assert bad.returncode == 2
    assert "is not a JWKS" in bad.stderr
    assert run().returncode == 2
    assert run("token").returncode == 2


@pytest.mark.slow
def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("aad-guard")
    result = subprocess.run(  # noqa: S603
        [script, "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: aad-guard" in result.stdout


# -- each named mistake, with real-shaped tokens ---------------------------------------------


def test_graph_token_is_named(
    capsys: pytest.CaptureFixture[str], vectors: dict[str, RealToken], real_jwks: str
) -> None:
    graph = vectors["aad-v1.0-at-2020-08-14-graphnonce"]
    code, report = check(capsys, graph.token, "--client-id", "my-api", "--jwks", real_jwks)
    assert code == 1
    assert report["reason"] == "graph_token"
    assert mistakes(report) == ["graph_token"]
    assert steps(report)["format"] == "fail"
    assert steps(report)["signature"] == "not checked"


def test_wrong_audience_names_what_to_request(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    token = local.token(audience="https://management.azure.com/")
    code, report = check(capsys, token, "--client-id", local.client_id, "--jwks", local_jwks)
    assert code == 1
    assert report["reason"] == "invalid_audience"
    assert mistakes(report) == ["wrong_audience"]
    message = json.dumps(report["mistakes"])
    assert "Azure Resource Manager" in message
    assert f"api://{local.client_id}/.default" in message
    # The audience relaxed, the rest of the token is checked and passes.
    assert steps(report)["signature"] == "pass"


def test_id_token_is_named(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    id_token = local.token(remove=["azp", "scp"], claims={"nonce": "abc"})
    code, report = check(capsys, id_token, "--client-id", local.client_id, "--jwks", local_jwks)
    assert code == 1
    assert report["reason"] == "not_an_access_token"
    assert mistakes(report) == ["id_token"]


def test_real_id_token_is_named(
    capsys: pytest.CaptureFixture[str], vectors: dict[str, RealToken], real_jwks: str
) -> None:
    id_token = vectors["msa-v2.0-idt-2021-11-25-ok"]
    code, report = check(
        capsys, id_token.token, "--client-id", id_token.audience, "--tenant", "consumers",
        "--jwks", real_jwks,
    )  # fmt: skip
    assert code == 1
    assert "id_token" in mistakes(report)
    assert "expired" in mistakes(report)
    assert steps(report)["token_type"] == "fail"


def test_v1_token_where_v2_is_required_is_a_version_mixup(
    capsys: pytest.CaptureFixture[str], vectors: dict[str, RealToken], real_jwks: str
) -> None:
    v1 = vectors["aad-v1.0-at-2024-10-10-ok"]
    code, report = check(
        capsys, v1.token, "--client-id", v1.audience, "--audience", v1.audience, "--no-v1",
        "--jwks", real_jwks,
    )  # fmt: skip
    assert code == 1
    assert "version_mixup" in mistakes(report)
    assert steps(report)["issuer"] == "fail"


def test_audience_of_the_other_version_is_a_version_mixup(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    v1 = local.token(version="1.0")  # addressed to api://{client_id}
    code, report = check(
        capsys, v1, "--client-id", local.client_id, "--audience", local.client_id,
        "--jwks", local_jwks,
    )  # fmt: skip
    assert code == 1
    assert mistakes(report) == ["wrong_audience", "version_mixup"]


def test_expired_and_not_yet_valid_tokens_are_named(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    expired = local.token(issued_at=local.clock() - 7200)
    code, report = check(capsys, expired, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"], mistakes(report)) == (1, "token_expired", ["expired"])
    assert "1 hour ago" in json.dumps(report["mistakes"])
    assert list(steps(report).values()).count("pass") == 8

    future = local.token(issued_at=local.clock() + 3600)
    code, report = check(capsys, future, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, mistakes(report)) == (1, ["not_yet_valid"])


def test_personal_account_under_organizations_is_a_refused_tenant(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    personal = local.token(personal=True)
    code, report = check(capsys, personal, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"], mistakes(report)) == (
        1,
        "tenant_not_allowed",
        ["tenant_refused"],
    )
    assert "personal Microsoft account" in json.dumps(report["mistakes"])
    assert report["token"]["tenant_id"] == MSA_TENANT_ID


def test_token_of_another_tenant_than_the_single_tenant_is_a_refused_tenant(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    foreign = local.token(tenant_id=OTHER_TENANT)
    code, report = check(
        capsys, foreign, "--client-id", local.client_id, "--tenant", local.tenant_id,
        "--jwks", local_jwks,
    )  # fmt: skip
    assert (code, report["reason"], mistakes(report)) == (1, "invalid_issuer", ["tenant_refused"])
    assert steps(report)["tenant"] == "fail"
    assert steps(report)["signature"] == "pass"

    code, report = check(
        capsys, foreign, "--client-id", local.client_id, "--allowed-tenant", local.tenant_id,
        "--jwks", local_jwks,
    )  # fmt: skip
    assert (report["reason"], mistakes(report)) == ("tenant_not_allowed", ["tenant_refused"])
    assert "and of those only" in json.dumps(report["mistakes"])


def test_unknown_key_and_bad_signature_are_named(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    stranger = LocalIssuer()
    code, report = check(
        capsys, stranger.token(), "--client-id", local.client_id, "--jwks", local_jwks
    )
    assert (code, mistakes(report)) == (1, ["unknown_key"])

    header, payload, _ = local.token().split(".")
    forged = ".".join([header, payload, stranger.token().split(".")[2]])
    code, report = check(capsys, forged, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"], mistakes(report)) == (1, "invalid_signature", ["bad_signature"])


def test_unreachable_authority_is_named(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer
) -> None:
    code, report = check(
        capsys, local.token(), "--client-id", local.client_id, "--authority", "http://127.0.0.1:9"
    )
    assert (code, report["reason"], mistakes(report)) == (
        1,
        "keys_unavailable",
        ["keys_unavailable"],
    )
    assert steps(report)["issuer"] == "not checked"


def test_text_report_lists_each_step_and_the_mistakes(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    token = local.token(issued_at=local.clock() - 7200, audience="https://graph.microsoft.com")
    assert (
        main(["token", "check", token, "--client-id", local.client_id, "--jwks", local_jwks]) == 1
    )
    out = capsys.readouterr().out
    assert "FAIL  Lifetime (exp, nbf)" in out
    assert "token_expired:" in out
    assert "Result: INVALID (token_expired)" in out
    assert "[graph_token]" in out
    assert "[expired]" in out


def test_check_refuses_bad_settings_and_key_files_as_usage_errors(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str, tmp_path: Path
) -> None:
    token = local.token()
    huge = tmp_path / "huge.json"
    huge.write_text(" " * (1024 * 1024 + 1))
    not_json = tmp_path / "not.json"
    not_json.write_text("<keys/>")
    cases = [
        (["--tenant", "no tenant!", "--authority", "http://127.0.0.1:9"], "neither a tenant id"),
        (["--tenant", "contoso.example", "--jwks", local_jwks], "must be a tenant id (GUID)"),
        (["--jwks", str(huge)], "larger than 1 MiB"),
        (["--jwks", str(not_json)], "is not JSON"),
        (["--clock-skew", "-1", "--jwks", local_jwks], "clock_skew"),
    ]
    for options, message in cases:
        with pytest.raises(SystemExit) as exited:
            main(["token", "check", token, "--client-id", local.client_id, *options])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["token", "mint", "--claim", "no-equals-sign"])
    assert exited.value.code == 2
    assert "is not NAME=VALUE" in capsys.readouterr().err


def test_check_of_text_that_is_no_token_fails_the_format_step(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    code, report = check(capsys, "abc", "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"], report["token"]) == (1, "malformed_token", None)
    assert steps(report)["format"] == "fail"
    assert set(list(steps(report).values())[1:]) == {"not checked"}
    assert main(["token", "check", "abc", "--client-id", local.client_id, "--jwks", local_jwks])
    assert "Result: INVALID (malformed_token)" in capsys.readouterr().out


def test_mint_in_process_passes_every_option(
    capsys: pytest.CaptureFixture[str], server: LocalIssuerServer
) -> None:
    code = main(
        ["token", "mint", "--issuer", server.url, "--personal", "--audience", "api://x",
         "--client-app", "caller", "--expired"]
    )  # fmt: skip
    assert code == 0
    token = capsys.readouterr().out.strip()
    assert main(["token", "inspect", token, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["account"], shown["audience"], shown["client_app"]) == (
        "personal",
        "api://x",
        "caller",
    )
    assert shown["expired"] is True
    assert shown["times"]["exp"]["relative"] == "1 hour ago"


def test_mint_names_an_issuer_that_is_not_a_local_issuer(
    capsys: pytest.CaptureFixture[str], server: LocalIssuerServer
) -> None:
    assert main(["token", "mint", "--issuer", f"{server.url}/elsewhere"]) == 1
    assert "the local issuer refused: HTTP 404" in capsys.readouterr().err


# -- the report: the first failure named, times as dates, hints, nothing after it -------------


def test_a_tampered_token_is_named_malformed_before_any_later_hint(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    """Padding added to an ID token's payload: readable to `inspect`, refused as malformed."""
    header, payload, signature = local.token(remove=["azp", "scp"]).split(".")
    tampered = f"{header}.{payload}=.{signature}"
    code, report = check(capsys, tampered, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"]) == (1, "malformed_token")
    assert mistakes(report) == ["malformed", "id_token"]
    assert "The token payload is not valid" in report["mistakes"][0]["message"]


def test_the_first_failure_is_named_even_without_a_usual_mistake(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    token = local.token(remove=["ver"])
    code, report = check(capsys, token, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"], mistakes(report)) == (1, "missing_claim", ["refused"])
    assert "The token has no 'ver' claim." in report["mistakes"][0]["message"]


def test_times_are_iso_8601_in_utc_with_how_long_ago(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, local_jwks: str
) -> None:
    issued = 1_700_000_000  # 2023-11-14T22:13:20Z; expires an hour later
    token = local.token(issued_at=issued)
    assert main(["token", "check", token, "--client-id", local.client_id, "--jwks", local_jwks])
    out = capsys.readouterr().out
    assert "  Expires     2023-11-14T23:13:20Z (" in out
    lifetime = next(line for line in out.splitlines() if "FAIL  Lifetime" in line)
    assert "token_expired: The token expired at 2023-11-14T23:13:20Z (" in lifetime
    assert " ago)" in lifetime
    assert re.search(r"\d{9,}", out) is None  # no UNIX seconds anywhere
    _, report = check(capsys, token, "--client-id", local.client_id, "--jwks", local_jwks)
    assert report["token"]["times"]["exp"]["utc"] == "2023-11-14T23:13:20Z"


@pytest.mark.parametrize(("opening", "closing"), [('"', '"'), ("'", "'"), ("\u201c", "\u201d")])
def test_a_token_pasted_with_its_quotes_gets_a_hint(
    opening: str,
    closing: str,
    capsys: pytest.CaptureFixture[str],
    local: LocalIssuer,
    local_jwks: str,
) -> None:
    quoted = f"{opening}{local.token()}{closing}"
    code, report = check(capsys, quoted, "--client-id", local.client_id, "--jwks", local_jwks)
    assert (code, report["reason"]) == (1, "malformed_token")
    assert mistakes(report) == ["malformed", "quoted"]
    assert main(["token", "inspect", quoted]) == 0
    assert "Note        pasted with its quote marks" in capsys.readouterr().out


def test_a_local_issuers_token_checked_against_entra_gets_a_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    local = LocalIssuer(authority="http://127.0.0.1:8400")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(local.keys.jwks()))
    code, report = check(capsys, local.token(), "--client-id", local.client_id, "--jwks", str(keys))
    assert (code, report["reason"], mistakes(report)) == (1, "invalid_issuer", ["local_issuer"])
    assert "--authority http://127.0.0.1:8400" in report["mistakes"][0]["message"]

    code, report = check(
        capsys, local.token(), "--client-id", local.client_id, "--jwks", str(keys),
        "--authority", "http://127.0.0.1:8400",
    )  # fmt: skip
    assert code == 0
    # Plain http to any other host is no local issuer: just a wrong one.
    elsewhere = local.token(claims={"iss": f"http://issuer.example/{local.tenant_id}/v2.0"})
    code, report = check(capsys, elsewhere, "--client-id", local.client_id, "--jwks", str(keys))
    assert (code, report["reason"], mistakes(report)) == (1, "invalid_issuer", ["refused"])


@pytest.mark.slow
def test_an_unreachable_authority_is_reported_once_with_nothing_on_stderr() -> None:
    """The key store's "retrying" warning is for servers: the report names the failure."""
    local = LocalIssuer(authority="http://127.0.0.1:9")
    result = run("token", "check", local.token(), "--client-id", local.client_id,
                 "--authority", "http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == ""
    assert "Result: INVALID (keys_unavailable)" in result.stdout
    keys = next(line for line in result.stdout.splitlines() if "FAIL  Metadata" in line)
    assert "GET http://127.0.0.1:9/organizations/v2.0/.well-known/openid-configuration" in keys
    assert "retrying" not in result.stdout


def test_a_check_leaves_the_library_logger_as_it_found_it(
    capsys: pytest.CaptureFixture[str], local: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("aad_guard")
    handlers = list(logger.handlers)
    check(
        capsys, local.token(), "--client-id", local.client_id, "--authority", "http://127.0.0.1:9"
    )
    assert (logger.handlers, logger.propagate) == (handlers, True)
    assert caplog.records == []  # the failure was the report's, not the log's
