"""The local issuer's sign-in: authorize and token endpoints, in-process and over loopback."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from aad_guard import TokenValidator
from aad_guard.testing import (
    MSA_TENANT_ID,
    OTHER_TENANT_ID,
    LocalIssuer,
    LocalIssuerServer,
    LocalUser,
)
from tests.conftest import FakeClock, MakeValidator
from tests.helpers import decoded

pytestmark = pytest.mark.anyio

BASE = "https://login.microsoftonline.com"
CLIENT = "spa-client"
DAEMON = "daemon-client"
SECRET = "s3cret:with/odd chars"
REDIRECT = "http://127.0.0.1:8000/docs/oauth2-redirect"


def decoded_claims(token: str) -> dict[str, Any]:
    return decoded(token, 1)


def decoded_header(token: str) -> dict[str, Any]:
    return decoded(token, 0)


def pkce() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636 §4.1, §4.2)."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(page: httpx.Response) -> str:
    """The CSRF token of a sign-in page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match[1]


def answer_params(response: httpx.Response) -> dict[str, str]:
    """The parameters a redirect carries to the client, in its query or fragment."""
    location = urlsplit(response.headers["location"])
    return dict(parse_qsl(location.fragment or location.query))


class Flow:
    """One browser's authorization code flow against the issuer, step by step."""

    def __init__(self, http: httpx.AsyncClient, issuer: LocalIssuer) -> None:
        self.http = http
        self.issuer = issuer
        self.base = issuer.authority
        self.verifier, challenge = pkce()
        self.params = {
            "client_id": CLIENT,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": f"api://{issuer.client_id}/Tasks.Read {issuer.client_id}/Tasks.Write openid",
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }

    def url(self, endpoint: str, tenant: str = "organizations") -> str:
        return f"{self.base}/{tenant}/oauth2/v2.0/{endpoint}"

    async def page(self, tenant: str = "organizations", **changes: str) -> httpx.Response:
        return await self.http.get(self.url("authorize", tenant), params={**self.params, **changes})

    async def consent(
        self,
        user: str = "work",
        tenant: str = "organizations",
        decision: str = "accept",
        **changes: str,
    ) -> httpx.Response:
        """Open the sign-in page for the request with `changes`, then answer its form."""
        page = await self.page(tenant, **changes)
        assert page.status_code == 200, page.text
        return await self.post(tenant, csrf_token=csrf_token(page), user=user, decision=decision)

    async def post(self, tenant: str = "organizations", **form: str) -> httpx.Response:
        return await self.http.post(self.url("authorize", tenant), data=form)

    async def code(self, user: str = "work", tenant: str = "organizations") -> str:
        answer = await self.consent(user, tenant)
        assert answer.status_code == 302, answer.text
        return answer_params(answer)["code"]

    async def redeem(self, code: str, **changes: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "client_id": CLIENT,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": self.verifier,
            **changes,
        }
        return await self.http.post(self.url("token"), data={k: v for k, v in form.items() if v})


@pytest.fixture
async def http(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    issuer.signin.register_client(CLIENT, redirect_uris=[REDIRECT])
    issuer.signin.register_client(DAEMON, secret=SECRET, roles=["Tasks.Admin"])
    async with issuer.client() as client:
        yield client


@pytest.fixture
def flow(http: httpx.AsyncClient, issuer: LocalIssuer) -> Flow:
    return Flow(http, issuer)


def oauth_error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()["error"]


# -- authorization code with PKCE ------------------------------------------------------------


async def test_code_with_pkce_gives_a_token_that_validates_for_the_signed_in_user(
    flow: Flow, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    answer = await flow.consent()
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(f"{REDIRECT}?code=")
    assert answer_params(answer)["state"] == "xyz"
    token = await flow.redeem(answer_params(answer)["code"])
    assert token.status_code == 200
    assert token.headers["cache-control"] == "no-store"
    body = token.json()
    assert list(body) == [  # Entra's members, in its order; no refresh token without offline_access
        "token_type", "scope", "expires_in", "ext_expires_in", "access_token", "id_token"
    ]  # fmt: skip
    assert body["token_type"] == "Bearer" and body["expires_in"] == body["ext_expires_in"] == 3600
    assert body["scope"] == (
        f"api://{issuer.client_id}/Tasks.Read api://{issuer.client_id}/Tasks.Write openid"
    )
    principal = await make_validator().validate(body["access_token"])
    work = issuer.signin.users["work"]
    assert (principal.tenant_id, principal.object_id) == (issuer.tenant_id, work.object_id)
    assert (principal.name, principal.username) == ("Local User", "local.user@contoso.example")
    assert principal.scopes == {"Tasks.Read", "Tasks.Write"}
    assert principal.client_id == CLIENT
    assert principal.token_version == "2.0" and not principal.is_app


@pytest.mark.parametrize(
    ("user", "tenant_id", "roles"),
    [
        ("work", None, set()),
        ("other-tenant", OTHER_TENANT_ID, set()),
        ("personal", MSA_TENANT_ID, set()),
        ("admin", None, {"Admin"}),
    ],
)
async def test_each_account_signs_in_with_its_tenant_and_roles(
    flow: Flow,
    issuer: LocalIssuer,
    make_validator: MakeValidator,
    user: str,
    tenant_id: str | None,
    roles: set[str],
) -> None:
    token = (await flow.redeem(await flow.code(user, tenant="common"))).json()["access_token"]
    principal = await make_validator(tenant="common").validate(token)
    assert principal.tenant_id == (tenant_id or issuer.tenant_id)
    assert principal.username == issuer.signin.users[user].username
    assert principal.roles == roles


async def test_home_accounts_sign_in_to_the_issuers_tenant_of_the_moment(
    flow: Flow, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    issuer.tenant_id = "11111111-2222-4333-8444-555555555555"  # as a single-tenant app wants
    token = (await flow.redeem(await flow.code("admin"))).json()["access_token"]
    principal = await make_validator(tenant=issuer.tenant_id).validate(token)
    assert principal.tenant_id == issuer.tenant_id
    assert issuer.signin.users["admin"].tenant_id is None


async def test_wrong_verifier_is_invalid_grant_and_spends_the_code(flow: Flow) -> None:
    code = await flow.code()
    wrong = await flow.redeem(code, code_verifier=pkce()[0])
    assert oauth_error(wrong) == (400, "invalid_grant")
    assert "code_verifier" in wrong.json()["error_description"]
    assert oauth_error(await flow.redeem(code)) == (400, "invalid_grant")


async def test_missing_verifier_is_invalid_request(flow: Flow) -> None:
    missing = await flow.redeem(await flow.code(), code_verifier="")
    assert oauth_error(missing) == (400, "invalid_request")


async def test_reused_code_is_invalid_grant(flow: Flow) -> None:
    code = await flow.code()
    assert (await flow.redeem(code)).status_code == 200
    reused = await flow.redeem(code)
    assert oauth_error(reused) == (400, "invalid_grant")
    assert "already used" in reused.json()["error_description"]


async def test_code_expires_after_its_lifetime(flow: Flow, clock: FakeClock) -> None:
    code = await flow.code()
    clock.advance(60)
    expired = await flow.redeem(code)
    assert oauth_error(expired) == (400, "invalid_grant")
    assert "expired" in expired.json()["error_description"]


async def test_wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant(flow: Flow) -> None:
    code = await flow.code()
    other = await flow.redeem(code, redirect_uri="http://127.0.0.1:8001/docs/oauth2-redirect")
    assert oauth_error(other) == (400, "invalid_grant")


async def test_code_of_another_client_is_invalid_grant(flow: Flow, issuer: LocalIssuer) -> None:
    issuer.signin.register_client("other-spa", redirect_uris=[REDIRECT])
    stolen = await flow.redeem(await flow.code(), client_id="other-spa")
    assert oauth_error(stolen) == (400, "invalid_grant")


async def test_unknown_client_at_the_token_endpoint_is_unauthorized_client(flow: Flow) -> None:
    unknown = await flow.redeem(await flow.code(), client_id="nobody")
    assert oauth_error(unknown) == (400, "unauthorized_client")  # Entra's AADSTS700016
    assert unknown.json()["error_codes"] == [700016]
    assert "www-authenticate" not in unknown.headers


async def test_public_client_must_not_send_a_secret(flow: Flow) -> None:
    with_secret = await flow.redeem(await flow.code(), client_secret="guess")
    assert oauth_error(with_secret) == (401, "invalid_client")


# -- authorize endpoint ----------------------------------------------------------------------


async def test_sign_in_page_offers_the_tenants_accounts_and_the_scopes(flow: Flow) -> None:
    page = await flow.page()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "Local User" in page.text and "Admin User" in page.text
    assert "Personal User" not in page.text  # organizations: work accounts only
    assert "Tasks.Read" in page.text and "Tasks.Write" in page.text
    consumers = await flow.page("consumers")
    assert "Personal User" in consumers.text and "Local User" not in consumers.text
    other = await flow.page(OTHER_TENANT_ID)
    assert "Other User" in other.text and "Local User" not in other.text


async def test_sign_in_page_escapes_what_it_echoes(flow: Flow, issuer: LocalIssuer) -> None:
    issuer.signin.users["work"] = LocalUser('"><script>alert(1)</script>', "x@contoso.example")
    page = await flow.page(scope=f"api://{issuer.client_id}/<script>alert(2)")
    assert "<script>" not in page.text
    assert "&quot;&gt;&lt;script&gt;alert(1)" in page.text
    assert "&lt;script&gt;alert(2)" in page.text


async def test_tenant_without_accounts_offers_none(flow: Flow) -> None:
    page = await flow.page("11111111-2222-4333-8444-555555555555")
    assert "No local account belongs to this tenant." in page.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_id": "nobody"}, "No application 'nobody' is known."),
        ({"client_id": ""}, "client_id is required."),
        ({"redirect_uri": "http://127.0.0.1:8000/docs/oauth2-redirect/"}, "is not registered"),
        ({"redirect_uri": "https://attacker.example/"}, "is not registered"),
    ],
)
async def test_unknown_client_or_redirect_uri_is_shown_never_redirected(
    flow: Flow, changes: dict[str, str], message: str
) -> None:
    answer = await flow.page(**changes)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert message in html.unescape(answer.text)


async def test_unknown_tenant_or_method_or_bad_query_gets_an_error_page(flow: Flow) -> None:
    tenant = await flow.page("nowhere.example")
    assert tenant.status_code == 400
    assert "no tenant 'nowhere.example'" in html.unescape(tenant.text)
    put = await flow.http.put(flow.url("authorize"))
    assert put.status_code == 405
    bad = await flow.http.get(flow.url("authorize") + "?client_id=%ff")
    assert bad.status_code == 400 and "UTF-8" in bad.text
    twice = await flow.http.get(flow.url("authorize") + f"?client_id={CLIENT}&client_id=x")
    assert twice.status_code == 400 and "appears twice" in twice.text


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_mode": "web_message"}, "invalid_request"),
        ({"prompt": "always"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": ""}, "invalid_request"),
        ({"scope": "openid profile"}, "invalid_scope"),
        ({"scope": "https://graph.microsoft.com/User.Read"}, "invalid_scope"),
        ({"scope": "api://6e5a2b8c-0000-4000-8000-0000000a0001/.default"}, "invalid_scope"),
        ({"scope": 'api://6e5a2b8c-0000-4000-8000-0000000a0001/a"b'}, "invalid_scope"),
    ],
)
async def test_bad_authorization_requests_are_answered_on_the_redirect(
    flow: Flow, changes: dict[str, str], error: str
) -> None:
    answer = await flow.page(**changes)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(REDIRECT + "?")
    params = answer_params(answer)
    assert (params["error"], params["state"]) == (error, "xyz")
    assert params["error_description"]


# -- the consent form's CSRF token -----------------------------------------------------------


def assert_refused_form(answer: httpx.Response) -> None:
    """Refused on a page of the issuer: nothing is sent to the application."""
    assert answer.status_code == 403
    assert "location" not in answer.headers
    assert "Start the sign-in again" in answer.text


async def test_consent_without_a_token_from_a_shown_page_is_refused(flow: Flow) -> None:
    """A page elsewhere that posts the whole request gets no code: it never saw our form."""
    forged = {**flow.params, "user": "admin", "decision": "accept"}
    assert_refused_form(await flow.post(**forged))
    assert_refused_form(await flow.post(**forged, csrf_token="guessed"))


async def test_csrf_token_is_single_use(flow: Flow) -> None:
    token = csrf_token(await flow.page())
    first = await flow.post(csrf_token=token, user="work", decision="cancel")
    assert answer_params(first)["error"] == "access_denied"
    assert_refused_form(await flow.post(csrf_token=token, user="work", decision="accept"))


async def test_csrf_token_expires_after_ten_minutes(flow: Flow, clock: FakeClock) -> None:
    fresh, stale = csrf_token(await flow.page()), csrf_token(await flow.page())
    clock.advance(599)
    assert (await flow.post(csrf_token=fresh, user="work", decision="accept")).status_code == 302
    clock.advance(1)
    assert_refused_form(await flow.post(csrf_token=stale, user="work", decision="accept"))


async def test_csrf_token_grants_what_its_page_asked_whatever_else_is_posted(
    flow: Flow, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    token = csrf_token(await flow.page(scope=f"api://{issuer.client_id}/Tasks.Read"))
    answer = await flow.post(
        csrf_token=token,
        user="work",
        decision="accept",
        redirect_uri="https://attacker.example/",
        scope=f"api://{issuer.client_id}/Tasks.Delete",
        state="changed",
    )
    assert answer.headers["location"].startswith(f"{REDIRECT}?code=")
    assert answer_params(answer)["state"] == "xyz"
    redeemed = await flow.redeem(answer_params(answer)["code"])
    principal = await make_validator().validate(redeemed.json()["access_token"])
    assert principal.scopes == {"Tasks.Read"}


@pytest.mark.slow
async def test_only_the_latest_thousand_pages_can_be_answered(flow: Flow) -> None:
    oldest = csrf_token(await flow.page())
    later = [csrf_token(await flow.page()) for _ in range(1000)]
    assert_refused_form(await flow.post(csrf_token=oldest, user="work", decision="accept"))
    assert (await flow.post(csrf_token=later[0], user="work", decision="accept")).status_code == 302


async def test_declined_consent_is_access_denied(flow: Flow) -> None:
    declined = await flow.consent(decision="cancel")
    assert answer_params(declined)["error"] == "access_denied"


async def test_account_of_another_tenant_kind_cannot_sign_in(flow: Flow) -> None:
    refused = await flow.consent(user="personal")  # organizations: no personal accounts
    assert answer_params(refused)["error"] == "invalid_request"


async def test_fragment_response_mode_puts_the_code_in_the_fragment(flow: Flow) -> None:
    answer = await flow.consent(response_mode="fragment")
    location = urlsplit(answer.headers["location"])
    assert location.query == "" and "code=" in location.fragment


async def test_redirect_uri_with_a_query_keeps_it(flow: Flow, issuer: LocalIssuer) -> None:
    issuer.signin.register_client(CLIENT, redirect_uris=[REDIRECT + "?tab=1"])
    answer = await flow.consent(redirect_uri=REDIRECT + "?tab=1")
    assert answer.headers["location"].startswith(REDIRECT + "?tab=1&code=")


# -- client credentials and the token endpoint -----------------------------------------------


async def client_credentials(
    http: httpx.AsyncClient,
    *,
    tenant: str = OTHER_TENANT_ID,
    scope: str = "api://6e5a2b8c-0000-4000-8000-0000000a0001/.default",
    **form: str,
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": scope, **form}
    auth = form.pop("auth", None)
    headers = {"Authorization": auth} if auth else {}
    return await http.post(f"{BASE}/{tenant}/oauth2/v2.0/token", data=data, headers=headers)


async def test_client_credentials_with_the_secret_give_an_app_token(
    http: httpx.AsyncClient, make_validator: MakeValidator
) -> None:
    answer = await client_credentials(http, client_id=DAEMON, client_secret=SECRET)
    assert answer.status_code == 200
    principal = await make_validator().validate(answer.json()["access_token"])
    assert principal.is_app and principal.roles == {"Tasks.Admin"}
    assert (principal.tenant_id, principal.client_id) == (OTHER_TENANT_ID, DAEMON)


async def test_client_credentials_accept_basic_authentication(http: httpx.AsyncClient) -> None:
    # RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
    credentials = base64.b64encode(f"{DAEMON}:s3cret%3Awith%2Fodd+chars".encode()).decode()
    answer = await client_credentials(http, auth=f"Basic {credentials}")
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"client_id": DAEMON}, (401, "invalid_client")),
        ({"client_id": DAEMON, "client_secret": "wrong"}, (401, "invalid_client")),
        ({"client_id": CLIENT}, (401, "invalid_client")),
        ({"client_id": "nobody"}, (400, "unauthorized_client")),
        ({"client_id": DAEMON, "client_secret": SECRET, "tenant": "organizations"},
         (400, "invalid_request")),
        ({"client_id": DAEMON, "client_secret": SECRET, "scope": "api://x/.default"},
         (400, "invalid_scope")),
        ({"client_id": DAEMON, "client_secret": SECRET,
          "scope": "api://6e5a2b8c-0000-4000-8000-0000000a0001/Tasks.Read"},
         (400, "invalid_scope")),
        ({"client_id": DAEMON, "client_secret": SECRET, "grant_type": "password"},
         (400, "unsupported_grant_type")),
        ({"client_id": DAEMON, "client_secret": SECRET, "grant_type": ""},
         (400, "invalid_request")),
        ({"client_id": DAEMON, "client_secret": SECRET, "tenant": "nowhere.example"},
         (400, "invalid_request")),
    ],
)  # fmt: skip
async def test_bad_token_requests_get_rfc_6749_errors(
    http: httpx.AsyncClient, form: dict[str, str], expected: tuple[int, str]
) -> None:
    form = dict(form)  # the parameters are shared by both backends' runs
    tenant = form.pop("tenant", OTHER_TENANT_ID)
    grant = form.pop("grant_type", "client_credentials")
    data = {"grant_type": grant, "scope": "api://6e5a2b8c-0000-4000-8000-0000000a0001/.default"}
    data = {k: v for k, v in {**data, **form}.items() if v}
    answer = await http.post(f"{BASE}/{tenant}/oauth2/v2.0/token", data=data)
    assert oauth_error(answer) == expected


@pytest.mark.parametrize(
    ("authorization", "form", "error"),
    [
        ("Bearer abc", {}, "invalid_client"),
        ("Basic !!!", {}, "invalid_client"),
        (f"Basic {base64.b64encode(b'no-colon').decode()}", {}, "invalid_client"),
        (f"Basic {base64.b64encode(b'daemon-client:wrong').decode()}", {}, "invalid_client"),
        (f"Basic {base64.b64encode(b'daemon-client:x').decode()}", {"client_secret": "x"},
         "invalid_request"),
        (f"Basic {base64.b64encode(b'daemon-client:x').decode()}", {"client_id": "other"},
         "invalid_request"),
    ],
)  # fmt: skip
async def test_basic_authentication_failures(
    http: httpx.AsyncClient, authorization: str, form: dict[str, str], error: str
) -> None:
    answer = await client_credentials(http, auth=authorization, **form)
    assert oauth_error(answer)[1] == error
    if error == "invalid_client":
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")


async def test_token_endpoint_wants_a_posted_form(http: httpx.AsyncClient) -> None:
    url = f"{BASE}/organizations/oauth2/v2.0/token"
    assert oauth_error(await http.get(url)) == (405, "invalid_request")
    as_json = await http.post(url, json={"grant_type": "client_credentials"})
    assert oauth_error(as_json) == (400, "invalid_request")


async def test_token_endpoint_allows_the_origins_of_registered_redirect_uris(
    flow: Flow,
) -> None:
    url = flow.url("token")
    ours = {"Origin": "http://127.0.0.1:8000"}
    preflight = await flow.http.options(
        url,
        headers={**ours, "Access-Control-Request-Headers": "x-requested-with, bad header"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert preflight.headers["access-control-allow-headers"] == "x-requested-with"
    answer = await flow.http.post(url, data={"grant_type": "x"}, headers=ours)
    assert answer.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    theirs = {"Origin": "https://attacker.example"}
    assert (await flow.http.options(url, headers=theirs)).status_code == 403
    answer = await flow.http.post(url, data={"grant_type": "x"}, headers=theirs)
    assert "access-control-allow-origin" not in answer.headers


def test_register_client_checks_its_arguments(issuer: LocalIssuer) -> None:
    for bad in ("/relative", "ftp://host/", "http://host/#fragment"):
        with pytest.raises(ValueError, match="redirect URI"):
            issuer.signin.register_client(CLIENT, redirect_uris=[bad])
    with pytest.raises(ValueError, match="client_id"):
        issuer.signin.register_client("")
    with pytest.raises(ValueError, match="secret"):
        issuer.signin.register_client(DAEMON, secret="")
    assert issuer.signin.register_client(DAEMON, secret="x").is_confidential
    assert list(issuer.signin.clients) == [DAEMON]


# -- over loopback HTTP ----------------------------------------------------------------------


async def test_server_signs_in_over_loopback_http() -> None:
    with LocalIssuerServer() as server:
        server.issuer.signin.register_client(CLIENT, redirect_uris=[REDIRECT])
        async with httpx.AsyncClient() as http:
            flow = Flow(http, server.issuer)
            assert "Local User" in (await flow.page()).text
            token = await flow.redeem(await flow.code())
            too_big = await http.post(flow.url("token"), content=b"x" * (65 * 1024))
        validator = TokenValidator(client_id=server.issuer.client_id, authority=server.url)
        async with validator:
            principal = await validator.validate(token.json()["access_token"])
        answers = [
            raw_answer(server, b"Content-Length: -1"),
            raw_answer(server, b"Transfer-Encoding: chunked"),
        ]
    assert principal.username == "local.user@contoso.example"
    assert too_big.status_code == 413
    assert [answer[:12] for answer in answers] == [b"HTTP/1.0 400", b"HTTP/1.0 411"]


def raw_answer(server: LocalIssuerServer, header: bytes) -> bytes:
    """The server's whole answer to a token request with `header`, sent as it is."""
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as raw:
        host = server.url.removeprefix("http://").encode()
        request = b"POST /common/oauth2/v2.0/token HTTP/1.0\r\nHost: " + host + b"\r\n"
        raw.sendall(request + header + b"\r\n\r\n")
        answer = b""
        while chunk := raw.recv(4096):  # until the server closes: it has finished
            answer += chunk
        return answer


# -- Entra's answers: errors, ID tokens, client_info -----------------------------------------

OIDC = "openid profile offline_access"


async def test_token_errors_have_entras_members_and_echo_the_correlation_id(flow: Flow) -> None:
    answer = await flow.http.post(
        flow.url("token"),
        data={"grant_type": "authorization_code", "client_id": CLIENT, "code": "nope",
              "redirect_uri": REDIRECT, "code_verifier": flow.verifier},
        headers={"client-request-id": "5f0e7c3a-0000-4000-8000-000000000001"},
    )  # fmt: skip
    body = answer.json()
    assert list(body) == [
        "error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
        "error_uri",
    ]  # fmt: skip
    assert (body["error"], body["error_codes"]) == ("invalid_grant", [54005])
    assert body["correlation_id"] == "5f0e7c3a-0000-4000-8000-000000000001"
    assert answer.headers["client-request-id"] == body["correlation_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    assert body["error_description"] == (
        "AADSTS54005: The code is unknown or was already used (redeemed).\r\n"
        f"Trace ID: {body['trace_id']}\r\nCorrelation ID: {body['correlation_id']}\r\n"
        f"Timestamp: {body['timestamp']}"
    )
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=54005"


async def test_errors_on_the_redirect_carry_an_aadsts_code(flow: Flow) -> None:
    answer = await flow.page(response_type="token")
    assert answer_params(answer)["error_description"].startswith("AADSTS70005: ")


async def test_openid_scopes_bring_a_signed_id_token_client_info_and_a_refresh_token(
    flow: Flow, issuer: LocalIssuer
) -> None:
    scope = f"api://{issuer.client_id}/Tasks.Read {OIDC} email"
    page = await flow.page(scope=scope, nonce="n-0S6_WzA2Mj")
    answer = await flow.post(csrf_token=csrf_token(page), user="admin", decision="accept")
    body = (await flow.redeem(answer_params(answer)["code"], client_info="1")).json()
    assert list(body) == [
        "token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token",
        "id_token", "client_info",
    ]  # fmt: skip
    assert body["scope"] == f"api://{issuer.client_id}/Tasks.Read openid profile email"
    admin = issuer.signin.users["admin"]
    claims = jwt.decode(
        body["id_token"],
        issuer.keys.signing.private_key.public_key(),
        algorithms=["RS256"],
        audience=CLIENT,
        issuer=f"{BASE}/{issuer.tenant_id}/v2.0",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims == {
        "aud": CLIENT,
        "iss": f"{BASE}/{issuer.tenant_id}/v2.0",
        "iat": claims["iat"],
        "nbf": claims["iat"],
        "exp": claims["iat"] + 3600,
        "name": admin.name,
        "nonce": "n-0S6_WzA2Mj",
        "oid": admin.object_id,
        "preferred_username": admin.username,
        "email": admin.username,
        "sub": decoded_claims(body["access_token"])["sub"],
        "tid": issuer.tenant_id,
        "uti": claims["uti"],
        "ver": "2.0",
    }
    assert decoded_header(body["id_token"])["kid"] == issuer.keys.signing.kid
    client_info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert client_info == {"uid": admin.object_id, "utid": issuer.tenant_id}


async def test_id_token_of_a_personal_account_names_the_msa_tenant(
    flow: Flow, issuer: LocalIssuer
) -> None:
    page = await flow.page("consumers", scope=f"api://{issuer.client_id}/Tasks.Read openid")
    answer = await flow.post("consumers", csrf_token=csrf_token(page), user="personal",
                             decision="accept")  # fmt: skip
    body = (await flow.redeem(answer_params(answer)["code"])).json()
    claims = decoded_claims(body["id_token"])
    assert (claims["tid"], claims["iss"]) == (MSA_TENANT_ID, f"{BASE}/{MSA_TENANT_ID}/v2.0")
    assert "name" not in claims and "nonce" not in claims  # no profile scope, no nonce sent
    assert "refresh_token" not in body and "client_info" not in body


async def test_client_credentials_answer_has_entras_members(http: httpx.AsyncClient) -> None:
    body = (await client_credentials(http, client_id=DAEMON, client_secret=SECRET)).json()
    assert list(body) == ["token_type", "expires_in", "ext_expires_in", "access_token"]


async def test_token_lifetime_sets_expires_in(flow: Flow, issuer: LocalIssuer) -> None:
    issuer.signin.token_lifetime = 300
    body = (await flow.redeem(await flow.code())).json()
    assert (body["expires_in"], body["ext_expires_in"]) == (300, 300)
    claims = decoded_claims(body["access_token"])
    assert claims["exp"] == claims["iat"] + 300


# -- refresh tokens ----------------------------------------------------------------------------


async def signed_in_with_refresh(flow: Flow, issuer: LocalIssuer, user: str = "work") -> str:
    scope = f"api://{issuer.client_id}/Tasks.Read api://{issuer.client_id}/Tasks.Write {OIDC}"
    page = await flow.page(scope=scope)
    answer = await flow.post(csrf_token=csrf_token(page), user=user, decision="accept")
    body = (await flow.redeem(answer_params(answer)["code"])).json()
    refresh_token: str = body["refresh_token"]
    return refresh_token


async def refresh(flow: Flow, token: str, **changes: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": CLIENT, "refresh_token": token, **changes}
    return await flow.http.post(flow.url("token"), data={k: v for k, v in form.items() if v})


async def test_refresh_token_gives_new_tokens_and_rotates(
    flow: Flow, issuer: LocalIssuer, make_validator: MakeValidator
) -> None:
    first = await signed_in_with_refresh(flow, issuer)
    answer = await refresh(flow, first, scope=f"api://{issuer.client_id}/Tasks.Read openid")
    body = answer.json()
    assert answer.status_code == 200 and body["refresh_token"] != first
    assert body["scope"] == f"api://{issuer.client_id}/Tasks.Read openid"
    principal = await make_validator().validate(body["access_token"])
    assert principal.scopes == {"Tasks.Read"}
    assert principal.username == issuer.signin.users["work"].username
    spent = await refresh(flow, first)
    assert oauth_error(spent) == (400, "invalid_grant")
    # The next one still carries everything consented to.
    again = (await refresh(flow, body["refresh_token"])).json()
    principal = await make_validator().validate(again["access_token"])
    assert principal.scopes == {"Tasks.Read", "Tasks.Write"}
    assert "nonce" not in decoded_claims(again["id_token"])


async def test_refresh_token_is_bound_to_its_client(flow: Flow, issuer: LocalIssuer) -> None:
    token = await signed_in_with_refresh(flow, issuer)
    issuer.signin.register_client("other-spa", redirect_uris=[REDIRECT])
    stolen = await refresh(flow, token, client_id="other-spa")
    assert oauth_error(stolen) == (400, "invalid_grant")
    assert stolen.json()["error_codes"] == [70000]
    assert (await refresh(flow, token)).status_code == 200  # the owner's still works


async def test_refresh_cannot_widen_the_consent(flow: Flow, issuer: LocalIssuer) -> None:
    token = await signed_in_with_refresh(flow, issuer)
    wider = await refresh(flow, token, scope=f"api://{issuer.client_id}/Tasks.Delete")
    assert oauth_error(wider) == (400, "invalid_grant")
    assert wider.json()["error_codes"] == [65001]
    assert (await refresh(flow, token)).status_code == 200  # a refused request spends nothing


async def test_refresh_token_expires_after_ninety_days(
    flow: Flow, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = await signed_in_with_refresh(flow, issuer)
    clock.advance(90 * 24 * 3600)
    expired = await refresh(flow, token)
    assert expired.json()["error_codes"] == [700082]


async def test_removed_account_cannot_refresh(flow: Flow, issuer: LocalIssuer) -> None:
    token = await signed_in_with_refresh(flow, issuer, user="admin")
    issuer.signin.users["admin"] = LocalUser("Admin User", "admin@contoso.example", roles=("New",))
    changed = await refresh(flow, token)  # the same account with new roles: still it
    assert decoded_claims(changed.json()["access_token"])["roles"] == ["New"]
    del issuer.signin.users["admin"]
    removed = await refresh(flow, changed.json()["refresh_token"])
    assert oauth_error(removed) == (400, "invalid_grant")
    assert removed.json()["error_codes"] == [50173]


async def test_revoking_sign_ins_forgets_refresh_tokens_and_sessions(
    flow: Flow, issuer: LocalIssuer
) -> None:
    work_token = await signed_in_with_refresh(flow, issuer, "work")
    admin_token = await signed_in_with_refresh(flow, issuer, "admin")
    issuer.signin.revoke(issuer.signin.users["work"])
    assert (await refresh(flow, work_token)).json()["error_codes"] == [9002313]
    assert (await refresh(flow, admin_token)).status_code == 200
    assert "code" in answer_params(await flow.page(prompt="none"))  # admin's session only
    issuer.signin.revoke()
    assert (await refresh(flow, admin_token)).status_code == 400
    assert answer_params(await flow.page(prompt="none"))["error"] == "login_required"


# -- response modes, prompt and login_hint ------------------------------------------------------


async def test_form_post_answers_with_a_self_submitting_form(flow: Flow) -> None:
    answer = await flow.consent(response_mode="form_post")
    assert answer.status_code == 200 and "location" not in answer.headers
    policy = answer.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None and "default-src 'none'" in policy
    assert f'<script nonce="{nonce[1]}">document.forms[0].submit();</script>' in answer.text
    assert f'<form method="post" name="hiddenform" action="{REDIRECT}">' in answer.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', answer.text))
    assert set(fields) == {"code", "state"} and fields["state"] == "xyz"
    assert (await flow.redeem(fields["code"])).status_code == 200


async def test_form_post_escapes_the_state(flow: Flow) -> None:
    answer = await flow.consent(response_mode="form_post", state='"><script>x</script>')
    assert "<script>x" not in answer.text and "&quot;&gt;&lt;script&gt;x" in answer.text


async def test_login_hint_selects_the_account(flow: Flow) -> None:
    page = await flow.page(login_hint="Admin@Contoso.example", prompt="select_account")
    assert re.search(r'value="admin" checked', page.text)
    assert not re.search(r'value="work" checked', page.text)
    unknown = await flow.page(login_hint="nobody@contoso.example", prompt="login")
    assert re.search(r'value="work" checked', unknown.text)  # the first, as without a hint


async def test_prompt_none_signs_in_the_account_with_a_session_or_says_login_required(
    flow: Flow, make_validator: MakeValidator
) -> None:
    before = await flow.page(prompt="none")
    assert answer_params(before)["error"] == "login_required"
    assert answer_params(before)["error_description"].startswith("AADSTS50058: ")
    await flow.code("work")
    silent = await flow.page(prompt="none")
    assert silent.status_code == 302
    token = (await flow.redeem(answer_params(silent)["code"])).json()["access_token"]
    assert (await make_validator().validate(token)).username == "local.user@contoso.example"
    await flow.code("admin")
    several = await flow.page(prompt="none")
    assert answer_params(several)["error"] == "interaction_required"
    hinted = await flow.page(prompt="none", login_hint="admin@contoso.example")
    assert "code" in answer_params(hinted)
    other = await flow.page(prompt="none", login_hint="other.user@fabrikam.example")
    assert answer_params(other)["error"] == "login_required"


# -- device code ------------------------------------------------------------------------------

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def device_authorization(flow: Flow, tenant: str = "organizations", **form: str) -> Any:
    data = {"client_id": CLIENT, "scope": f"api://{flow.issuer.client_id}/Tasks.Read {OIDC}"}
    answer = await flow.http.post(flow.url("devicecode", tenant), data={**data, **form})
    return answer.json()


async def poll(flow: Flow, device_code: str, client_id: str = CLIENT) -> httpx.Response:
    form = {"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": device_code}
    return await flow.http.post(flow.url("token"), data=form)


async def enter_code(
    flow: Flow, user_code: str, user: str = "work", decision: str = "accept"
) -> httpx.Response:
    page = await flow.http.get(f"{BASE}/devicelogin", params={"user_code": user_code})
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_token(page), "user": user, "decision": decision}
    return await flow.http.post(f"{BASE}/devicelogin", data=form)


async def test_device_code_flow_signs_in_on_the_verification_page(
    flow: Flow, make_validator: MakeValidator
) -> None:
    device = await device_authorization(flow)
    assert list(device) == [
        "user_code", "device_code", "verification_uri", "expires_in", "interval", "message"
    ]  # fmt: skip
    assert (device["verification_uri"], device["expires_in"], device["interval"]) == (
        f"{BASE}/devicelogin", 900, 5,
    )  # fmt: skip
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{9}", device["user_code"])
    pending = await poll(flow, device["device_code"])
    assert oauth_error(pending) == (400, "authorization_pending")
    assert pending.json()["error_codes"] == [70016]
    entry = await flow.http.get(f"{BASE}/devicelogin")
    assert entry.status_code == 200 and 'name="user_code"' in entry.text
    done = await enter_code(flow, device["user_code"].lower())
    assert "You have signed in" in done.text
    body = (await poll(flow, device["device_code"])).json()
    assert {"access_token", "refresh_token", "id_token"} <= set(body)
    assert (await make_validator().validate(body["access_token"])).scopes == {"Tasks.Read"}
    assert oauth_error(await poll(flow, device["device_code"])) == (400, "bad_verification_code")


async def test_declined_device_sign_in_is_authorization_declined(flow: Flow) -> None:
    device = await device_authorization(flow)
    declined = await enter_code(flow, device["user_code"], decision="cancel")
    assert "declined" in declined.text
    assert oauth_error(await poll(flow, device["device_code"])) == (400, "authorization_declined")


async def test_device_code_expires_after_fifteen_minutes(flow: Flow, clock: FakeClock) -> None:
    device = await device_authorization(flow)
    clock.advance(900)
    expired = await poll(flow, device["device_code"])
    assert oauth_error(expired) == (400, "expired_token")
    assert expired.json()["error_codes"] == [70019]
    page = await flow.http.get(f"{BASE}/devicelogin", params={"user_code": device["user_code"]})
    assert page.status_code == 400 and "AADSTS70018" in page.text


async def test_device_code_is_bound_to_its_client(flow: Flow, issuer: LocalIssuer) -> None:
    device = await device_authorization(flow)
    issuer.signin.register_client("other-cli")
    assert oauth_error(await poll(flow, device["device_code"], "other-cli"))[1] == "invalid_grant"


async def test_device_sign_in_answers_once_and_needs_an_account(flow: Flow) -> None:
    device = await device_authorization(flow)
    pages = [
        await flow.http.get(f"{BASE}/devicelogin", params={"user_code": device["user_code"]})
        for _ in range(2)
    ]
    tokens = [csrf_token(page) for page in pages]
    no_account = await flow.http.post(
        f"{BASE}/devicelogin", data={"csrf_token": tokens[0], "user": "x", "decision": "accept"}
    )
    assert no_account.status_code == 400
    first = await flow.http.post(
        f"{BASE}/devicelogin", data={"csrf_token": tokens[1], "user": "work", "decision": "accept"}
    )
    assert first.status_code == 200
    page = await flow.http.get(f"{BASE}/devicelogin", params={"user_code": device["user_code"]})
    assert page.status_code == 400  # no longer pending


async def test_device_sign_in_twice_from_two_pages_is_refused(flow: Flow) -> None:
    device = await device_authorization(flow)
    pages = [
        await flow.http.get(f"{BASE}/devicelogin", params={"user_code": device["user_code"]})
        for _ in range(2)
    ]
    answers = [
        await flow.http.post(
            f"{BASE}/devicelogin",
            data={"csrf_token": csrf_token(page), "user": "work", "decision": "accept"},
        )
        for page in pages
    ]
    assert [answer.status_code for answer in answers] == [200, 400]
    assert "AADSTS90120" in answers[1].text


@pytest.mark.parametrize(
    ("form", "tenant", "error"),
    [
        ({"client_id": "nobody"}, "organizations", "unauthorized_client"),
        ({"scope": "openid"}, "organizations", "invalid_scope"),
        ({}, "nowhere.example", "invalid_request"),
    ],
)
async def test_bad_device_authorization_requests(
    flow: Flow, form: dict[str, str], tenant: str, error: str
) -> None:
    assert (await device_authorization(flow, tenant, **form))["error"] == error


async def test_device_endpoints_answer_their_methods_only(flow: Flow) -> None:
    assert (await flow.http.get(flow.url("devicecode"))).status_code == 405
    assert (await flow.http.put(f"{BASE}/devicelogin")).status_code == 405
    bad = await flow.http.get(f"{BASE}/devicelogin?user_code=%ff")
    assert bad.status_code == 400
