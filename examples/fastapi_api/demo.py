"""`make demo`: the task service against a local issuer on loopback; no tenant, no network.

It serves a LocalIssuer over HTTPS (its CA kept in the user cache folder) and the example API
under uvicorn, runs a short scripted session that prints each call and its answer, then leaves
both running (Swagger UI, whose Authorize signs in on the local issuer's page, a ready-to-paste
curl line, and the few lines of MSAL that get a token from the issuer) until Ctrl-C.
`--no-wait` stops after the script; the exit status is 1 if any answer differed from the
expected one.
"""

from __future__ import annotations

import argparse
import secrets
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import httpx
import uvicorn

from aad_guard.testing import (
    DEFAULT_CALLER_CLIENT_ID,
    OTHER_TENANT_ID,
    LocalIssuer,
    LocalIssuerServer,
)
from examples.fastapi_api.service import create_app
from examples.fastapi_api.settings import Settings
from examples.loopback import loopback_socket

DAEMON_CLIENT_ID = "0c1d2e3f-0000-4000-8000-0000000c0d03"
"""The confidential client that the printed MSAL lines sign in as, with the Tasks.Admin role."""
MSAL_BEGIN = "--- MSAL (pip install msal): an app-only token with the Tasks.Admin role ---"
MSAL_END = "--- end of MSAL ---"


@dataclass(frozen=True)
class Step:
    """One scripted call: what it shows, the request, and the answer expected."""

    title: str
    method: str
    path: str
    token: str | None
    expected: int


def _steps(issuer: LocalIssuer) -> list[Step]:
    expired = issuer.token(scopes=["Tasks.Read"], issued_at=time.time() - 7200, lifetime=3600)
    return [
        Step(
            "work account, scope Tasks.Read",
            "GET",
            "/tasks",
            issuer.token(scopes=["Tasks.Read"]),
            200,
        ),
        Step("no token", "GET", "/tasks", None, 401),
        Step(
            "Tasks.Read only, deleting needs Tasks.Delete",
            "DELETE",
            "/tasks/1",
            issuer.token(scopes=["Tasks.Read"]),
            403,
        ),
        Step(
            "app-only token with the Tasks.Admin role, of the operator's tenant",
            "GET",
            "/admin/stats",
            issuer.token(app_only=True, roles=["Tasks.Admin"]),
            200,
        ),
        Step(
            "Tasks.Admin given by a customer tenant: not the operator's",
            "GET",
            "/admin/stats",
            issuer.token(app_only=True, roles=["Tasks.Admin"], tenant_id=OTHER_TENANT_ID),
            403,
        ),
        Step(
            "personal Microsoft account; the API admits organizations only",
            "GET",
            "/tasks",
            issuer.token(personal=True, scopes=["Tasks.Read"]),
            401,
        ),
        Step("token that expired an hour ago", "GET", "/tasks", expired, 401),
        Step(
            "work account of another tenant, scope Tasks.Read",
            "GET",
            "/tasks",
            issuer.token(tenant_id=OTHER_TENANT_ID, scopes=["Tasks.Read"]),
            200,
        ),
    ]


def register_swagger_ui(issuer: LocalIssuer, api_url: str) -> None:
    """Let the API's Swagger UI sign in on the issuer; its admin account gets Tasks.Admin."""
    issuer.signin.register_client(
        DEFAULT_CALLER_CLIENT_ID, redirect_uris=[f"{api_url}/docs/oauth2-redirect"]
    )
    issuer.signin.users["admin"] = replace(issuer.signin.users["admin"], roles=("Tasks.Admin",))


def register_daemon(issuer: LocalIssuer) -> str:
    """Register the confidential client of the MSAL lines; returns its (fresh) secret."""
    secret = secrets.token_urlsafe(24)
    issuer.signin.register_client(DAEMON_CLIENT_ID, secret=secret, roles=["Tasks.Admin"])
    return secret


def msal_lines(server: LocalIssuerServer, secret: str) -> list[str]:
    """Python a user pastes to get a token from the running issuer, with MSAL."""
    issuer = server.issuer
    return [
        "import msal",
        "app = msal.ConfidentialClientApplication(",
        f'    "{DAEMON_CLIENT_ID}",',
        f'    client_credential="{secret}",',
        f'    authority="{server.url}/{issuer.tenant_id}",',
        "    instance_discovery=False,",
        f'    verify="{server.ca_path}",',
        ")",
        f'result = app.acquire_token_for_client(["api://{issuer.client_id}/.default"])',
        'print(result["access_token"])',
    ]


def run_script(api_url: str, issuer: LocalIssuer) -> bool:
    """Make each scripted call, print it with its answer; `True` if all were as expected."""
    all_expected = True
    with httpx.Client(base_url=api_url, timeout=10) as client:
        for step in _steps(issuer):
            headers = {} if step.token is None else {"Authorization": f"Bearer {step.token}"}
            response = client.request(step.method, step.path, headers=headers)
            ok = response.status_code == step.expected
            all_expected &= ok
            print(f"{'ok ' if ok else 'BAD'} {step.method:6} {step.path:13} {step.title}")
            print(f"      -> {response.status_code} {response.text[:110]}")
            challenge = response.headers.get("WWW-Authenticate")
            if challenge:
                print(f"         WWW-Authenticate: {challenge[:110]}")
    return all_expected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    parser.add_argument("--issuer-port", type=int, default=8400, help="issuer port (default 8400)")
    parser.add_argument("--no-wait", action="store_true", help="stop after the scripted session")
    args = parser.parse_args(argv)

    issuer_socket = loopback_socket(args.issuer_port)
    issuer_port = issuer_socket.getsockname()[1]
    issuer_socket.close()  # the issuer server binds it again at once
    with LocalIssuerServer(port=issuer_port, tls=True) as issuer_server:
        issuer = issuer_server.issuer
        # Asked for explicitly: the API trusts this issuer, which is on loopback, and its CA.
        settings = Settings.local(issuer_server.url)
        trust = ssl.create_default_context(cafile=issuer_server.ca_path)
        api_socket = loopback_socket(args.port)
        api_url = f"http://127.0.0.1:{api_socket.getsockname()[1]}"
        register_swagger_ui(issuer, api_url)
        secret = register_daemon(issuer)
        app = create_app(settings, http_client=httpx.AsyncClient(verify=trust))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [api_socket]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        print(f"Local issuer: {issuer_server.url}   API: {api_url}")
        print(f"The issuer's CA certificate (trust it once): {issuer_server.ca_path}\n")
        all_expected = run_script(api_url, issuer)
        print("\nEvery answer as expected." if all_expected else "\nSome answers differed.")
        if not args.no_wait:
            token = issuer.token(scopes=["Tasks.Read", "Tasks.Write"], lifetime=3600)
            print(f"\nSwagger UI: {api_url}/docs")
            print("  Authorize opens the local issuer's sign-in page: pick an account, Accept.")
            print(
                "  (Over HTTPS: have the browser trust the CA above, or accept the issuer's page.)"
            )
            print(f"Try:\n  curl -H 'Authorization: Bearer {token}' {api_url}/tasks\n")
            print(MSAL_BEGIN)
            print("\n".join(msal_lines(issuer_server, secret)))
            print(MSAL_END)
            print(f"  then: curl -H 'Authorization: Bearer <that token>' {api_url}/admin/stats\n")
            print("Ctrl-C stops both servers.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("\nStopping.")
        server.should_exit = True
        thread.join(timeout=10)
    return 0 if all_expected else 1


if __name__ == "__main__":
    sys.exit(main())
