"""MSAL Python, as users run it, against the local issuer over HTTPS, then the API it calls.

MSAL is synchronous (requests): these tests are plain functions; the API runs in Starlette's
test client and validates over HTTPS against the same server.
"""

from __future__ import annotations

import hashlib
import html
import re
import ssl
from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import msal
import pytest
from fastapi import Depends, FastAPI
from starlette.testclient import TestClient

from aad_guard import AADGuardMiddleware, Principal, TokenValidator, require_roles, require_scopes
from aad_guard.testing import LocalIssuerServer
from tests.certificates import ClientCertificate

# Slow: MSAL flows over HTTPS.
pytestmark = pytest.mark.slow

PUBLIC = "0c1d2e3f-0000-4000-8000-0000000c0002"
DAEMON = "0c1d2e3f-0000-4000-8000-0000000c0003"
SECRET = "daemon-secret"
REDIRECT = "http://localhost:8765/callback"


@pytest.fixture(autouse=True)
def requests_uses_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE override MSAL's `verify=`."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def server() -> Iterator[LocalIssuerServer]:
    with LocalIssuerServer(tls=True) as server:
        server.issuer.signin.register_client(PUBLIC, redirect_uris=[REDIRECT])
        server.issuer.signin.register_client(DAEMON, secret=SECRET, roles=["Tasks.Admin"])
        yield server


def ca(server: LocalIssuerServer) -> str:
    assert server.ca_path is not None
    return str(server.ca_path)


def scope(server: LocalIssuerServer, name: str) -> str:
    return f"api://{server.issuer.client_id}/{name}"


def daemon_app(server: LocalIssuerServer, **options: Any) -> msal.ConfidentialClientApplication:
    """The daemon's MSAL app with its secret, against the server's tenant."""
    return msal.ConfidentialClientApplication(
        DAEMON,
        client_credential=SECRET,
        authority=f"{server.url}/{server.issuer.tenant_id}",
        instance_discovery=False,
        verify=ca(server),
        **options,
    )


def build_api(server: LocalIssuerServer, *, client_id: str | None = None) -> FastAPI:
    """The API under test: it trusts the issuer, fetching its keys over HTTPS."""
    app = FastAPI()

    @app.get("/tasks")
    async def tasks(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> str:
        return user.username or ""

    @app.get("/admin")
    async def admin(user: Annotated[Principal, Depends(require_roles("Tasks.Admin"))]) -> str:
        return user.client_id or ""

    trust = ssl.create_default_context(cafile=ca(server))
    validator = TokenValidator(
        client_id=client_id or server.issuer.client_id,
        authority=server.url,
        http_client=httpx.AsyncClient(verify=trust),
    )
    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


class Answer(NamedTuple):
    """The API's answer: its status and its JSON body."""

    status_code: int
    body: Any


def call_api(
    server: LocalIssuerServer, path: str, token: str, *, client_id: str | None = None
) -> Answer:
    with TestClient(build_api(server, client_id=client_id)) as api:
        response = api.get(path, headers={"Authorization": f"Bearer {token}"})
        return Answer(response.status_code, response.json())


def browser_sign_in(
    server: LocalIssuerServer, url: str, *, user: str = "work", decision: str = "accept"
) -> httpx.Response:
    """What a browser does: open the page, pick `user`, answer the consent form."""
    with httpx.Client(verify=ssl.create_default_context(cafile=ca(server))) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert action is not None and csrf is not None, page.text
        return browser.post(
            urljoin(url, html.unescape(action[1])),
            data={"csrf_token": csrf[1], "user": user, "decision": decision},
        )


def auth_response(answer: httpx.Response) -> dict[str, str]:
    """What the app's redirect URI receives: a query, or the fields of a form_post page."""
    if answer.status_code == 302:
        return dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    assert answer.status_code == 200
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', answer.text)
    return {name: html.unescape(value) for name, value in fields}


def public_app(server: LocalIssuerServer, tenant: str = "organizations") -> msal.ClientApplication:
    return msal.PublicClientApplication(
        PUBLIC, authority=f"{server.url}/{tenant}", instance_discovery=False, verify=ca(server)
    )


def sign_in(
    server: LocalIssuerServer, app: msal.ClientApplication, user: str = "work"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """MSAL's authorization code flow with PKCE, answered in form_post: (flow, result)."""
    flow = app.initiate_auth_code_flow(
        [scope(server, "Tasks.Read")], redirect_uri=REDIRECT, response_mode="form_post"
    )
    answer = browser_sign_in(server, flow["auth_uri"], user=user)
    assert "document.forms[0].submit()" in answer.text
    result = app.acquire_token_by_auth_code_flow(flow, auth_response(answer))
    assert "access_token" in result, result
    return flow, result


def token_requests(server: LocalIssuerServer) -> int:
    return sum(1 for r in server.issuer.requests if r.url.path.endswith("/oauth2/v2.0/token"))


def expire_cached_access_tokens(app: msal.ClientApplication) -> None:
    """As if an hour had passed for MSAL: its cached access tokens are out of date."""
    kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
    for entry in app.token_cache.search(kind):
        app.token_cache.modify(kind, entry, {"expires_on": "1", "refresh_on": "1"})


# -- client credentials -----------------------------------------------------------------------


def test_confidential_client_with_a_secret_gets_an_app_token_for_an_app_role_route(
    server: LocalIssuerServer,
) -> None:
    app = daemon_app(server)
    result = app.acquire_token_for_client([scope(server, ".default")])
    assert result.get("token_type") == "Bearer", result
    admin = call_api(server, "/admin", result["access_token"])
    assert tuple(admin) == (200, DAEMON)
    assert call_api(server, "/tasks", result["access_token"]).status_code == 403
    again = app.acquire_token_for_client([scope(server, ".default")])
    assert again["token_source"] == "cache"


def test_confidential_client_with_a_certificate_gets_an_app_token(
    server: LocalIssuerServer,
) -> None:
    certificate = ClientCertificate.new()
    server.issuer.signin.register_client(
        "cert-daemon", certificate=certificate.pem, roles=["Tasks.Admin"]
    )
    app = msal.ConfidentialClientApplication(
        "cert-daemon",
        client_credential={
            "private_key": certificate.key_pem.decode(),
            "thumbprint": certificate.sha1_hex,
        },
        authority=f"{server.url}/{server.issuer.tenant_id}",
        instance_discovery=False,
        verify=ca(server),
    )
    result = app.acquire_token_for_client([scope(server, ".default")])
    assert "access_token" in result, result
    assert tuple(call_api(server, "/admin", result["access_token"])) == (200, "cert-daemon")
    # Another key with the same thumbprint claim: not the registered certificate's.
    forger = msal.ConfidentialClientApplication(
        "cert-daemon",
        client_credential={
            "private_key": ClientCertificate.new().key_pem.decode(),
            "thumbprint": certificate.sha1_hex,
        },
        authority=f"{server.url}/{server.issuer.tenant_id}",
        instance_discovery=False,
        verify=ca(server),
    )
    refused = forger.acquire_token_for_client([scope(server, ".default")])
    assert (refused["error"], refused["error_codes"]) == ("invalid_client", [700027])


@pytest.mark.parametrize(
    "where",
    [
        {"instance_discovery": False},
        {"validate_authority": False},
        {"oidc_authority": "{url}/{tenant}/v2.0"},
    ],
    ids=["instance_discovery", "validate_authority", "oidc_authority"],
)
def test_each_way_of_naming_the_issuer_to_msal_works_offline(
    server: LocalIssuerServer, where: dict[str, object]
) -> None:
    """Each option spares MSAL its instance discovery at Entra (offline, it would fail)."""
    options = {
        name: value.format(url=server.url, tenant=server.issuer.tenant_id)
        if isinstance(value, str)
        else value
        for name, value in where.items()
    }
    if "oidc_authority" not in options:
        options["authority"] = f"{server.url}/{server.issuer.tenant_id}"
    app = msal.ConfidentialClientApplication(
        DAEMON, client_credential=SECRET, verify=ca(server), **options
    )
    result = app.acquire_token_for_client([scope(server, ".default")])
    assert call_api(server, "/admin", result["access_token"]).status_code == 200


def test_confidential_client_with_a_wrong_secret_gets_entras_error(
    server: LocalIssuerServer,
) -> None:
    app = msal.ConfidentialClientApplication(
        DAEMON,
        client_credential="wrong",
        authority=f"{server.url}/{server.issuer.tenant_id}",
        instance_discovery=False,
        verify=ca(server),
    )
    result = app.acquire_token_for_client([scope(server, ".default")])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: ")


# -- authorization code with PKCE, the cache and refresh tokens ------------------------------


def test_auth_code_flow_signs_in_and_msal_keeps_the_account(server: LocalIssuerServer) -> None:
    app = public_app(server)
    flow, result = sign_in(server, app, user="admin")
    claims = result["id_token_claims"]
    admin = server.issuer.signin.users["admin"]
    # MSAL sends the SHA-256 of its nonce, and checks that the ID token echoes it.
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert (claims["aud"], claims["preferred_username"]) == (PUBLIC, admin.username)
    assert (claims["oid"], claims["tid"]) == (admin.object_id, server.issuer.tenant_id)
    assert claims["iss"] == f"{server.url}/{server.issuer.tenant_id}/v2.0"
    answer = call_api(server, "/tasks", result["access_token"])
    assert tuple(answer) == (200, admin.username)

    (account,) = app.get_accounts()
    assert account["username"] == admin.username
    assert account["home_account_id"] == f"{admin.object_id}.{server.issuer.tenant_id}"
    before = token_requests(server)
    cached = app.acquire_token_silent([scope(server, "Tasks.Read")], account=account)
    assert cached is not None and cached["token_source"] == "cache"
    assert cached["access_token"] == result["access_token"]
    assert token_requests(server) == before


def test_silent_sign_in_refreshes_an_expired_token_through_the_refresh_token(
    server: LocalIssuerServer,
) -> None:
    app = public_app(server)
    _, first = sign_in(server, app)
    expire_cached_access_tokens(app)
    (account,) = app.get_accounts()
    refreshed = app.acquire_token_silent([scope(server, "Tasks.Read")], account=account)
    assert refreshed is not None and refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    assert call_api(server, "/tasks", refreshed["access_token"]).status_code == 200
    # The refresh token rotated: the first one is spent.
    spent = httpx.post(
        f"{server.url}/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": PUBLIC,
            "refresh_token": first["refresh_token"],
        },
        verify=ssl.create_default_context(cafile=ca(server)),
    )
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")


def test_msal_refreshes_a_short_lived_token_before_it_expires(server: LocalIssuerServer) -> None:
    """MSAL refreshes a token with less than five minutes left: a short lifetime shows it."""
    server.issuer.signin.token_lifetime = 120
    app = public_app(server)
    _, first = sign_in(server, app)
    assert first["expires_in"] == 120
    (account,) = app.get_accounts()
    refreshed = app.acquire_token_silent([scope(server, "Tasks.Read")], account=account)
    assert refreshed is not None and refreshed["token_source"] == "identity_provider"
    assert call_api(server, "/tasks", refreshed["access_token"]).status_code == 200


def test_removed_account_cannot_refresh_and_msal_asks_for_a_sign_in(
    server: LocalIssuerServer,
) -> None:
    app = public_app(server)
    sign_in(server, app)
    del server.issuer.signin.users["work"]
    expire_cached_access_tokens(app)
    (account,) = app.get_accounts()
    result = app.acquire_token_silent_with_error([scope(server, "Tasks.Read")], account=account)
    assert result is not None and result["error"] == "invalid_grant"
    assert result["error_codes"] == [50173]


def test_query_response_mode_works_too(server: LocalIssuerServer) -> None:
    app = public_app(server)
    with pytest.warns(UserWarning, match="form_post"):  # MSAL recommends form_post
        flow = app.initiate_auth_code_flow([scope(server, "Tasks.Read")], redirect_uri=REDIRECT)
    answer = browser_sign_in(server, flow["auth_uri"])
    assert answer.status_code == 302
    result = app.acquire_token_by_auth_code_flow(flow, auth_response(answer))
    assert call_api(server, "/tasks", result["access_token"]).status_code == 200


def test_declined_consent_reaches_msal_as_entras_error(server: LocalIssuerServer) -> None:
    app = public_app(server)
    flow = app.initiate_auth_code_flow(
        [scope(server, "Tasks.Read")], redirect_uri=REDIRECT, response_mode="form_post"
    )
    answer = browser_sign_in(server, flow["auth_uri"], decision="cancel")
    result = app.acquire_token_by_auth_code_flow(flow, auth_response(answer))
    assert result["error"] == "access_denied"
    assert result["error_description"].startswith("AADSTS65004: ")


def test_token_for_another_api_is_refused_by_the_api(server: LocalIssuerServer) -> None:
    _, result = sign_in(server, public_app(server))
    other_api = "6e5a2b8c-0000-4000-8000-0000000a0002"
    answer = call_api(server, "/tasks", result["access_token"], client_id=other_api)
    assert answer.status_code == 401
    assert answer.body["error_description"] == "The access token was issued for another audience."


# -- device code -------------------------------------------------------------------------------


def test_device_code_flow_completes_after_a_scripted_sign_in(server: LocalIssuerServer) -> None:
    app = public_app(server)
    flow = app.initiate_device_flow([scope(server, "Tasks.Read")])
    assert flow["verification_uri"] == f"{server.url}/devicelogin"
    assert flow["user_code"] in flow["message"]
    # Another device, not signed in yet: MSAL polls once and is told to wait.
    waiting = app.initiate_device_flow([scope(server, "Tasks.Read")])
    pending = app.acquire_token_by_device_flow(waiting, exit_condition=lambda flow: True)
    assert (pending["error"], pending["error_codes"]) == ("authorization_pending", [70016])

    signed_in = browser_sign_in(server, f"{flow['verification_uri']}?user_code={flow['user_code']}")
    assert "You have signed in" in signed_in.text
    result = app.acquire_token_by_device_flow(flow)
    assert result["id_token_claims"]["preferred_username"] == "local.user@contoso.example"
    assert call_api(server, "/tasks", result["access_token"]).status_code == 200
    assert [account["username"] for account in app.get_accounts()] == ["local.user@contoso.example"]
