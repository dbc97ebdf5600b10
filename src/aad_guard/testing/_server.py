"""LocalIssuer over HTTP or HTTPS on loopback, for apps in another process (demos, browsers)."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from ._cache import CacheFolder
from ._gate import Refusal, cross_site_refusal, host_refusal
from ._issuer import LocalIssuer
from ._tls import ServerCertificate, server_certificate

__all__ = ["LocalIssuerServer"]

_MAX_BODY = 64 * 1024  # sign-in forms and token requests are small
_HANDSHAKE_TIMEOUT = 10.0  # seconds a client has to finish the TLS handshake


class _HTTPServer(ThreadingHTTPServer):
    """The standard threading server, with the TLS handshake made in the request's thread.

    A handshake in `accept` would let one silent client stop the whole server; a client that
    does not trust the CA hangs up during the handshake, which is no error of the server's.
    """

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:  # noqa: ANN401 (socketserver's)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            secured.settimeout(None)
            super().finish_request(secured, client_address)
        finally:
            self.shutdown_request(secured)  # the end of what was sent first, then the close


def _handler_for(issuer: LocalIssuer, port: int, scheme: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "aad-guard-local-issuer"

        def do_GET(self) -> None:
            self._relay()

        def do_POST(self) -> None:
            self._relay()

        def do_OPTIONS(self) -> None:
            self._relay()

        def _relay(self) -> None:
            refusal = self._refusal()
            if refusal is not None:
                self._answer_plain(refusal)
                return
            length = self.headers.get("Content-Length") or "0"
            if "Transfer-Encoding" in self.headers:  # bodies come with a length, or not at all
                self.send_error(411)
                return
            if not length.isdigit() or int(length) > _MAX_BODY:
                self.send_error(413 if length.isdigit() else 400)
                return
            body = self.rfile.read(int(length))
            headers = dict(self.headers.items())
            url = f"{issuer.authority}{self.path}"
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

        def _refusal(self) -> Refusal | None:
            """Why this request is not for the issuer: its target, its host or its page."""
            # RFC 9112 §3.2.1: the issuer's URLs are paths; an absolute-form target (a proxy
            # request) or `*` names no resource here.
            if not self.path.startswith("/"):
                return Refusal(400, "The request target must be a path, like /common/v2.0/...")
            try:
                httpx.URL(f"{issuer.authority}{self.path}")
            except httpx.InvalidURL:
                return Refusal(400, "The request target is not a valid path.")
            refusal = host_refusal(self.headers.get_all("Host") or [], port, scheme=scheme)
            if refusal is not None:
                return refusal
            return cross_site_refusal(
                self.command,
                self.headers.get("Origin"),
                self.headers.get("Sec-Fetch-Site"),
                port=port,
                trusted=issuer.signin.trusted_origins(self.path.partition("?")[0]),
                scheme=scheme,
            )

        def _answer_plain(self, refusal: Refusal) -> None:
            body = f"{refusal.message}\n".encode()
            self.send_response(refusal.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002 (http.server's)
            return  # quiet: the issuer counts requests itself

    return Handler


class LocalIssuerServer:
    """Serve a `LocalIssuer` on `http://127.0.0.1:<port>` (or https) from a background thread.

    The issuer's authority is the server's own origin, so a validator configured with
    `authority=server.url` fetches metadata and keys from it (plain HTTP is allowed to
    loopback only). Web pages cannot drive it: it answers only a loopback `Host` with its
    own port (so DNS rebinding reaches nothing) and refuses posts from other sites' pages.

    With `tls=True` it serves HTTPS, as clients such as MSAL require, with a certificate for
    `localhost`, `127.0.0.1` and `::1` issued by a CA of its own, kept in `cache_dir`:
    clients trust `ca_path`.

    Args:
        host: The loopback address to bind. Default `127.0.0.1`.
        port: The port; 0 picks a free one. Default 0.
        issuer: Builds the issuer from its authority. Default `LocalIssuer(authority=...)`.
        tls: Serve HTTPS. Default `False`.
        cache_dir: Where the CA and the server certificate are kept (and made when missing,
            expiring or unreadable). Default: `$AAD_GUARD_CACHE_DIR`, or the user cache
            folder's `aad-guard` (`~/.cache/aad-guard` on Linux).

    Attributes:
        url: The server's origin, `http://127.0.0.1:<port>` or `https://...`.
        ca_path: The CA certificate (PEM) that clients of an HTTPS server trust; `None` for
            plain HTTP.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        issuer: Callable[[str], LocalIssuer] | None = None,
        tls: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.certificate: ServerCertificate | None = None
        if tls:
            self.certificate = server_certificate(CacheFolder(cache_dir))
        self.ca_path: Path | None = self.certificate.ca_path if self.certificate else None
        self._http = _HTTPServer((host, port), BaseHTTPRequestHandler)
        if self.certificate is not None:
            self._http.tls = self.certificate.server_context()
        scheme = "https" if tls else "http"
        bound_host, bound_port = self._http.server_address[:2]
        self.url = f"{scheme}://{bound_host!s}:{bound_port}"
        self.issuer = (issuer or (lambda authority: LocalIssuer(authority=authority)))(self.url)
        self._http.RequestHandlerClass = _handler_for(self.issuer, int(bound_port), scheme)
        # `close` waits for the serving loop to notice: poll often, so that it returns at once.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

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
