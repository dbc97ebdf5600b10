"""The sign-in pages shown and not yet answered, each behind the CSRF token of its form."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from ._grants import AuthorizationRequest
from ._oauth import Reply

__all__ = ["Pending", "PendingForms"]

_FORM_LIFETIME = 600.0  # seconds a sign-in page can be submitted: time to read and choose
_MAX_PENDING = 1000  # sign-in pages awaiting an answer; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class Pending:
    """A sign-in page shown and not yet answered: what its form's CSRF token stands for.

    The answer goes to the client's redirect URI (`reply`) or, for a device, to the device
    authorization of `device_code`.
    """

    request: AuthorizationRequest
    reply: Reply | None
    device_code: str | None
    tenant: str
    expires_at: float


class PendingForms:
    """The pending sign-in pages of one sign-in: each answered at most once, before it expires.

    Args:
        lock: The sign-in's lock (the loopback server answers from several threads).
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._pending: dict[str, Pending] = {}  # by CSRF token

    def remember(
        self,
        request: AuthorizationRequest,
        reply: Reply | None,
        tenant: str,
        *,
        now: float,
        device_code: str | None = None,
    ) -> str:
        """Keep a shown page's request until its form is posted; returns its CSRF token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._pending = {t: p for t, p in self._pending.items() if p.expires_at > now}
            while len(self._pending) >= _MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[token] = Pending(
                request, reply, device_code, tenant, now + _FORM_LIFETIME
            )
        return token

    def take(self, csrf_token: str, *, now: float) -> Pending | None:
        """The page `csrf_token` stands for, spent now; `None` if unknown, spent or expired."""
        with self._lock:
            pending = self._pending.pop(csrf_token, None)
        if pending is None or pending.expires_at <= now:
            return None
        return pending
