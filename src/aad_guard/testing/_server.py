"""LocalIssuer over HTTP on loopback, for apps in another process (demos, browsers)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from ._issuer import LocalIssuer

__all__ = ["LocalIssuerServer"]

_MAX_BODY = 64 * 1024  # sign-in forms and token requests are small


def _handler_for(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "aad-guard-local-issuer"

        def do_GET(self) -> None:
            self._relay()

        def do_POST(self) -> None:
            self._relay()

        def do_OPTIONS(self) -> None:
            self._relay()

        def _relay(self) -> None:
            url = f"{issuer.authority}{self.path}"
            length = self.headers.get("Content-Length") or "0"
            if "Transfer-Encoding" in self.headers:  # bodies come with a length, or not at all
                self.send_error(411)
                return
            if not length.isdigit() or int(length) > _MAX_BODY:
                self.send_error(413 if length.isdigit() else 400)
                return
            body = self.rfile.read(int(length))
            headers = dict(self.headers.items())
            request = httpx.Request(self.command, url, headers=headers, content=body)
            try:
                response = anyio.run(issuer.handle, request)
            except httpx.ConnectError:  # the "down" fault: drop the connection
                self.close_connection = True
                return
            body = response.content
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the issuer counts requests itself

    return Handler


class LocalIssuerServer:
    """Serve a `LocalIssuer` on `http://127.0.0.1:<port>` from a background thread.

    The issuer's authority is the server's own origin, so a validator configured with
    `authority=server.url` fetches metadata and keys from it (plain HTTP is allowed to
    loopback only).

    Args:
        host: The loopback address to bind. Default `127.0.0.1`.
        port: The port; 0 picks a free one. Default 0.
        issuer: Builds the issuer from its authority. Default `LocalIssuer(authority=...)`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        issuer: Callable[[str], LocalIssuer] | None = None,
    ) -> None:
        self._http = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
        bound_host, bound_port = self._http.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        self.issuer = (issuer or (lambda authority: LocalIssuer(authority=authority)))(self.url)
        self._http.RequestHandlerClass = _handler_for(self.issuer)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> Self:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
