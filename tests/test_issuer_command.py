"""`aad-guard issuer` with registered clients, and keys that outlive it for offline minting."""

from __future__ import annotations

import logging
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from aad_guard import TokenValidator
from aad_guard.errors import UnknownKeyError
from aad_guard.testing import DEFAULT_API_CLIENT_ID, DEFAULT_TENANT_ID
from aad_guard.testing.__main__ import main as serve
from aad_guard.testing._assertion import JWT_BEARER
from aad_guard.testing._cache import CacheFolder
from aad_guard.testing._keystore import stored_keys
from tests.certificates import ClientCertificate
from tests.helpers import serving

# Slow: runs the `aad-guard issuer` command.
pytestmark = pytest.mark.slow

SCOPE = f"api://{DEFAULT_API_CLIENT_ID}/.default"
READY = "Ctrl-C stops it."


def aad_guard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the test runs its own command)
        [sys.executable, "-m", "aad_guard.cli", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def issuer_url(lines: list[str]) -> str:
    return lines[0].split()[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def validate(token: str, authority: str, **client: object) -> set[str]:
    """The roles of `token`, validated by an API that trusts the issuer at `authority`."""
    async with httpx.AsyncClient(**client) as http:  # type: ignore[arg-type]
        validator = TokenValidator(
            client_id=DEFAULT_API_CLIENT_ID, authority=authority, http_client=http
        )
        async with validator:
            return set((await validator.validate(token)).roles)


@pytest.mark.anyio
async def test_a_client_registered_with_a_secret_gets_app_tokens(tmp_path: Path) -> None:
    command = [
        "aad_guard.cli", "issuer", "--port", "0", "--cache-dir", str(tmp_path),
        "--client", "spa", "--client", "daemon:s3cret:with-colon", "--client-role", "Tasks.Admin",
    ]  # fmt: skip
    with serving(command, ready=READY) as lines:
        url = issuer_url(lines)
        endpoint = f"{url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "scope": SCOPE, "client_id": "daemon"}
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                endpoint, data={**form, "client_secret": "s3cret:with-colon"}
            )
            wrong = await client.post(endpoint, data={**form, "client_secret": "s3cret"})
            public = await client.post(endpoint, data={**form, "client_id": "spa"})
        assert answer.status_code == 200, answer.text
        roles = await validate(answer.json()["access_token"], url)
    assert "Client daemon (confidential, with a secret) may redirect to: " in "".join(lines)
    assert roles == {"Tasks.Admin"}
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    # Entra's answer to a public client asking for client credentials: no credential sent.
    assert (public.status_code, public.json()["error_codes"]) == (401, [7000218])


@pytest.mark.anyio
async def test_a_client_registered_with_a_certificate_gets_app_tokens_over_https(
    tmp_path: Path,
) -> None:
    credential = ClientCertificate.new()
    pem = tmp_path / "daemon.pem"
    pem.write_bytes(credential.key_pem + credential.pem)  # as `openssl req -x509` makes them
    command = [
        "aad_guard.cli", "issuer", "--tls", "--port", "0", "--cache-dir", str(tmp_path),
        "--client-cert", f"daemon:{pem}", "--client-role", "Tasks.Run",
    ]  # fmt: skip
    with serving(command, ready=READY) as lines:
        url = issuer_url(lines)
        trust = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        endpoint = f"{url}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_id": "daemon",
            "client_assertion_type": JWT_BEARER,
        }
        good = credential.assertion("daemon", endpoint)
        stale = credential.assertion("daemon", endpoint, lifetime=60, issued_at=1_700_000_000)
        async with httpx.AsyncClient(verify=trust) as client:
            answer = await client.post(endpoint, data={**form, "client_assertion": good})
            refused = await client.post(endpoint, data={**form, "client_assertion": stale})
        assert answer.status_code == 200, answer.text
        roles = await validate(answer.json()["access_token"], url, verify=trust)
    assert roles == {"Tasks.Run"}
    assert f"x5t {credential.assertion_thumbprint}" in "".join(lines)
    assert refused.status_code == 401
    assert refused.json()["error_description"].startswith("AADSTS700024: ")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("daemon", "is not CLIENT_ID:PEM_FILE"),
        ("daemon:/no/such/file.pem", "No such file"),
        ("daemon:{junk}", "not a PEM certificate"),
    ],
)
def test_a_bad_client_certificate_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, message: str
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("junk")
    argv = ["--port", "0", "--throwaway", "--client-cert", option.format(junk=junk)]
    with pytest.raises(SystemExit) as exit_:
        serve(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


# -- keys that outlive the issuer ------------------------------------------------------------


@pytest.mark.anyio
async def test_a_token_minted_offline_is_accepted_once_the_issuer_runs(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    minted = aad_guard(
        "token", "mint", "--issuer", url, "--cache-dir", str(tmp_path), "--role", "Tasks.Admin"
    )
    assert minted.returncode == 0, minted.stderr
    assert "no local issuer answers" in minted.stderr
    command = [
        "aad_guard.cli",
        "issuer",
        "--port",
        url.rsplit(":", 1)[1],
        "--cache-dir",
        str(tmp_path),
    ]
    with serving(command, ready=READY) as lines:
        assert issuer_url(lines) == url
        roles = await validate(minted.stdout.strip(), url)
    assert roles == {"Tasks.Admin"}


@pytest.mark.anyio
async def test_a_running_https_issuer_accepts_what_is_minted_offline(tmp_path: Path) -> None:
    command = ["aad_guard.cli", "issuer", "--tls", "--port", "0", "--cache-dir", str(tmp_path)]
    with serving(command, ready=READY) as lines:
        url = issuer_url(lines)
        minted = aad_guard(
            "token", "mint", "--offline", "--issuer", url, "--cache-dir", str(tmp_path),
            "--scope", "Tasks.Read",
        )  # fmt: skip
        assert minted.returncode == 0, minted.stderr
        assert minted.stderr == ""  # --offline asks nobody and says nothing
        trust = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        await validate(minted.stdout.strip(), url, verify=trust)
        throwaway = aad_guard(
            "token", "mint", "--offline", "--issuer", url, "--cache-dir", str(tmp_path / "other")
        )
        with pytest.raises(UnknownKeyError):  # keys of another folder are not the issuer's
            await validate(throwaway.stdout.strip(), url, verify=trust)


def test_an_offline_mint_needs_an_issuer_url_the_validator_would_fetch(tmp_path: Path) -> None:
    result = aad_guard(
        "token",
        "mint",
        "--offline",
        "--issuer",
        "http://issuer.example",
        "--cache-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "must use https" in result.stderr


def test_signing_keys_are_kept_private_and_the_same_between_runs(tmp_path: Path) -> None:
    first = stored_keys(CacheFolder(tmp_path))
    second = stored_keys(CacheFolder(tmp_path))
    assert [key.kid for key in first] == [key.kid for key in second]
    assert len({key.kid for key in first}) == 2
    for path in tmp_path.glob("signing-key-*.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("damage", [b"", b"junk", "ec"])
def test_a_damaged_signing_key_is_made_anew_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: bytes | str
) -> None:
    folder = CacheFolder(tmp_path)
    kept, lost = stored_keys(folder)
    if damage == "ec":  # a key of the wrong kind, such as the CA's
        from aad_guard.testing._tls import server_certificate

        damage = server_certificate(folder).key_path.read_bytes()
    assert isinstance(damage, bytes)
    (tmp_path / "signing-key-2.pem").write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="aad_guard.testing"):
        again, made = stored_keys(folder)
    assert again.kid == kept.kid and made.kid != lost.kid
    assert "signing-key-2.pem" in caplog.text and "made a new one" in caplog.text
