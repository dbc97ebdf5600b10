"""Every Python sample in README.md and docs/ runs as written, against the local issuer.

Placeholders such as `<api-client-id>` are filled in; requests a sample sends to Entra ID
(`https://login.microsoftonline.com`) are answered by an in-process `LocalIssuer` holding
those values, loopback requests go where they are addressed, and any other host fails the
test. A sample that defines an ASGI `app` is started (lifespan included) and sent the requests
its page lists; a sample that defines tests is run by pytest, and all of them must pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from aad_guard.testing import LocalIssuer

from .docs_samples import PLACEHOLDERS, ROOT, Sample, samples
from .helpers import run_uvicorn, serving

SAMPLES = samples()
ENTRA = "login.microsoftonline.com"


class EntraOrLoopback(httpx.AsyncBaseTransport):
    """Entra ID's host answered by the local issuer, loopback as addressed, nothing else."""

    def __init__(self, issuer: LocalIssuer, verify: object) -> None:
        self._issuer = issuer
        self._loopback = httpx.AsyncHTTPTransport(verify=verify)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == ENTRA:
            return await self._issuer.transport.handle_async_request(request)
        if host == "localhost" or _is_loopback_address(host):
            return await self._loopback.handle_async_request(request)
        raise AssertionError(f"a documented sample reached for the network: {request.url}")

    async def aclose(self) -> None:
        await self._loopback.aclose()


def _is_loopback_address(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def docs_issuer(monkeypatch: pytest.MonkeyPatch) -> LocalIssuer:
    """The issuer that answers for Entra ID while a sample runs, holding its placeholders."""
    tenant_id = PLACEHOLDERS["<tenant-id>"]
    issuer = LocalIssuer(
        client_id=PLACEHOLDERS["<api-client-id>"],
        tenant_id=tenant_id,
        domains={"contoso.onmicrosoft.com": tenant_id},
    )
    real_client = httpx.AsyncClient

    class RoutedClient(real_client):  # type: ignore[misc,valid-type]
        def __init__(self, **options: object) -> None:
            # Loopback requests keep the client's own trust (a local issuer's CA, say).
            options.setdefault("transport", EntraOrLoopback(issuer, options.get("verify", True)))
            super().__init__(**options)

    monkeypatch.setattr(httpx, "AsyncClient", RoutedClient)
    # requests lets these override MSAL's `verify=`; docs/testing.md ("With MSAL") says to
    # unset them, as the samples' reader does.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return issuer


def _run_script(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Execute the sample as a module of its own; `sys.argv[1]` is a valid token."""
    module = types.ModuleType("docs_sample")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(sample.source(), sample.id, "exec"), module.__dict__)  # noqa: S102
    return module


def _assert_printed(expected: list[str], printed: str) -> None:
    lines = iter(printed.splitlines())
    for want in expected:
        assert any(line == want for line in lines), f"{want!r} not printed; got:\n{printed}"


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if not s.is_test_module], ids=lambda sample: sample.id
)
def test_sample_runs(
    sample: Sample,
    docs_issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", [sample.id, docs_issuer.token()])
    module = _run_script(sample, monkeypatch)
    _assert_printed(sample.expected_output(), capsys.readouterr().out)
    app = getattr(module, "app", None)  # an ASGI app; MSAL's client apps are not callable
    if not callable(app):
        assert not sample.requests, "the page lists requests, but the sample defines no app"
        return
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        for request in sample.requests:
            headers = {}
            if not request.anonymous:
                token = docs_issuer.token(
                    scopes=request.scopes, roles=request.roles, app_only=request.scopes is None
                )
                headers["Authorization"] = f"Bearer {token}"
            response = client.request(request.method, request.path, headers=headers)
            assert response.status_code == request.status, (request, response.text)


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.is_test_module], ids=lambda sample: sample.id
)
def test_sample_tests_pass(sample: Sample, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=sample.source())
    result = pytester.runpytest("-p", "no:cacheprovider")
    tests = len(re.findall(r"^(?:async )?def test_", sample.code, re.MULTILINE))
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes().get("passed", 0) >= tests


def test_every_page_with_python_has_its_samples_found() -> None:
    pages = {sample.page.name for sample in SAMPLES}
    assert {"README.md", "configuration.md", "fastapi.md", "testing.md"} <= pages
    # The real client libraries' sections of docs/testing.md run too.
    testing = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    for section, library in [("With MSAL", "import msal"), ("With azure-identity", "azure")]:
        body = testing.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
        found = [s for s in SAMPLES if s.page.name == "testing.md" and s.code in body]
        assert found and all(library in sample.code for sample in found), section


@pytest.mark.slow
def test_the_readme_quickstart_serves_a_local_issuers_token_as_the_readme_says(
    tmp_path: Path,
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = next(sample for sample in SAMPLES if sample.page == ROOT / "README.md")
    start = re.search(r"Start `aad-guard (issuer)`", readme)
    authority = re.search(r'add\s+`(authority="http://127\.0\.0\.1:8400")`', readme)
    mint = re.search(r"`aad-guard (token mint [^`]+)`", readme)
    assert start and authority and mint, "README.md no longer says how to use the local issuer"
    with serving(["aad_guard.cli", start[1], "--port", "0"], ready="Ctrl-C stops it.") as lines:
        url = lines[0].split()[3]
        setting = authority[1].replace("http://127.0.0.1:8400", url)
        code = quickstart.code.replace('tenant="<tenant-id>",', f'tenant="<tenant-id>", {setting},')
        (tmp_path / "app.py").write_text(replace(quickstart, code=code).source(), encoding="utf-8")
        command = replace(quickstart, code=mint[1]).source().split()
        minted = subprocess.run(  # noqa: S603 (the test runs the documented command)
            [sys.executable, "-m", "aad_guard.cli", *command, "--issuer", url],
            capture_output=True,
            text=True,
            check=True,
        )
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        returncode, output, answers = run_uvicorn(tmp_path, get=["/tasks"], headers=headers)
    assert [answer.status_code for answer in answers] == [200], output
    assert answers[0].json() == {"tenant": PLACEHOLDERS["<tenant-id>"]}
    assert returncode == 0, output
