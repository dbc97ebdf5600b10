"""examples/stepup_api in-process, against a served local issuer, with its in-process store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples.stepup_api import app as example
from starlette.testclient import TestClient

from aad_guard.testing import LocalIssuer, LocalIssuerServer
from tests.helpers import bearer, decoded

OTHER_TENANT = "5d7e3a10-0000-4000-8000-00000000beef"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, LocalIssuer]]:
    with LocalIssuerServer() as server:
        monkeypatch.setenv("AAD_GUARD_AUTHORITY", server.url)
        monkeypatch.setenv("AAD_GUARD_CLIENT_ID", server.issuer.client_id)
        monkeypatch.delenv("AAD_GUARD_REDIS_URL", raising=False)
        with TestClient(example.create_app()) as client:
            yield client, server.issuer


def test_approving_needs_c1_and_reading_does_not(served: tuple[TestClient, LocalIssuer]) -> None:
    client, issuer = served
    plain = issuer.token(scopes=["Payments.Read"], claims={"xms_cc": ["cp1"]})
    assert client.get("/payments", headers=bearer(plain)).status_code == 200
    challenged = client.post("/payments/p-1/approve", headers=bearer(plain))
    assert challenged.status_code == 401
    assert 'cc_type="authcontext"' in challenged.headers["WWW-Authenticate"]
    stepped_up = issuer.token(scopes=["Payments.Read"], claims={"xms_cc": ["cp1"], "acrs": ["c1"]})
    approved = client.post("/payments/p-1/approve", headers=bearer(stepped_up))
    assert approved.json() == {
        "approved": "p-1",
        "by": decoded(stepped_up, 1)["oid"],
        "contexts": ["c1"],
    }


def test_a_tenant_without_the_requirement_approves_without_stepping_up(
    served: tuple[TestClient, LocalIssuer], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, issuer = served
    monkeypatch.setitem(example.AUTH_CONTEXTS, (OTHER_TENANT, "payments.approve"), "c2")
    other = issuer.token(tenant_id=OTHER_TENANT, scopes=["Payments.Read"])
    refused = client.post("/payments/p-2/approve", headers=bearer(other))
    assert refused.status_code == 403
    assert "'c2'" in refused.json()["error_description"]
