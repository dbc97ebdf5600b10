"""The public names are a contract (docs/design.md, "The public API")."""

import types

import aad_guard
import aad_guard.errors
import aad_guard.testing

# Imported on first use (FastAPI is an optional extra), so not in the module's namespace yet.
LAZY_NAMES = {
    "current_principal",
    "require_auth_context",
    "require_groups",
    "require_roles",
    "require_scope_or_role",
    "require_scopes",
    "swagger_ui_init_oauth",
}


def public_names(module: types.ModuleType) -> set[str]:
    """The names `module` offers: every non-underscore name in it, submodules aside."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_package_exports_the_documented_names_sorted() -> None:
    assert aad_guard.__all__ == sorted(aad_guard.__all__)
    for name in aad_guard.__all__:
        assert getattr(aad_guard, name).__module__.startswith("aad_guard")


def test_all_is_exactly_the_public_names() -> None:
    assert set(aad_guard.__all__) == public_names(aad_guard) | LAZY_NAMES
    assert set(aad_guard.errors.__all__) == public_names(aad_guard.errors)


def test_typing_helpers_are_not_importable_from_the_package() -> None:
    for name in ("TYPE_CHECKING", "annotations"):
        assert not hasattr(aad_guard, name)
        assert not hasattr(aad_guard.errors, name)


def test_exported_names_report_the_public_module() -> None:
    for name in aad_guard.__all__:
        exported = getattr(aad_guard, name)
        expected = "aad_guard.errors" if name in aad_guard.errors.__all__ else "aad_guard"
        assert exported.__module__ == expected, name
    for name in aad_guard.errors.__all__:
        assert getattr(aad_guard.errors, name).__module__ == "aad_guard.errors"
    assert repr(aad_guard.TokenValidator) == "<class 'aad_guard.TokenValidator'>"
    validator = aad_guard.TokenValidator(client_id="api")
    assert repr(validator).startswith("<aad_guard.TokenValidator object at ")


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
