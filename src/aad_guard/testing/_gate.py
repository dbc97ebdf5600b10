"""What the loopback server refuses before its issuer sees a request: other hosts, other sites.

A web page the developer visits can reach a server on their loopback interface: by DNS
rebinding (its own name now resolves to 127.0.0.1, so the browser sends `Host: its.name`)
or by posting a form across sites. Either would let it mint tokens or consent in the
developer's name, so the server answers only loopback names and its own pages' changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["Refusal", "cross_site_refusal", "host_refusal", "is_own_authority"]

# RFC 3986 §3.2.2 host (an IP literal in brackets, or a reg-name / IPv4 address), then a port.
_AUTHORITY = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::(?P<port>[0-9]{1,5}))?"
)
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = MappingProxyType({"http": 80, "https": 443})


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer the server gives itself: the status and a sentence saying why."""

    status: int
    message: str


def _is_loopback_host(host: str) -> bool:
    """`localhost`, an address of 127.0.0.0/8, or `[::1]`: names no DNS answer can move."""
    if host.startswith("["):
        try:
            return ipaddress.IPv6Address(host[1:-1]) == _LOOPBACK_V6
        except ValueError:
            return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(host) in _LOOPBACK_V4
    except ValueError:
        return False


def is_own_authority(authority: str, port: int, *, scheme: str = "http") -> bool:
    """Whether `host[:port]` names this server: a loopback host, with the port it listens on."""
    match = _AUTHORITY.fullmatch(authority)
    if match is None:
        return False
    # RFC 9110 §4.2.1, §4.2.2: without a port, the scheme's default.
    named_port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    return named_port == port and _is_loopback_host(match["host"])


def host_refusal(hosts: Collection[str], port: int, *, scheme: str = "http") -> Refusal | None:
    """Why a request with these `Host` values is not answered, or `None` if it may be.

    RFC 9112 §3.2: a missing, repeated or malformed `Host` is a 400. A well-formed one that
    names another host (or port) is a 421 Misdirected Request (RFC 9110 §15.5.20).
    """
    if len(hosts) != 1:
        return Refusal(400, "Send exactly one Host header.")
    (host,) = hosts
    if _AUTHORITY.fullmatch(host) is None:
        return Refusal(400, f"The Host header {host!r} is not a host name with an optional port.")
    if not is_own_authority(host, port, scheme=scheme):
        return Refusal(
            421,
            f"This local issuer answers for localhost, 127.0.0.0/8 and [::1] on port {port} "
            f"only, not for {host!r}: a web page must not reach it under its own name.",
        )
    return None


def cross_site_refusal(
    method: str,
    origin: str | None,
    fetch_site: str | None,
    *,
    port: int,
    trusted: Collection[str],
    scheme: str = "http",
) -> Refusal | None:
    """Why a browser page may not make this request, or `None` if it may.

    Requests that change state (any method but GET, HEAD and OPTIONS) are answered when
    they come from the server's own pages, from an origin in `trusted`, or from no browser
    page at all (no `Origin`, and not `Sec-Fetch-Site: cross-site`). The server's own pages
    have its `scheme`: an `http://` page cannot post to the https server. An opaque `null`
    origin is never trusted.
    """
    if method in _SAFE_METHODS:
        return None
    if origin is None:
        if fetch_site is not None and fetch_site.lower() == "cross-site":
            return Refusal(403, "The local issuer refuses a request that another site sent.")
        return None
    origin_scheme, separator, authority = origin.partition("://")
    if origin in trusted or (
        separator
        and origin_scheme.lower() == scheme
        and is_own_authority(authority, port, scheme=scheme)
    ):
        return None
    return Refusal(
        403,
        f"The local issuer refuses a {method} from the page at {origin!r}: only its own pages "
        "may change its state (and, at the token endpoint, the origins of registered "
        "redirect URIs).",
    )
