"""A loopback socket for the demos: the port asked for, or a free one if it is taken."""

from __future__ import annotations

import socket

__all__ = ["loopback_socket"]


def loopback_socket(port: int) -> socket.socket:
    """A bound loopback socket on `port`, or on a free port if that one is taken."""
    for candidate in (port, 0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError:
            sock.close()
            continue
        return sock
    raise OSError("no free loopback port")
