"""A `LocalIssuerServer` that is built but never started still gives its port back."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from aad_guard.testing import LocalIssuerServer


def test_a_server_closed_before_it_started_frees_its_port() -> None:
    server = LocalIssuerServer()
    port = urlsplit(server.url).port
    assert port is not None
    # Waiting for a serving loop that never ran would hang here.
    server.close()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
