"""Documents a provider gets wrong: keys that are not keys, metadata that disagrees, odd headers.

The local issuer answers as Entra does; a thin transport in front of it alters one document
(or one header) the way a broken or hostile provider would, and the validator must neither use
what it cannot trust nor fail with anything but its own errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import jwt
import pytest

from aad_guard import KeysUnavailableError, TokenValidator
from aad_guard.errors import UnknownKeyError
from aad_guard.testing import DEFAULT_TENANT_ID, LocalIssuer
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

Document = dict[str, object]


class Altering(httpx.AsyncBaseTransport):
    """The local issuer's answers, with each JSON document passed through `alter(url, doc)`."""

    def __init__(
        self,
        issuer: LocalIssuer,
        alter: Callable[[str, Document], Document],
        headers: dict[str, str] | None = None,
    ) -> None:
        self._client = issuer.client()
        self._alter = alter
        self._headers = headers or {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self._client.get(str(request.url))
        document = self._alter(str(request.url), answer.json()) if answer.is_success else None
        content = answer.content if document is None else json.dumps(document).encode()
        headers = {"content-type": "application/json", **self._headers}
        return httpx.Response(answer.status_code, headers=headers, content=content)

    async def aclose(self) -> None:
        await self._client.aclose()


def validator_behind(
    issuer: LocalIssuer,
    clock: FakeClock,
    alter: Callable[[str, Document], Document],
    **options: object,
) -> TokenValidator:
    client = httpx.AsyncClient(transport=Altering(issuer, alter))
    return TokenValidator(
        client_id=issuer.client_id,
        clock=clock,
        http_client=client,
        **options,  # type: ignore[arg-type]
    )


def key_with(kid: str, member: str, value: object) -> Callable[[str, Document], Document]:
    """Set `member` of the JWKS entry `kid` to `value`."""

    def alter(url: str, document: Document) -> Document:
        entries = document.get("keys")
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and entry.get("kid") == kid:
                entry[member] = value
        return document

    return alter


@pytest.mark.parametrize(
    ("member", "value"),
    [("issuer", 7), ("x5t", ["not", "a", "thumbprint"]), ("n", "not base64url!")],
)
async def test_a_key_with_a_member_of_the_wrong_shape_is_never_used(
    member: str, value: object, issuer: LocalIssuer, clock: FakeClock
) -> None:
    token = issuer.token()
    kid = jwt.get_unverified_header(token)["kid"]
    honest = validator_behind(issuer, clock, lambda url, document: document)
    await honest.validate(token)
    await honest.aclose()
    validator = validator_behind(issuer, clock, key_with(kid, member, value))
    with pytest.raises(UnknownKeyError):
        await validator.validate(token)
    await validator.aclose()


async def test_a_key_set_without_a_keys_list_is_no_key_set(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    def no_list(url: str, document: Document) -> Document:
        return {"keys": {"not": "a list"}} if "keys" in document else document

    validator = validator_behind(issuer, clock, no_list)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    await validator.aclose()


async def test_v1_and_v2_metadata_that_name_different_tenants_are_not_trusted(
    clock: FakeClock,
) -> None:
    # A domain says nothing of its tenant id: only the two documents can disagree about it.
    issuer = LocalIssuer(clock=clock, domains={"contoso.example": DEFAULT_TENANT_ID})
    stranger = "00000000-0000-4000-8000-0000000000aa"

    def other_v1_tenant(url: str, document: Document) -> Document:
        issuer_value = document.get("issuer")
        if isinstance(issuer_value, str) and issuer_value.startswith("https://sts."):
            document["issuer"] = issuer_value.replace(issuer.tenant_id, stranger)
        return document

    validator = validator_behind(issuer, clock, other_v1_tenant, tenant="contoso.example")
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    await validator.aclose()


async def test_a_retry_after_date_is_not_read_as_seconds(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    issuer.simulate("status", status=503)
    date = {"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"}
    client = httpx.AsyncClient(transport=Altering(issuer, lambda url, doc: doc, headers=date))
    validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=client)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    with pytest.raises(KeysUnavailableError) as caught:
        await validator.validate(issuer.token())
    # The validator's own first backoff, not a wait until 2037.
    assert 0 < caught.value.retry_after <= 2
    await validator.aclose()


async def test_a_jwks_uri_that_is_no_valid_url_is_not_fetched(
    issuer: LocalIssuer, clock: FakeClock
) -> None:
    def bad_port(url: str, document: Document) -> Document:
        if "jwks_uri" in document:
            document["jwks_uri"] = f"{issuer.authority}:99999/discovery/v2.0/keys"
        return document

    validator = validator_behind(issuer, clock, bad_port)
    with pytest.raises(KeysUnavailableError):
        await validator.validate(issuer.token())
    assert issuer.count("jwks") == 0
    await validator.aclose()


def test_an_authority_with_an_impossible_port_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid URL"):
        TokenValidator(client_id="api", authority="https://login.microsoftonline.com:99999")
