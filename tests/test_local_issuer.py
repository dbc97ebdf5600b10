"""LocalIssuer, the Entra look-alike that users test their APIs with."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from urllib.parse import urlencode

import httpx
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aad_guard import TokenValidator
from aad_guard.testing import (
    MSA_TENANT_ID,
    LocalIssuer,
    LocalIssuerServer,
    MetadataRequest,
    TokenSpec,
    entra_metadata,
)
from tests.conftest import FakeClock
from tests.helpers import decoded, serving


def decoded_claims(token: str) -> dict[str, object]:
    return decoded(token, 1)


def decoded_header(token: str) -> dict[str, object]:
    return decoded(token, 0)


pytestmark = pytest.mark.anyio

BASE = "https://login.microsoftonline.com"


@pytest.mark.parametrize(
    ("tenant", "v2_issuer", "v1_issuer"),
    [
        ("common", f"{BASE}/{{tenantid}}/v2.0", "https://sts.windows.net/{tenantid}/"),
        ("organizations", f"{BASE}/{{tenantid}}/v2.0", "https://sts.windows.net/{tenantid}/"),
        ("consumers", f"{BASE}/{MSA_TENANT_ID}/v2.0", f"https://sts.windows.net/{MSA_TENANT_ID}/"),
    ],
)
async def test_serves_entra_shaped_metadata_for_keyword_tenants(
    issuer: LocalIssuer, tenant: str, v2_issuer: str, v1_issuer: str
) -> None:
    async with issuer.client() as client:
        v2 = (await client.get(f"{BASE}/{tenant}/v2.0/.well-known/openid-configuration")).json()
        v1 = (await client.get(f"{BASE}/{tenant}/.well-known/openid-configuration")).json()
    assert v2["issuer"] == v2_issuer
    assert v2["jwks_uri"] == f"{BASE}/{tenant}/discovery/v2.0/keys"
    assert v1["issuer"] == v1_issuer
    assert issuer.count("metadata") == 2


async def test_tenant_and_domain_metadata_have_fixed_issuers(clock: FakeClock) -> None:
    tenant = "11111111-2222-4333-8444-555555555555"
    issuer = LocalIssuer(clock=clock, domains={"contoso.example": tenant})
    async with issuer.client() as client:
        by_id = await client.get(f"{BASE}/{tenant}/v2.0/.well-known/openid-configuration")
        by_domain = await client.get(
            f"{BASE}/contoso.example/v2.0/.well-known/openid-configuration"
        )
        unknown = await client.get(f"{BASE}/unknown.example/v2.0/.well-known/openid-configuration")
        elsewhere = await client.get("https://attacker.example/common/discovery/v2.0/keys")
    assert by_id.json()["issuer"] == by_domain.json()["issuer"] == f"{BASE}/{tenant}/v2.0"
    assert unknown.status_code == 400
    assert elsewhere.status_code == 404


async def test_jwks_lists_every_key_bound_to_the_issuer_template(issuer: LocalIssuer) -> None:
    async with issuer.client() as client:
        keys = (await client.get(f"{BASE}/common/discovery/v2.0/keys")).json()["keys"]
    assert [key["kid"] for key in keys] == [key.kid for key in issuer.keys.listed]
    assert len(keys) == 2
    assert {key["issuer"] for key in keys} == {f"{BASE}/{{tenantid}}/v2.0"}
    assert all(key["kty"] == "RSA" and key["use"] == "sig" and "d" not in key for key in keys)


async def test_rotation_adds_a_signing_key_and_retire_removes_one(issuer: LocalIssuer) -> None:
    first = issuer.keys.signing
    second = issuer.keys.rotate()
    assert issuer.keys.signing is second
    assert decoded_header(issuer.token())["kid"] == second.kid
    issuer.keys.retire(first.kid)
    assert first.kid not in {key["kid"] for key in issuer.keys.jwks()["keys"]}


async def test_v2_delegated_token_has_entra_decoded_claims(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = decoded_claims(issuer.token(scopes=["a", "b"], lifetime=600))
    assert token["ver"] == "2.0"
    assert token["iss"] == f"{BASE}/{issuer.tenant_id}/v2.0"
    assert token["aud"] == issuer.client_id
    assert token["scp"] == "a b"
    assert token["exp"] == int(clock.now) + 600
    assert "azp" in token and "appid" not in token


async def test_v1_token_uses_the_v1_issuer_and_names(issuer: LocalIssuer) -> None:
    token = issuer.token(version="1.0")
    assert decoded_claims(token)["iss"] == f"https://sts.windows.net/{issuer.tenant_id}/"
    assert decoded_claims(token)["aud"] == f"api://{issuer.client_id}"
    assert "appid" in decoded_claims(token) and "upn" in decoded_claims(token)
    assert decoded_header(token)["x5t"] == decoded_header(token)["kid"]


async def test_personal_and_app_only_tokens(issuer: LocalIssuer) -> None:
    assert decoded_claims(issuer.token(personal=True))["tid"] == MSA_TENANT_ID
    app = decoded_claims(issuer.token(app_only=True, roles=["R"]))
    assert "scp" not in app and app["roles"] == ["R"] and app["idtyp"] == "app"


async def test_claims_can_be_overridden_and_removed(issuer: LocalIssuer) -> None:
    token = decoded_claims(
        issuer.token(claims={"aud": ["x", "y"], "custom": 1}, remove=["oid", "nbf"])
    )
    assert token["aud"] == ["x", "y"] and token["custom"] == 1
    assert "oid" not in token and "nbf" not in token


async def test_sign_signs_any_header(issuer: LocalIssuer) -> None:
    token = issuer.sign({"a": 1}, headers={"alg": "none", "kid": None, "jku": "x"})
    assert decoded_header(token) == {"alg": "none", "typ": "JWT", "kid": None, "jku": "x"}


@pytest.mark.parametrize(
    ("fault", "status"),
    [("status", 503), ("not_json", 200), ("truncated", 200), ("huge", 200), ("redirect", 302)],
)
async def test_faults_change_the_answers(issuer: LocalIssuer, fault: str, status: int) -> None:
    issuer.simulate(fault, status=503)  # type: ignore[arg-type]
    async with issuer.client() as client:
        response = await client.get(f"{BASE}/common/discovery/v2.0/keys")
    assert response.status_code == status
    assert not has_keys(response)


def has_keys(response: httpx.Response) -> bool:
    try:
        return bool(response.json()["keys"])
    except (ValueError, KeyError):
        return False


async def test_down_refuses_connections_and_only_limits_the_fault(issuer: LocalIssuer) -> None:
    issuer.simulate("down", only="jwks")
    async with issuer.client() as client:
        metadata = await client.get(f"{BASE}/common/v2.0/.well-known/openid-configuration")
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{BASE}/common/discovery/v2.0/keys")
        issuer.simulate(None)
        keys = await client.get(f"{BASE}/common/discovery/v2.0/keys")
    assert metadata.status_code == keys.status_code == 200
    assert issuer.count() == 3


async def test_validator_accepts_an_httpx2_client(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The core uses only the client API httpx2 shares with httpx (docs/design.md, Dependencies)."""

    async def bridge(request: httpx2.Request) -> httpx2.Response:
        answer = await issuer.handle(httpx.Request(request.method, str(request.url)))
        return httpx2.Response(answer.status_code, headers=answer.headers, content=answer.content)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(bridge)) as client:
        validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=client)
        principal = await validator.validate(issuer.token())
    assert principal.tenant_id == issuer.tenant_id
    assert issuer.count() == 3


async def test_server_serves_the_issuer_over_loopback_http() -> None:
    from aad_guard.testing import LocalIssuerServer

    with LocalIssuerServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        validator = TokenValidator(client_id=server.issuer.client_id, authority=server.url)
        async with validator:
            principal = await validator.validate(server.issuer.token())
        server.issuer.simulate("down")
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.TransportError):
                await client.get(f"{server.url}/common/discovery/v2.0/keys")
    assert principal.tenant_id == server.issuer.tenant_id
    assert server.issuer.count("jwks") == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [["aad_guard.testing"], ["aad_guard.cli", "issuer"]], ids=["module", "aad-guard"]
)
def test_serves_an_issuer_until_ctrl_c(command: list[str]) -> None:
    redirect = "http://127.0.0.1:9000/docs/oauth2-redirect"
    options = ["--port", "0", "--client", "spa", "--redirect-uri", redirect]
    command = [*command, *options, "--admin-role", "Tasks.Admin"]
    with serving(command, ready="Ctrl-C stops it.") as lines:
        url = lines[1].split()[1]
        assert httpx.get(url).json()["issuer"].endswith("/{tenantid}/v2.0")
        assert f"Client spa may redirect to: {redirect}\n" in lines
        authorize = url.split("/organizations/")[0] + "/organizations/oauth2/v2.0/authorize"
        request = {
            "client_id": "spa",
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "api://6e5a2b8c-0000-4000-8000-0000000a0001/Tasks.Read",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
        page = httpx.get(authorize, params=request)
        assert "roles Tasks.Admin" in page.text  # the client, its redirect URI, the admin's role


@pytest.mark.anyio
async def test_mint_endpoint_mints_what_the_body_asks(issuer: LocalIssuer) -> None:
    async with issuer.client() as client:
        response = await client.post(
            f"{issuer.authority}/_local/mint",
            json={"version": "1.0", "scopes": ["a", "b"], "lifetime": 60, "claims": {"x": 1}},
        )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.json()
    claims = decoded(answer["access_token"], 1)
    assert (claims["ver"], claims["scp"], claims["x"]) == ("1.0", "a b", 1)
    assert answer["expires_in"] == 60


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"colour": "red"}', "Unknown option 'colour'"),
        (b'{"personal": 1}', "'personal' has the wrong type"),
        (b'{"tenant_id": true}', "'tenant_id' has the wrong type"),
        (b'{"version": "3.0"}', "'version' must be"),
        (b'{"scopes": [1]}', "'scopes' must be a list of strings"),
        (b'{"lifetime": 0}', "'lifetime' must be a positive number"),
        (b'{"issued_at": NaN}', "'issued_at' must be a positive number"),
        (b"{}" + b" " * 70_000, "too large"),
    ],
)
async def test_mint_endpoint_refuses_bad_bodies(
    issuer: LocalIssuer, body: bytes, message: str
) -> None:
    async with issuer.client() as client:
        response = await client.post(f"{issuer.authority}/_local/mint", content=body)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert message in response.json()["error_description"]
        assert (await client.get(f"{issuer.authority}/_local/mint")).status_code == 405


def test_server_refuses_posts_without_a_usable_length() -> None:
    import http.client

    with LocalIssuerServer() as server:
        host, port = server.url.removeprefix("http://").split(":")
        for length, status in (("abc", 400), (str(10**6), 413)):
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.putrequest("POST", "/_local/mint")
            connection.putheader("Content-Length", length)
            connection.endheaders()
            assert connection.getresponse().status == status
            connection.close()


def test_module_refuses_a_bad_redirect_uri(capsys: pytest.CaptureFixture[str]) -> None:
    from aad_guard.testing.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--port", "0", "--redirect-uri", "ftp://host/callback"])
    assert exited.value.code == 2
    assert "is not an absolute http(s) URI" in capsys.readouterr().err


# -- what the loopback server answers, and for whom -------------------------------------------


def exchange(server: LocalIssuerServer, request: bytes) -> tuple[int, bytes]:
    """Send `request` as it is; the status and body of the whole answer (0 if none came)."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as raw:
        raw.sendall(request)
        answer = b""
        while chunk := raw.recv(4096):  # until the server closes: it has finished
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return (int(head.split(b" ")[1]) if head else 0), body


def port_of(server: LocalIssuerServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.fixture
def server() -> Iterator[LocalIssuerServer]:
    with LocalIssuerServer() as running:
        running.issuer.signin.register_client(
            "spa",
            redirect_uris=[
                "http://127.0.0.1:8000/docs/oauth2-redirect",
                "http://localhost:8000/docs/oauth2-redirect",
            ],
        )
        yield running


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "127.1.2.3:{port}", "[::1]:{port}",
     "[0:0:0:0:0:0:0:1]:{port}"],
)  # fmt: skip
def test_server_answers_for_loopback_names_on_its_port(
    server: LocalIssuerServer, host: str
) -> None:
    named = host.format(port=port_of(server)).encode()
    request = b"GET /common/discovery/v2.0/keys HTTP/1.1\r\nHost: " + named + b"\r\n"
    status, body = exchange(server, request + b"Connection: close\r\n\r\n")
    assert status == 200
    assert b'"keys"' in body


@pytest.mark.parametrize(
    "host",
    ["attacker.example:{port}", "attacker.example", "127.0.0.1", "127.0.0.1:1", "localhost.:{port}",
     "[1:2]:{port}", "[127.0.0.1]:{port}", "app.localhost:{port}",
     "127.0.0.1.nip.io:{port}", "localhost.attacker.example:{port}", "[::ffff:127.0.0.1]:{port}",
     "0.0.0.0:{port}", "2130706433:{port}", "127.1:{port}", "10.0.0.1:{port}"],
)  # fmt: skip
def test_server_refuses_other_host_names_with_421(server: LocalIssuerServer, host: str) -> None:
    """DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its own name."""
    named = host.format(port=port_of(server)).encode()
    request = b"POST /_local/mint HTTP/1.1\r\nHost: " + named + b"\r\n"
    request += b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    status, body = exchange(server, request)
    assert status == 421
    assert b"answers for localhost, 127.0.0.0/8 and [::1] on port" in body
    assert server.issuer.requests == []  # nothing minted, nothing seen


@pytest.mark.parametrize(
    "headers",
    [b"", b"Host: 127.0.0.1:{port}\r\nHost: 127.0.0.1:{port}\r\n", b"Host: \r\n",
     b"Host: bad host\r\n", b"Host: 127.0.0.1:\r\n", b"Host: 127.0.0.1:123456\r\n"],
    ids=["none", "twice", "empty", "space", "no-port-digits", "long-port"],
)  # fmt: skip
def test_server_answers_a_missing_or_malformed_host_with_400(
    server: LocalIssuerServer, headers: bytes
) -> None:
    named = headers.replace(b"{port}", str(port_of(server)).encode())
    request = b"GET /common/v2.0/.well-known/openid-configuration HTTP/1.1\r\n" + named
    status, body = exchange(server, request + b"Connection: close\r\n\r\n")
    assert status == 400
    assert b"Host" in body


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (b"http://attacker.example/", b"must be a path"),
        (b"http://127.0.0.1:{port}/common/discovery/keys", b"must be a path"),
        (b"*", b"must be a path"),
        (b"/common/\x7f", b"not a valid path"),
    ],
)
def test_server_answers_a_target_that_is_not_a_path_with_400(
    server: LocalIssuerServer, target: bytes, message: bytes
) -> None:
    target = target.replace(b"{port}", str(port_of(server)).encode())
    host = server.url.removeprefix("http://").encode()
    request = b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    status, body = exchange(server, request)
    assert status == 400
    assert message in body


@pytest.mark.slow
def test_server_answers_every_request_target(server: LocalIssuerServer) -> None:
    """No target drops the connection: each gets an HTTP answer, none a server error."""
    host = server.url.removeprefix("http://")

    @settings(max_examples=200, deadline=None)
    @given(target=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7F), min_size=1))
    def answered(target: str) -> None:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        status, _ = exchange(server, request.encode("ascii"))
        assert 200 <= status < 500

    answered()


# A token request from Swagger UI on the API's origin, and a mint from the CLI (no browser).
@pytest.mark.parametrize(
    ("path", "origin", "fetch_site"),
    [
        ("/common/oauth2/v2.0/token", "http://127.0.0.1:8000", "same-site"),
        ("/common/oauth2/v2.0/token", "http://localhost:8000", "cross-site"),
        ("/_local/mint", None, None),
        ("/_local/mint", "http://127.0.0.1:{port}", "same-origin"),
        ("/_local/mint", "http://localhost:{port}", "same-site"),
    ],
)
def test_server_accepts_changes_from_its_own_pages_and_registered_apps(
    server: LocalIssuerServer, path: str, origin: str | None, fetch_site: str | None
) -> None:
    answer = post_from(server, path, origin, fetch_site)
    if path == "/_local/mint":
        assert answer.status_code == 200 and answer.json()["access_token"]
    else:  # the issuer's own answer, readable by the app
        assert answer.json()["error"] == "invalid_grant"
        assert answer.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    ("path", "origin", "fetch_site"),
    [
        ("/_local/mint", "https://attacker.example", "cross-site"),
        ("/_local/mint", "null", "cross-site"),
        ("/_local/mint", None, "cross-site"),
        ("/_local/mint", "http://127.0.0.1:8000", "same-site"),  # a registered app mints not
        ("/_local/mint", "https://127.0.0.1:{port}", "cross-site"),
        ("/_local/mint", "http://127.0.0.1:{port}/path", "same-origin"),
        ("/_local/mint", "127.0.0.1:{port}", "same-origin"),
        ("/common/oauth2/v2.0/token", "https://attacker.example", "cross-site"),
        ("/common/oauth2/v2.0/token", "http://127.0.0.1:9999", "same-site"),
        ("/organizations/oauth2/v2.0/authorize", "https://attacker.example", "cross-site"),
    ],
)
def test_server_refuses_changes_from_other_pages_with_403(
    server: LocalIssuerServer, path: str, origin: str | None, fetch_site: str | None
) -> None:
    answer = post_from(server, path, origin, fetch_site)
    assert answer.status_code == 403
    assert "The local issuer refuses" in answer.text
    assert "access-control-allow-origin" not in answer.headers
    assert server.issuer.requests == []


def test_server_answers_reads_from_any_page(server: LocalIssuerServer) -> None:
    """Reads change nothing, and without CORS another page cannot read the answer."""
    headers = {"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}
    answer = httpx.get(f"{server.url}/common/discovery/v2.0/keys", headers=headers)
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def post_from(
    server: LocalIssuerServer, path: str, origin: str | None, fetch_site: str | None
) -> httpx.Response:
    """A POST as a browser page at `origin` makes it (`None`: no browser page at all)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["Origin"] = origin.format(port=port_of(server))
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    grant = {
        "grant_type": "authorization_code",
        "client_id": "spa",
        "code": "x",
        "redirect_uri": "http://127.0.0.1:8000/docs/oauth2-redirect",
        "code_verifier": "y",
    }
    body = b"{}" if path == "/_local/mint" else urlencode(grant).encode()
    return httpx.post(f"{server.url}{path}", content=body, headers=headers)


# -- extension points --------------------------------------------------------------------


def _echo_grant(spec: TokenSpec, claims: Mapping[str, object]) -> Mapping[str, object]:
    """A claim rule that says which grant minted the token, and what it saw by default."""
    return {"xms_grant": spec.grant_params.get("grant_type", "none"), "xms_seen": claims["ver"]}


async def test_claim_rules_add_claims_to_tokens_of_the_token_endpoint() -> None:
    issuer = LocalIssuer(claim_rules=[_echo_grant])
    issuer.signin.register_client("daemon", secret="a-secret")
    async with issuer.client() as http:
        answer = await http.post(
            f"{BASE}/{issuer.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "daemon",
                "client_secret": "a-secret",
                "scope": f"api://{issuer.client_id}/.default",
            },
        )
    claims = decoded_claims(answer.json()["access_token"])
    assert (claims["xms_grant"], claims["xms_seen"]) == ("client_credentials", "2.0")


def test_explicit_claims_and_removals_win_over_claim_rules() -> None:
    issuer = LocalIssuer(claim_rules=[_echo_grant])
    assert decoded_claims(issuer.token())["xms_grant"] == "none"
    assert decoded_claims(issuer.token(claims={"xms_grant": "mine"}))["xms_grant"] == "mine"
    assert "xms_grant" not in decoded_claims(issuer.token(remove=["xms_grant"]))


def test_a_metadata_builder_shapes_every_document_served() -> None:
    def without_device_flow(request: MetadataRequest) -> dict[str, object]:
        document = entra_metadata(request)
        document.pop("device_authorization_endpoint")
        return {**document, "asked_for": request.tenant}

    issuer = LocalIssuer(metadata=without_device_flow)
    for version in ("1.0", "2.0"):
        document = issuer.metadata("Contoso.example", version=version)
        assert "device_authorization_endpoint" not in document
        assert document["asked_for"] == "Contoso.example"
    assert "device_authorization_endpoint" in LocalIssuer().metadata("organizations")


async def test_a_metadata_builder_sees_the_query_of_the_request() -> None:
    def user_flow(request: MetadataRequest) -> dict[str, object]:
        return {**entra_metadata(request), "user_flow": request.query.get("p")}

    issuer = LocalIssuer(metadata=user_flow)
    async with issuer.client() as http:
        url = f"{BASE}/organizations/v2.0/.well-known/openid-configuration"
        asked = (await http.get(url, params={"p": "B2C_1_signin"})).json()
        plain = (await http.get(url)).json()
    assert (asked["user_flow"], plain["user_flow"]) == ("B2C_1_signin", None)


def test_mint_takes_the_arguments_of_token_as_one_value() -> None:
    issuer = LocalIssuer(clock=lambda: 1_700_000_000)
    spec = TokenSpec(version="1.0", scopes=("Tasks.Read",), lifetime=60)
    minted, made = (
        decoded_claims(issuer.mint(spec)),
        decoded_claims(issuer.token(version="1.0", scopes=["Tasks.Read"], lifetime=60)),
    )
    assert {name: minted[name] for name in ("aud", "iss", "exp", "scp", "ver", "appid")} == {
        name: made[name] for name in ("aud", "iss", "exp", "scp", "ver", "appid")
    }


def test_only_the_personal_account_is_personal() -> None:
    users = LocalIssuer().signin.users
    assert {key for key, user in users.items() if user.is_personal} == {"personal"}
