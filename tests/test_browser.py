"""Swagger UI of the example API signs in on the local issuer in a real browser, offline."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from examples.fastapi_api.demo import register_swagger_ui
from examples.fastapi_api.service import create_app
from examples.fastapi_api.settings import Settings
from playwright.sync_api import Page, Request, sync_playwright

from aad_guard.testing import LocalIssuerServer

# Slow: drives Chromium.
pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
# Flags that let Chromium run headless as root in a container, and keep it off the network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline: loopback only
]


def chromium_or_skip() -> str:
    """The system Chromium; CI must have it (`.ci/run` installs it), elsewhere it may be absent."""
    if shutil.which(CHROMIUM) is None:
        reason = f"{CHROMIUM} is missing: install it with `apt-get install chromium`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def api_and_issuer() -> Iterator[tuple[str, LocalIssuerServer]]:
    """The example API under uvicorn and a local issuer, each on a free loopback port."""
    with LocalIssuerServer() as issuer_server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        api_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        register_swagger_ui(issuer_server.issuer, api_url)
        app = create_app(Settings.local(issuer_server.url))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.02)
        try:
            yield api_url, issuer_server
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def test_swagger_ui_signs_in_on_the_local_issuer_and_calls_a_protected_route(
    api_and_issuer: tuple[str, LocalIssuerServer], tmp_path: Path
) -> None:
    api_url, issuer_server = api_and_issuer
    executable = chromium_or_skip()
    elsewhere: list[str] = []

    def record_elsewhere(request: Request) -> None:
        if not request.url.startswith((api_url, issuer_server.url)):
            elsewhere.append(request.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(15_000)  # a step that hangs fails in bounded time
            # Watched, not intercepted: Playwright answers CORS preflights itself when it
            # intercepts, and the issuer's own answer is what is tested here.
            context.on("request", record_elsewhere)
            page = context.new_page()
            page.goto(f"{api_url}/docs")
            page.locator("button.authorize").first.click()
            with page.expect_popup() as popup_info:
                page.locator(".auth-container button.authorize").first.click()
            sign_in = popup_info.value
            sign_in.wait_for_load_state()
            assert sign_in.url.startswith(
                f"{issuer_server.url}/organizations/oauth2/v2.0/authorize"
            )
            # docs/images/local-sign-in.png is a copy (see docs/testing.md).
            sign_in.screenshot(path=tmp_path / "local-sign-in.png")
            sign_in.get_by_label("Local User").check()
            with sign_in.expect_event("close"):
                sign_in.get_by_role("button", name="Accept").click()
            modal = page.locator(".modal-ux")
            # Swagger UI offers to log out once it holds a token.
            modal.get_by_role("button", name="Remove authorization").wait_for()
            modal.get_by_role("button", name="Close").click()
            with page.expect_response(f"{api_url}/tasks") as answer:
                call_list_tasks(page)
            shown = page.locator(".live-responses-table tbody .response-col_status")
            assert shown.inner_text().strip() == "200"
            assert answer.value.status == 200
            assert answer.value.request.headers["authorization"].startswith("Bearer ")
        finally:
            browser.close()
    assert elsewhere == []
    preflights = [r for r in issuer_server.issuer.requests if r.method == "OPTIONS"]
    assert [r.headers["origin"] for r in preflights] == [api_url]
    assert (tmp_path / "local-sign-in.png").stat().st_size > 0


def call_list_tasks(page: Page) -> None:
    operation = page.locator("#operations-default-list_tasks_tasks_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    operation.locator(".live-responses-table").wait_for()


# A name of the attacker's that their DNS now answers with 127.0.0.1: DNS rebinding.
REBINDING_FLAGS = [
    *(flag for flag in CHROMIUM_FLAGS if not flag.startswith("--host-resolver-rules")),
    "--host-resolver-rules=MAP rebound.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
MINT = """async (url) => {
    const answer = await fetch(url, {method: "POST", body: "{}"});
    return [answer.status, await answer.text()];
}"""


def test_pages_of_other_sites_cannot_mint_tokens_from_the_running_issuer(
    api_and_issuer: tuple[str, LocalIssuerServer],
) -> None:
    api_url, issuer_server = api_and_issuer
    executable = chromium_or_skip()
    issuer_port = issuer_server.url.rsplit(":", 1)[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=REBINDING_FLAGS)
        try:
            page = browser.new_context().new_page()
            # The page's own origin now reaches the issuer, so it could read the answers.
            rebound = f"http://rebound.test:{issuer_port}"
            landing = page.goto(f"{rebound}/organizations/v2.0/.well-known/openid-configuration")
            assert landing is not None and landing.status == 421
            status, text = page.evaluate(MINT, f"{rebound}/_local/mint")
            # Another site posting across: the browser sends it, the issuer refuses it.
            page.goto(f"{api_url.replace('127.0.0.1', 'rebound.test')}/health")
            page.evaluate(
                "url => fetch(url, {method: 'POST', mode: 'no-cors', body: '{}'})",
                f"{issuer_server.url}/_local/mint",
            )
        finally:
            browser.close()
    assert (status, "access_token" in text) == (421, False)
    assert [r for r in issuer_server.issuer.requests if r.url.path == "/_local/mint"] == []


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_missing_chromium_fails_on_ci_and_is_skipped_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install chromium"):
        chromium_or_skip()
