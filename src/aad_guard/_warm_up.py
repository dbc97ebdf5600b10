"""The middleware's warm-up: keys fetched at lifespan startup, within a time limit.

After the app's own startup (so that an OpenTelemetry SDK its lifespan configures sees the
fetch) and before the server is told the startup is complete. Entra being down fails the
startup only when asked to (`require_keys_at_startup`); otherwise the guard starts, says so,
and the first requests fetch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import anyio
from starlette.types import Message, Send

from ._validator import TokenValidator
from .errors import KeysUnavailableError

__all__ = ["check_warm_up", "warming"]

logger = logging.getLogger("aad_guard")


def check_warm_up(warm_up: object, require_keys: object) -> None:
    """Check the middleware's `warm_up` and `require_keys_at_startup`.

    Raises:
        TypeError: `warm_up` is not a number.
        ValueError: it is not positive and finite, or keys are required without it.
    """
    if warm_up is None:
        if require_keys:
            raise ValueError("require_keys_at_startup needs warm_up=, the seconds to wait")
        return
    if isinstance(warm_up, bool) or not isinstance(warm_up, int | float):
        raise TypeError(f"warm_up must be a number of seconds, not {warm_up!r}")
    if not math.isfinite(warm_up) or warm_up <= 0:
        raise ValueError(f"warm_up must be a positive finite number of seconds, not {warm_up!r}")


def warming(
    send: Send, validators: Sequence[TokenValidator], warm_up: float | None, *, require_keys: bool
) -> Send:
    """`send`, warming every validator's keys, at once, before the app's startup is reported."""
    if warm_up is None:
        return send

    async def send_after_warm_up(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            failures: list[str] = []

            async def warm_into_failures(validator: TokenValidator) -> None:
                failure = await _warm(validator, warm_up, require_keys=require_keys)
                if failure is not None:
                    failures.append(failure)

            async with anyio.create_task_group() as group:
                for validator in validators:
                    group.start_soon(warm_into_failures, validator)
            if failures:
                message = {"type": "lifespan.startup.failed", "message": "; ".join(failures)}
        await send(message)

    return send_after_warm_up


async def _warm(validator: TokenValidator, seconds: float, *, require_keys: bool) -> str | None:
    """Fetch keys for at most `seconds`; the reason startup must fail, if it must."""
    problem = f"no answer within {seconds} s"
    with anyio.move_on_after(seconds):
        try:
            await validator.warm()
        except KeysUnavailableError as error:
            problem = str(error)
    status = validator.status()
    if status.ready:
        logger.info("aad_guard fetched signing keys at startup (%d keys)", status.keys)
        return None
    message = f"aad_guard has no signing keys at startup: {problem}"
    extra = {"aad_guard_reason": "keys_unavailable", "aad_guard_fetch": status.last_fetch}
    if require_keys:
        logger.error("%s; startup fails (require_keys_at_startup)", message, extra=extra)
        return message
    logger.warning("%s; serving anyway, requests will fetch", message, extra=extra)
    return None
