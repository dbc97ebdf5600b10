"""Checks of callable settings, so a wrong signature fails when configured, not when called."""

from __future__ import annotations

import inspect

__all__ = ["check_signature"]


def check_signature(name: str, value: object, *, parameters: tuple[str, ...], returns: str) -> None:
    """Check that `value` can be called with one positional argument per name in `parameters`.

    Sync and async callables, functions, methods, partials and objects with `__call__` are
    all checked by the signature Python reports; parameter names do not matter, since
    aad_guard passes the arguments by position. A callable that reports no signature (some
    built-ins) is accepted as it is.

    Raises:
        TypeError: `value` is not callable, or cannot take those positional arguments.
    """
    expected = f"{name} must be a callable ({', '.join(parameters)}) -> {returns}"
    if not callable(value):
        raise TypeError(f"{expected}, not {type(value).__name__}")
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return
    try:
        signature.bind(*parameters)
    except TypeError:
        label = getattr(value, "__qualname__", type(value).__qualname__)
        names_only = signature.replace(
            parameters=[
                parameter.replace(annotation=inspect.Parameter.empty)
                for parameter in signature.parameters.values()
            ],
            return_annotation=inspect.Signature.empty,
        )
        count = len(parameters)
        raise TypeError(
            f"{expected}; it is called with {count} positional argument{'s' * (count != 1)}, "
            f"which {label}{names_only} cannot take"
        ) from None
