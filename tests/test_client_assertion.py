"""Certificate credentials at the local issuer's token endpoint, as Entra accepts them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import jwt
import pytest

from aad_guard.testing import OTHER_TENANT_ID, LocalIssuer
from aad_guard.testing._assertion import JWT_BEARER
from tests.certificates import ClientCertificate
from tests.conftest import FakeClock, MakeValidator

pytestmark = pytest.mark.anyio

DAEMON = "cert-daemon"
ENDPOINT = f"https://login.microsoftonline.com/{OTHER_TENANT_ID}/oauth2/v2.0/token"
SCOPE = "api://6e5a2b8c-0000-4000-8000-0000000a0001/.default"


@pytest.fixture(scope="module")
def credential() -> ClientCertificate:
    return ClientCertificate.new()


@pytest.fixture(scope="module")
def stranger() -> ClientCertificate:
    return ClientCertificate.new("stranger")


@pytest.fixture
async def http(
    issuer: LocalIssuer, credential: ClientCertificate
) -> AsyncIterator[httpx.AsyncClient]:
    issuer.signin.register_client(DAEMON, certificate=credential.certificate, roles=["Tasks.Admin"])
    async with issuer.client() as client:
        yield client


async def token_request(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": SCOPE, "client_id": DAEMON, **form}
    return await http.post(ENDPOINT, data=data)


def assertion_form(assertion: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion}


@pytest.mark.parametrize(
    ("sha256", "padded"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["x5t RS256", "x5t#S256 PS256", "x5t padded base64 (MSAL)", "x5t#S256 padded base64"],
)
async def test_an_assertion_signed_by_the_registered_certificate_gets_a_token(
    http: httpx.AsyncClient,
    credential: ClientCertificate,
    clock: FakeClock,
    make_validator: MakeValidator,
    sha256: bool,
    padded: bool,
) -> None:
    assertion = credential.assertion(
        DAEMON, ENDPOINT, issued_at=clock.now, sha256=sha256, padded=padded
    )
    answer = await token_request(http, **assertion_form(assertion))
    assert answer.status_code == 200, answer.text
    principal = await make_validator().validate(answer.json()["access_token"])
    assert principal.is_app and principal.roles == {"Tasks.Admin"}
    assert (principal.tenant_id, principal.client_id) == (OTHER_TENANT_ID, DAEMON)


async def test_the_client_id_may_come_from_the_assertion_alone(
    http: httpx.AsyncClient, credential: ClientCertificate, clock: FakeClock
) -> None:
    data = {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        **assertion_form(credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now)),
    }
    answer = await http.post(ENDPOINT, data=data)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("another certificate", "AADSTS700027"),
        ("a thumbprint that is not base64", "AADSTS700027"),
        ("another key, the registered thumbprint", "AADSTS700027"),
        ("another audience", "AADSTS700027"),
        ("another endpoint's tenant", "AADSTS700027"),
        ("expired", "AADSTS700024"),
        ("not yet valid", "AADSTS700024"),
        ("another client's", "AADSTS700021"),
        ("not a JWT", "AADSTS50027"),
        ("without exp", "AADSTS50027"),
        ("nbf not a number", "AADSTS50027"),
        ("unknown client", "AADSTS700016"),
    ],
)
async def test_a_bad_assertion_is_an_invalid_client_with_entras_code(
    http: httpx.AsyncClient,
    credential: ClientCertificate,
    stranger: ClientCertificate,
    clock: FakeClock,
    case: str,
    code: str,
) -> None:
    now, client_id = clock.now, DAEMON
    makers: dict[str, Callable[[], str]] = {
        "another certificate": lambda: stranger.assertion(DAEMON, ENDPOINT, issued_at=now),
        "a thumbprint that is not base64": lambda: jwt.encode(
            {"iss": DAEMON, "sub": DAEMON, "aud": ENDPOINT, "exp": now + 60},
            credential.key,
            algorithm="RS256",
            headers={"x5t": "!" * 27},
        ),
        "another key, the registered thumbprint": lambda: credential.assertion(
            DAEMON, ENDPOINT, issued_at=now, key=stranger.key
        ),
        "another audience": lambda: credential.assertion(
            DAEMON, "https://login.microsoftonline.com/common/oauth2/v2.0/token", issued_at=now
        ),
        "another endpoint's tenant": lambda: credential.assertion(
            DAEMON, ENDPOINT.replace(OTHER_TENANT_ID, "contoso.example"), issued_at=now
        ),
        "expired": lambda: credential.assertion(DAEMON, ENDPOINT, issued_at=now - 3600),
        "not yet valid": lambda: credential.assertion(DAEMON, ENDPOINT, issued_at=now + 3600),
        "another client's": lambda: credential.assertion("someone-else", ENDPOINT, issued_at=now),
        "not a JWT": lambda: "not.a.jwt",
        "without exp": lambda: credential.assertion(
            DAEMON, ENDPOINT, issued_at=now, claims={"exp": None}
        ),
        "nbf not a number": lambda: credential.assertion(
            DAEMON, ENDPOINT, issued_at=now, claims={"nbf": "soon"}
        ),
        "unknown client": lambda: credential.assertion("nobody", ENDPOINT, issued_at=now),
    }
    assertion = makers[case]()
    if case == "unknown client":
        client_id = "nobody"
    answer = await token_request(http, client_id=client_id, **assertion_form(assertion))
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith(f"{code}: ")


async def test_an_ec_certificate_signs_es256_assertions(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    credential = ClientCertificate.new(kind="ec")
    issuer.signin.register_client(DAEMON, certificate=credential.certificate, roles=["Tasks.Admin"])
    async with issuer.client() as http:
        assertion = credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now)
        answer = await token_request(http, **assertion_form(assertion))
    assert answer.status_code == 200, answer.text


async def test_a_certificate_of_another_kind_of_key_cannot_sign(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    credential = ClientCertificate.new(kind="ed25519")
    issuer.signin.register_client(DAEMON, certificate=credential.certificate)
    async with issuer.client() as http:
        assertion = credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now)
        answer = await token_request(http, **assertion_form(assertion))
    assert answer.status_code == 401
    assert answer.json()["error_description"].startswith("AADSTS700027: ")


async def test_a_malformed_assertion_without_client_id_is_an_invalid_client(
    http: httpx.AsyncClient,
) -> None:
    data = {"grant_type": "client_credentials", "scope": SCOPE, **assertion_form("x.y")}
    answer = await http.post(ENDPOINT, data=data)
    assert answer.status_code == 401
    assert answer.json()["error_description"].startswith("AADSTS50027: ")


async def test_an_assertion_within_five_minutes_of_its_time_is_accepted(
    http: httpx.AsyncClient, credential: ClientCertificate, clock: FakeClock
) -> None:
    early = credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now + 240)
    late = credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now - 840, lifetime=600)
    answers = [await token_request(http, **assertion_form(a)) for a in (early, late)]
    assert [answer.status_code for answer in answers] == [200, 200]


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({}, (401, "invalid_client")),  # a certificate client must prove itself
        ({"client_secret": "guess"}, (401, "invalid_client")),
        ({"client_assertion_type": "urn:other"}, (400, "invalid_request")),
        ({"client_assertion_type": JWT_BEARER}, (400, "invalid_request")),
        ({"client_assertion": "x"}, (400, "invalid_request")),
        ({"client_assertion": "x", "client_assertion_type": JWT_BEARER, "client_secret": "s"},
         (400, "invalid_request")),
    ],
)  # fmt: skip
async def test_requests_without_a_proper_assertion_are_refused(
    http: httpx.AsyncClient, form: dict[str, str], expected: tuple[int, str]
) -> None:
    answer = await token_request(http, **form)
    assert (answer.status_code, answer.json()["error"]) == expected


async def test_a_client_may_have_a_secret_and_a_certificate(
    issuer: LocalIssuer, credential: ClientCertificate, clock: FakeClock
) -> None:
    issuer.signin.register_client(DAEMON, secret="s", certificate=credential.pem.decode())
    async with issuer.client() as http:
        by_secret = await token_request(http, client_secret="s")
        assertion = credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now)
        by_certificate = await token_request(http, **assertion_form(assertion))
    assert (by_secret.status_code, by_certificate.status_code) == (200, 200)


async def test_a_public_client_cannot_use_an_assertion(
    issuer: LocalIssuer, credential: ClientCertificate, clock: FakeClock
) -> None:
    issuer.signin.register_client(DAEMON)
    async with issuer.client() as http:
        assertion = credential.assertion(DAEMON, ENDPOINT, issued_at=clock.now)
        answer = await token_request(http, **assertion_form(assertion))
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_a_certificate_registers_from_pem_with_or_without_its_key(
    issuer: LocalIssuer, credential: ClientCertificate
) -> None:
    for pem in (credential.pem, credential.key_pem + credential.pem, credential.pem.decode()):
        client = issuer.signin.register_client(DAEMON, certificate=pem)
        assert client.certificate == credential.certificate
        assert client.is_confidential
    with pytest.raises(ValueError, match="not a PEM certificate"):
        issuer.signin.register_client(DAEMON, certificate=credential.key_pem)
