"""The local issuer's `claims` request parameter: what goes into the token, what is refused."""

import pytest

from aad_guard.testing import LocalIssuer
from tests.helpers import decoded

pytestmark = pytest.mark.anyio

DAEMON = "0c1d2e3f-0000-4000-8000-0000000c0003"


async def client_credentials(issuer: LocalIssuer, claims: str) -> tuple[int, dict[str, object]]:
    issuer.signin.register_client(DAEMON, secret="s", roles=["Tasks.Admin"])
    async with issuer.client() as client:
        answer = await client.post(
            f"{issuer.authority}/{issuer.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DAEMON,
                "client_secret": "s",
                "scope": f"api://{issuer.client_id}/.default",
                "claims": claims,
            },
        )
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ('{"access_token":{"xms_cc":{"values":["cp1"]}}}', {"xms_cc": ["cp1"]}),
        ('{"access_token":{"acrs":{"essential":true,"value":"c1"}}}', {"acrs": ["c1"]}),
        ('{"access_token":{"nbf":{"essential":true,"value":"5"}}}', {}),
        ('{"id_token":{"auth_time":{"essential":true}}}', {}),
        ('{"access_token":{"acrs":{"values":"c1"},"xms_cc":[1]}}', {}),
    ],
)
async def test_what_the_claims_request_asks_goes_into_the_access_token(
    issuer: LocalIssuer, claims: str, expected: dict[str, object]
) -> None:
    status, body = await client_credentials(issuer, claims)
    assert status == 200, body
    token = decoded(str(body["access_token"]), 1)
    assert {name: token[name] for name in ("acrs", "xms_cc") if name in token} == expected


@pytest.mark.parametrize(
    "claims", ["not json", "[1]", '{"access_token": "cp1"}', "{" + " " * 9000 + "}"]
)
async def test_a_claims_parameter_that_is_no_claims_request_is_refused(
    issuer: LocalIssuer, claims: str
) -> None:
    status, body = await client_credentials(issuer, claims)
    assert (status, body["error"]) == (400, "invalid_request")
    assert str(body["error_description"]).startswith("AADSTS90100: ")
