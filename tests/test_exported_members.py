"""The public names are a contract (docs/design.md, "The public API")."""

from __future__ import annotations

import aad_guard
import aad_guard.errors
import aad_guard.testing


def test_package_exports_the_documented_names_sorted() -> None:
    assert aad_guard.__all__ == sorted(aad_guard.__all__)
    for name in aad_guard.__all__:
        assert getattr(aad_guard, name).__module__.startswith("aad_guard")


def test_engine_names_are_exported() -> None:
    expected = {
        "AADGuardError",
        "InsufficientScopeError",
        "KeysUnavailableError",
        "Principal",
        "SharedKeyCache",
        "TokenError",
        "TokenValidator",
    }
    assert expected <= set(aad_guard.__all__)


def test_every_error_has_a_unique_reason_and_derives_from_the_base() -> None:
    errors = [getattr(aad_guard.errors, name) for name in aad_guard.errors.__all__]
    assert aad_guard.errors.__all__ == sorted(aad_guard.errors.__all__)
    assert all(issubclass(error, aad_guard.errors.AADGuardError) for error in errors)
    leaves = [
        e for e in errors if e not in (aad_guard.errors.AADGuardError, aad_guard.errors.TokenError)
    ]
    reasons = [error.reason for error in leaves]
    assert len(reasons) == len(set(reasons))
    for error in leaves:
        assert error.description and error.description.endswith(".")
        assert error.status_code in {400, 401, 403, 503}


def test_testing_module_exports_local_issuer() -> None:
    assert "LocalIssuer" in aad_guard.testing.__all__
    assert aad_guard.testing.__all__ == sorted(aad_guard.testing.__all__)
