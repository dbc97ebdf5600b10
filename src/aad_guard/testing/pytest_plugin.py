"""pytest fixtures for testing an aad_guard-protected app without a tenant.

Installed with aad_guard (entry point `pytest11`), so the fixtures need no import::

    def test_read_tasks(local_issuer, use_local_issuer):
        app = create_app()
        use_local_issuer(app)
        token = local_issuer.token(scopes=["Tasks.Read"])
        with TestClient(app) as client:
            response = client.get("/tasks", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from .._fetch import Origin
from .._middleware import AADGuardMiddleware
from .._tenant import Tenant, TenantKind
from ._issuer import LocalIssuer
from ._server import LocalIssuerServer

__all__ = ["local_issuer", "local_issuer_server", "point_at_issuer", "use_local_issuer"]


class _MiddlewareEntry(Protocol):
    cls: Any
    kwargs: dict[str, Any]


@pytest.fixture
def local_issuer() -> LocalIssuer:
    """A fresh `LocalIssuer` impersonating `https://login.microsoftonline.com` in-process."""
    return LocalIssuer()


@pytest.fixture
def use_local_issuer(local_issuer: LocalIssuer) -> Iterator[Callable[[Any], LocalIssuer]]:
    """Point an app's `AADGuardMiddleware` at `local_issuer`: `use_local_issuer(app)`.

    The issuer takes the app's client id (and tenant, when it is one tenant), so its tokens
    are addressed to the app; the middleware fetches metadata and keys from the issuer.
    After the test the app's middleware options are as they were, so a module-level app
    shared by several tests never keeps trusting the local issuer.
    """
    restores: list[Callable[[], None]] = []

    def use(app: Any) -> LocalIssuer:  # noqa: ANN401 (any Starlette or FastAPI app)
        restores.append(_restorer(app))
        return point_at_issuer(app, local_issuer)

    yield use
    for restore in reversed(restores):
        restore()


@pytest.fixture
def local_issuer_server() -> Iterator[LocalIssuerServer]:
    """A `LocalIssuerServer` on a free loopback port, for apps in another process."""
    with LocalIssuerServer() as server:
        yield server


def _restorer(app: Any) -> Callable[[], None]:  # noqa: ANN401 (any Starlette or FastAPI app)
    saved = [(entry, dict(entry.kwargs)) for entry in getattr(app, "user_middleware", ())]

    def restore() -> None:
        for entry, options in saved:
            entry.kwargs.clear()
            entry.kwargs.update(options)
        app.middleware_stack = None

    return restore


def point_at_issuer(app: Any, issuer: LocalIssuer) -> LocalIssuer:  # noqa: ANN401 (any Starlette or FastAPI app)
    """Make every `AADGuardMiddleware` added to a Starlette or FastAPI `app` trust `issuer`.

    Raises:
        ValueError: the app has no `AADGuardMiddleware` added with `add_middleware` or
            `middleware=[...]`, or it names another cloud than the issuer's.
        TypeError: the middleware was given a ready `validator=`; build that validator with
            `http_client=issuer.client()` instead.
    """
    entries: list[_MiddlewareEntry] = [
        entry for entry in getattr(app, "user_middleware", ()) if entry.cls is AADGuardMiddleware
    ]
    if not entries:
        raise ValueError(
            "the app has no AADGuardMiddleware in app.user_middleware; add it with "
            "app.add_middleware(AADGuardMiddleware, ...) or Middleware(AADGuardMiddleware, ...)"
        )
    for entry in entries:
        options = entry.kwargs
        if "validator" in options:
            raise TypeError(
                "the AADGuardMiddleware was given validator=...; build that TokenValidator "
                "with http_client=local_issuer.client() instead"
            )
        authority = Origin.of(options.get("authority", "https://login.microsoftonline.com")).url
        if authority != issuer.authority:
            raise ValueError(
                f"the middleware trusts {authority}, the issuer impersonates "
                f"{issuer.authority}; override the local_issuer fixture with "
                f"LocalIssuer(authority={authority!r})"
            )
        issuer.client_id = str(options.get("client_id", issuer.client_id)).strip()
        tenant = Tenant.parse(str(options.get("tenant", "organizations")))
        if tenant.kind is TenantKind.TENANT_ID:
            issuer.tenant_id = str(tenant)
        elif tenant.kind is TenantKind.DOMAIN:  # a verified domain of the home tenant
            issuer.domains[str(tenant)] = issuer.tenant_id
        options["http_client"] = issuer.client()
    app.middleware_stack = None  # rebuilt with the new options on the next request
    return issuer
