"""Load the real-world test vectors of tests/data/vectors and serve them from a fake Entra ID."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

__all__ = [
    "AUTHORITY",
    "MSA_TENANT_ID",
    "VECTORS_DIR",
    "FakeEntra",
    "RealToken",
    "WycheproofCase",
    "jose_document",
    "openid_configuration",
    "openid_configuration_names",
    "origin_of",
    "real_tokens",
    "real_tokens_jwks",
    "wycheproof_signature_cases",
]

# Inside the repository (and the sdist), so a fresh clone runs the suite; README.md there says
# where each file comes from.
VECTORS_DIR: Final = Path(__file__).resolve().parent / "data" / "vectors"
if not (VECTORS_DIR / "real_tokens.json").is_file():
    # Fail loudly: a missing vector directory must never turn into a silently empty test run.
    raise RuntimeError(f"the test vectors are missing: expected them in {VECTORS_DIR}")

AUTHORITY: Final = "https://login.microsoftonline.com"
MSA_TENANT_ID: Final = "9188040d-6c67-4c5b-b112-36a304b66dad"


def _load(relative: str) -> Any:
    with (VECTORS_DIR / relative).open(encoding="utf-8") as file:
        return json.load(file)


def origin_of(url: str) -> str:
    """`scheme://host` of `url`: where a fake identity provider must answer for it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- real_tokens.json ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealToken:
    """One Microsoft-issued token of `real_tokens.json`, with what the vectors say about it."""

    id: str
    expected: str
    token_type: str
    account_type: str
    header: Mapping[str, object]
    claims: Mapping[str, object]
    token: str

    @property
    def tenant_id(self) -> str | None:
        tid = self.claims.get("tid")
        return tid if isinstance(tid, str) else None

    @property
    def audience(self) -> str:
        return str(self.claims["aud"])

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def version(self) -> str:
        return str(self.claims["ver"])

    @property
    def scopes(self) -> frozenset[str]:
        scp = self.claims.get("scp")
        return frozenset(scp.split()) if isinstance(scp, str) else frozenset()

    @property
    def has_scopes_or_roles(self) -> bool:
        return "scp" in self.claims or "roles" in self.claims

    @property
    def client_id(self) -> str | None:
        client = self.claims.get("azp", self.claims.get("appid"))
        return client if isinstance(client, str) else None

    @property
    def kid(self) -> str:
        """The key the header names: `kid`, or `x5t` in the old v1 tokens that have no `kid`."""
        return str(self.header.get("kid", self.header.get("x5t")))

    def lifetime_midpoint(self) -> float:
        """A UNIX time inside the token's `[nbf, exp]`, for a clock under which it is fresh."""
        nbf, exp = self.claims["nbf"], self.claims["exp"]
        assert isinstance(nbf, int)
        assert isinstance(exp, int)
        return (nbf + exp) / 2


def real_tokens() -> dict[str, RealToken]:
    """Every token of `real_tokens.json`, by id, in file order."""
    tokens: dict[str, RealToken] = {}
    for entry in _load("real_tokens.json"):
        kind = entry["kind"]
        tokens[entry["id"]] = RealToken(
            id=entry["id"],
            expected=entry["expected"],
            token_type=kind["token_type"],
            # "AAD (work/school or service principal)", "MSA (personal ...)", "B2C"
            account_type=kind["account_type"].split()[0],
            header=entry["header"],
            claims=entry["claims_summary"],
            token=entry["token"],
        )
    return tokens


def real_tokens_jwks() -> dict[str, Any]:
    """`real_tokens_jwks.json`: the 19 keys that signed the real tokens, a fresh copy."""
    document: dict[str, Any] = _load("real_tokens_jwks.json")
    return document


# -- openid_configurations/ ------------------------------------------------------------------


def openid_configuration_names() -> list[str]:
    """The discovery documents (not the `.jwks.json` key set snapshots), by file name."""
    directory = VECTORS_DIR / "openid_configurations"
    return sorted(
        path.name for path in directory.glob("*.json") if not path.name.endswith(".jwks.json")
    )


def openid_configuration(name: str) -> dict[str, Any]:
    """One file of `openid_configurations/`, a fresh copy."""
    document: dict[str, Any] = _load(f"openid_configurations/{name}")
    return document


# -- jose/ -----------------------------------------------------------------------------------


def jose_document(name: str) -> dict[str, Any]:
    """One file of `jose/` (RFC 7515 A.2, RFC 7520 4.1)."""
    document: dict[str, Any] = _load(f"jose/{name}")
    return document


@dataclass(frozen=True, slots=True)
class WycheproofCase:
    """One compact-serialized test of Wycheproof's `json_web_signature_test.json`."""

    tc_id: int
    group: str
    comment: str
    result: str
    flags: tuple[str, ...]
    jws: str
    public_jwk: Mapping[str, object] | None = field(repr=False)


def wycheproof_signature_cases(groups: frozenset[str]) -> list[WycheproofCase]:
    """The compact tests of the groups named `groups` (by their `comment`), in file order.

    Tests in JSON serialization (flag `JsonSerialization`) are left out: the validator takes
    compact tokens only.
    """
    cases: list[WycheproofCase] = []
    for group in _load("jose/wycheproof/json_web_signature_test.json")["testGroups"]:
        if group["comment"] not in groups:
            continue
        public = group.get("public")
        for test in group["tests"]:
            if not isinstance(test["jws"], str) or "JsonSerialization" in test["flags"]:
                continue
            cases.append(
                WycheproofCase(
                    tc_id=test["tcId"],
                    group=group["comment"],
                    comment=test["comment"],
                    result=test["result"],
                    flags=tuple(test["flags"]),
                    jws=test["jws"],
                    public_jwk=public,
                )
            )
    return cases


# -- the fake identity provider --------------------------------------------------------------


@dataclass
class FakeEntra:
    """Serves fixed JSON documents by exact URL, 404 otherwise, and records every request."""

    documents: dict[str, Mapping[str, object]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(self, url: str, document: Mapping[str, object]) -> None:
        """Answer GET `url` with `document` from now on."""
        self.documents[url] = document

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        document = self.documents.get(url)
        if request.method != "GET" or document is None:
            return httpx.Response(404, json={"error": "not_found"})
        return httpx.Response(200, json=document)

    def client(self) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` that reaches this fake in-process; the caller closes it."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
