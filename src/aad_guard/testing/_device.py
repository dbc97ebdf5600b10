"""Device authorizations of the device-code flow (RFC 8628), as Entra runs it.

A CLI asks for a device code and shows the user code; the user enters it on the
verification page and signs in; meanwhile the CLI polls the token endpoint, which answers
`authorization_pending` until then.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

from ._accounts import LocalUser

__all__ = ["DeviceAuthorizations", "DeviceState"]

# No 0/O or 1/I: a person reads the code off one screen and types it into another.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_USER_CODE_LENGTH = 9  # as long as Entra's
_MAX_PENDING = 1000
DeviceState = Literal["pending", "approved", "declined"]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Device(Generic[R]):
    """One device authorization: what was asked, its codes, and what the user said."""

    request: R
    device_code: str
    user_code: str
    expires_at: float
    state: DeviceState = "pending"
    user: LocalUser | None = None


class DeviceAuthorizations(Generic[R]):
    """The device authorizations not yet redeemed, by device code and by user code."""

    def __init__(self) -> None:
        self._by_device: dict[str, Device[R]] = {}
        self._lock = threading.Lock()

    def start(self, request: R, *, now: float, lifetime: float) -> Device[R]:
        """A new authorization for `request`, with fresh device and user codes."""
        with self._lock:
            self._by_device = {c: d for c, d in self._by_device.items() if d.expires_at > now}
            while len(self._by_device) >= _MAX_PENDING:
                del self._by_device[next(iter(self._by_device))]
            taken = {device.user_code for device in self._by_device.values()}
            user_code = _user_code()
            while user_code in taken:
                user_code = _user_code()
            device = Device(request, secrets.token_urlsafe(48), user_code, now + lifetime)
            self._by_device[device.device_code] = device
        return device

    def by_user_code(self, user_code: str, *, now: float) -> Device[R] | None:
        """The pending authorization a user typed the code of (case and dashes aside)."""
        typed = user_code.upper().replace("-", "").replace(" ", "")
        with self._lock:
            for device in self._by_device.values():
                if device.user_code == typed and device.state == "pending":
                    return device if device.expires_at > now else None
        return None

    def decide(self, device_code: str, user: LocalUser | None) -> bool:
        """Record the user's answer: approved for `user`, or declined (`None`)."""
        with self._lock:
            device = self._by_device.get(device_code)
            if device is None or device.state != "pending":
                return False
            state: DeviceState = "declined" if user is None else "approved"
            self._by_device[device_code] = replace(device, state=state, user=user)
        return True

    def poll(self, device_code: str) -> Device[R] | None:
        """The authorization of `device_code`; a decided one is forgotten (redeemed once)."""
        with self._lock:
            device = self._by_device.get(device_code)
            if device is not None and device.state != "pending":
                del self._by_device[device_code]
        return device

    def forget(self, device_code: str) -> None:
        with self._lock:
            self._by_device.pop(device_code, None)


def _user_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_USER_CODE_LENGTH))
