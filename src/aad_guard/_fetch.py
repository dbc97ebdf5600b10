"""Guarded GETs of identity-provider documents: one origin, no redirects, capped, timed out."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol
from urllib.parse import urlsplit

import anyio

from ._jose import loads_object

__all__ = ["AsyncHTTPClient", "FetchError", "Origin", "fetch_json"]

_DEFAULT_PORTS = MappingProxyType({"https": 443, "http": 80})
# Identity documents are a few KB: no compression, so a small body cannot expand (zip bombs).
_REQUEST_HEADERS = MappingProxyType({"Accept": "application/json", "Accept-Encoding": "identity"})


class HTTPResponse(Protocol):
    """The part of `httpx.Response` (and httpx2's) that the fetcher reads."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...


class AsyncHTTPClient(Protocol):
    """The part of `httpx.AsyncClient` that aad_guard uses; httpx2's client has it too."""

    def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = ...,
        follow_redirects: bool = ...,
        timeout: float = ...,
    ) -> AbstractAsyncContextManager[HTTPResponse]: ...


class FetchError(Exception):
    """A document could not be fetched or was not acceptable; nothing cached changes.

    Attributes:
        retry_after: Seconds the provider asked us to wait (`Retry-After`), if it did.
        kind: How it failed, a short constant for metrics: `timeout`, `transport_error`,
            `body_too_large`, `invalid_document`, or the HTTP status code (`"503"`).
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, kind: str = "invalid_document"
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port: the only place documents may come from."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of `url`, which must be HTTPS, or plain HTTP to a loopback host.

        Raises:
            ValueError: another scheme, user info, a fragment, or no host.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{url!r} is not a valid URL") from exc
        host = (parts.hostname or "").lower()
        if not host or parts.username is not None or parts.password is not None or parts.fragment:
            raise ValueError(f"{url!r} must be an absolute URL with a host and no credentials")
        if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
            raise ValueError(f"{url!r} must use https (plain http only to a loopback address)")
        return cls(parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme])

    @property
    def url(self) -> str:
        """The origin as a URL prefix, without a trailing slash."""
        default = _DEFAULT_PORTS[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" if default else f"{self.scheme}://{host}:{self.port}"

    def owns(self, url: str) -> bool:
        """Whether `url` is a valid URL on this origin."""
        try:
            return Origin.of(url) == self
        except ValueError:
            return False


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None  # an HTTP date: rare from Entra; the backoff applies instead
    return seconds if 0 <= seconds < math.inf else None


async def _read_capped(response: HTTPResponse, max_bytes: int) -> bytes:
    body = bytearray()
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(
                    f"the body is larger than {max_bytes} bytes", kind="body_too_large"
                )
    finally:
        # Stopping early leaves the generator suspended; close it now, not at GC (trio warns).
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    return bytes(body)


async def fetch_json(
    client: AsyncHTTPClient,
    url: str,
    *,
    origin: Origin,
    timeout: float,  # noqa: ASYNC109 (it bounds httpx's own waits too, not only this one)
    max_bytes: int,
) -> dict[str, object]:
    """GET a JSON object from `origin`, or raise `FetchError`.

    No redirect is followed, only status 200 is accepted, the body is capped at `max_bytes`,
    and the whole exchange must finish within `timeout` seconds.
    """
    if not origin.owns(url):
        raise FetchError(f"refusing to fetch {url!r}: not on {origin.url}")
    try:
        with anyio.fail_after(timeout):
            async with client.stream(
                "GET", url, headers=_REQUEST_HEADERS, follow_redirects=False, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    raise FetchError(
                        f"GET {url} answered {response.status_code}",
                        retry_after=_retry_after(response.headers),
                        kind=str(response.status_code),
                    )
                body = await _read_capped(response, max_bytes)
    except FetchError:
        raise
    except TimeoutError as exc:
        raise FetchError(f"GET {url} took longer than {timeout} s", kind="timeout") from exc
    # The client may be httpx or httpx2, whose error trees are distinct: any failure of the
    # exchange is a failed fetch. Cancellation is a BaseException and passes through.
    except Exception as exc:
        raise FetchError(f"GET {url} failed: {type(exc).__name__}", kind="transport_error") from exc
    try:
        return loads_object(body)
    except ValueError as exc:
        raise FetchError(f"GET {url} did not return a JSON object: {exc}") from exc
