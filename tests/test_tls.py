"""The local issuer over HTTPS: its CA, kept in the cache folder, and who can reach it."""

from __future__ import annotations

import logging
import os
import ssl
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from aad_guard import TokenValidator
from aad_guard.testing import LocalIssuerServer
from aad_guard.testing._cache import CacheFolder, default_cache_dir
from aad_guard.testing._tls import server_certificate
from tests.helpers import serving

METADATA = "/common/v2.0/.well-known/openid-configuration"


def trusting(server: LocalIssuerServer) -> ssl.SSLContext:
    assert server.ca_path is not None
    return ssl.create_default_context(cafile=server.ca_path)


def test_serves_https_to_clients_that_trust_its_ca(tmp_path: Path) -> None:
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.ca_path == tmp_path / "ca.pem"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}{METADATA}")
        trusted = httpx.get(f"{server.url}{METADATA}", verify=trusting(server))
        by_name = server.url.replace("127.0.0.1", "localhost")
        named = httpx.get(f"{by_name}{METADATA}", verify=trusting(server))
    assert trusted.json()["issuer"] == f"{server.url}/{{tenantid}}/v2.0"
    assert named.status_code == 200  # the certificate names localhost too


def test_a_plain_http_client_gets_no_answer_and_the_server_serves_on(tmp_path: Path) -> None:
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        plain = server.url.replace("https://", "http://")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{plain}{METADATA}")
        after = httpx.get(f"{server.url}{METADATA}", verify=trusting(server))
    assert after.status_code == 200


@pytest.mark.anyio
async def test_validator_fetches_keys_from_the_https_issuer(tmp_path: Path) -> None:
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        async with httpx.AsyncClient(verify=trusting(server)) as http:
            validator = TokenValidator(
                client_id=server.issuer.client_id, authority=server.url, http_client=http
            )
            async with validator:
                principal = await validator.validate(server.issuer.token())
    assert principal.tenant_id == server.issuer.tenant_id
    assert server.issuer.count("jwks") == 1


def test_the_ca_is_kept_between_runs(tmp_path: Path) -> None:
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as first:
        assert first.ca_path is not None
        ca = first.ca_path.read_bytes()
    trust = ssl.create_default_context(cafile=tmp_path / "ca.pem")  # told once, before
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as second:
        answer = httpx.get(f"{second.url}{METADATA}", verify=trust)
    assert second.ca_path == first.ca_path
    assert second.ca_path.read_bytes() == ca
    assert answer.status_code == 200


def test_keys_are_private_to_their_owner(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "aad-guard"
    certificate = server_certificate(CacheFolder(folder))
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert modes["ca-key.pem"] == modes[certificate.key_path.name] == 0o600
    assert modes["ca.pem"] == 0o644
    assert sorted(p.name for p in Path(folder).iterdir() if not p.name.startswith(".")) == [
        "ca-key.pem",
        "ca.pem",
        "localhost-key.pem",
        "localhost.pem",
    ]


@pytest.mark.parametrize("damage", [b"", b"-----BEGIN CERTIFICATE-----\ntruncat"])
def test_a_damaged_ca_is_made_anew_with_a_warning(
    tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    folder = CacheFolder(tmp_path)
    server_certificate(folder)
    (tmp_path / "ca.pem").write_bytes(damage)
    with (
        caplog.at_level(logging.WARNING, logger="aad_guard.testing"),
        LocalIssuerServer(tls=True, cache_dir=tmp_path) as server,
    ):
        answer = httpx.get(f"{server.url}{METADATA}", verify=trusting(server))
    assert answer.status_code == 200
    assert "could not be read" in caplog.text
    assert f"clients must trust {tmp_path / 'ca.pem'} again" in caplog.text


def test_a_ca_without_its_key_is_made_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = CacheFolder(tmp_path)
    server_certificate(folder)
    old = (tmp_path / "ca.pem").read_bytes()
    (tmp_path / "ca-key.pem").unlink()
    server_certificate(folder)
    assert (tmp_path / "ca.pem").read_bytes() != old
    assert "is missing" in caplog.text


def test_a_ca_with_another_key_is_made_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = CacheFolder(tmp_path)
    server_certificate(folder)
    (tmp_path / "ca-key.pem").write_bytes((tmp_path / "localhost-key.pem").read_bytes())
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        answer = httpx.get(f"{server.url}{METADATA}", verify=trusting(server))
    assert answer.status_code == 200
    assert "the key is not the certificate's" in caplog.text


def test_a_failed_write_leaves_the_old_file_and_no_scraps(tmp_path: Path) -> None:
    folder = CacheFolder(tmp_path)
    (tmp_path / "ca.pem").mkdir()
    with pytest.raises(OSError):
        folder.write("ca.pem", b"new", private=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ca.pem"]


@pytest.mark.parametrize(
    "damage", [{"localhost.pem": b"junk"}, {"localhost-key.pem": b"junk"}, {"localhost.pem": None}]
)
def test_a_damaged_server_certificate_is_issued_again_by_the_same_ca(
    tmp_path: Path, damage: dict[str, bytes | None], caplog: pytest.LogCaptureFixture
) -> None:
    folder = CacheFolder(tmp_path)
    server_certificate(folder)
    ca = (tmp_path / "ca.pem").read_bytes()
    for name, content in damage.items():
        if content is None:
            (tmp_path / name).unlink()
        else:
            (tmp_path / name).write_bytes(content)
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        answer = httpx.get(f"{server.url}{METADATA}", verify=trusting(server))
    assert answer.status_code == 200
    assert (tmp_path / "ca.pem").read_bytes() == ca
    assert caplog.text == ""


def test_a_server_certificate_of_another_ca_is_issued_again(tmp_path: Path) -> None:
    server_certificate(CacheFolder(tmp_path / "a"))
    server_certificate(CacheFolder(tmp_path / "b"))
    for name in ("localhost.pem", "localhost-key.pem"):
        (tmp_path / "a" / name).write_bytes((tmp_path / "b" / name).read_bytes())
    with LocalIssuerServer(tls=True, cache_dir=tmp_path / "a") as server:
        answer = httpx.get(f"{server.url}{METADATA}", verify=trusting(server))
    assert answer.status_code == 200


def test_certificates_are_renewed_before_they_expire(tmp_path: Path) -> None:
    folder = CacheFolder(tmp_path)
    now = datetime.now(UTC)
    first = server_certificate(folder, now=now)
    leaf, ca = leaf_of(first.cert_path), (tmp_path / "ca.pem").read_bytes()
    assert leaf.not_valid_after_utc - now <= timedelta(days=398)  # browsers' limit
    assert leaf_of(server_certificate(folder, now=now + timedelta(days=300)).cert_path) == leaf
    renewed = leaf_of(server_certificate(folder, now=now + timedelta(days=340)).cert_path)
    assert renewed != leaf and (tmp_path / "ca.pem").read_bytes() == ca
    server_certificate(folder, now=now + timedelta(days=3640))  # the CA itself nears its end
    assert (tmp_path / "ca.pem").read_bytes() != ca


def leaf_of(chain: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain.read_bytes())[0]


def test_the_ca_vouches_for_loopback_names_only(tmp_path: Path) -> None:
    ca = x509.load_pem_x509_certificate(
        server_certificate(CacheFolder(tmp_path)).ca_path.read_bytes()
    )
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    leaf = leaf_of(tmp_path / "localhost.pem")
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in names] == ["localhost", "127.0.0.1", "::1"]
    assert [str(n.value) for n in constraints.permitted_subtrees or []] == [
        "localhost",
        "127.0.0.1/32",
        "::1/128",
    ]


# -- the request gate over https -------------------------------------------------------------


def test_posts_from_its_own_https_pages_pass_and_http_pages_do_not(tmp_path: Path) -> None:
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        port = server.url.rsplit(":", 1)[1]

        def mint_from(origin: str) -> int:
            headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
            url = f"{server.url}/_local/mint"
            return httpx.post(url, json={}, headers=headers, verify=trusting(server)).status_code

        statuses = [
            mint_from(f"https://127.0.0.1:{port}"),
            mint_from(f"https://localhost:{port}"),
            mint_from(f"http://127.0.0.1:{port}"),
        ]
        no_port = httpx.get(
            f"{server.url}{METADATA}", headers={"Host": "127.0.0.1"}, verify=trusting(server)
        )
    assert statuses == [200, 200, 403]
    assert no_port.status_code == 421  # port 443 is another server's


# -- where the folder is ---------------------------------------------------------------------


def test_the_cache_folder_follows_the_platform_and_can_be_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AAD_GUARD_CACHE_DIR", str(tmp_path / "chosen"))
    assert default_cache_dir() == tmp_path / "chosen"
    monkeypatch.delenv("AAD_GUARD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "aad-guard"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "aad-guard"


# -- the command line ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["cache-dir", "throwaway"])
def test_the_command_serves_https_and_prints_its_ca(tmp_path: Path, folder: str) -> None:
    options = ["--cache-dir", str(tmp_path)] if folder == "cache-dir" else ["--throwaway"]
    command = ["aad_guard.cli", "issuer", "--tls", "--port", "0", *options]
    with serving(command, ready="Ctrl-C stops it.") as lines:
        url = lines[0].split()[3]
        ca_path = Path(
            next(line for line in lines if line.startswith("CA certificate")).split()[-1]
        )
        trust = ssl.create_default_context(cafile=ca_path)
        metadata = httpx.get(f"{url}{METADATA}", verify=trust).json()
        minted = subprocess.run(  # noqa: S603 (the test runs its own command)
            [sys.executable, "-m", "aad_guard.cli", "token", "mint", "--issuer", url,
             "--cache-dir", str(ca_path.parent)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert url.startswith("https://127.0.0.1:")
    assert metadata["issuer"] == f"{url}/{{tenantid}}/v2.0"
    assert minted.returncode == 0, minted.stderr
    assert minted.stdout.count(".") == 2
    if folder == "cache-dir":
        assert ca_path == tmp_path / "ca.pem"
    else:
        assert not ca_path.exists()  # deleted when the issuer stopped


def test_the_documented_https_sample_runs(capsys: pytest.CaptureFixture[str]) -> None:
    docs = (Path(__file__).parents[1] / "docs" / "testing.md").read_text()
    section = docs.split("### Serving over HTTPS", 1)[1]
    sample = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(sample, "docs/testing.md", "exec"), {"__name__": "sample"})  # noqa: S102
    url, ca_path, tenant_id = capsys.readouterr().out.split()
    assert url.startswith("https://127.0.0.1:")
    assert ca_path == str(Path(os.environ["AAD_GUARD_CACHE_DIR"]) / "ca.pem")
    assert tenant_id == "72f988bf-0000-4000-8000-00000000a001"


@pytest.mark.slow
def test_token_check_trusts_the_https_issuer_through_ssl_cert_file(tmp_path: Path) -> None:
    with LocalIssuerServer(tls=True, cache_dir=tmp_path) as server:
        command = [
            sys.executable, "-m", "aad_guard.cli", "token", "check", server.issuer.token(),
            "--client-id", server.issuer.client_id, "--authority", server.url,
        ]  # fmt: skip
        assert server.ca_path is not None
        checked = subprocess.run(  # noqa: S603 (the test runs its own command)
            command, capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "SSL_CERT_FILE": str(server.ca_path)},
        )  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    assert "Result: VALID" in checked.stdout
