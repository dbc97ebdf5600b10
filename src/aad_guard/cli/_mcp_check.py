"""`aad-guard mcp check URL`: what a spec-strict MCP client will refuse about a server.

It discovers as an MCP client does (the 401 challenge's `resource_metadata`, else the
well-known URLs of RFC 9728), reads the authorization server's metadata as RFC 8414 and
OpenID discovery place it, and lists each finding with the rule behind it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ._terminal import Terminal, printable

__all__ = ["Finding", "findings", "main"]

_MAX_DOCUMENT = 1024 * 1024
_OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# An MCP `initialize` request, as a client's first message, sent without a token.
_INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "aad-guard mcp check", "version": "1"},
        },
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a client meets: `refuse` (a strict client stops), `warn` or `ok`."""

    level: str
    message: str


def findings(url: str, http: httpx.Client) -> list[Finding]:
    """Everything `check` reports about the MCP server at `url`, in discovery order."""
    found: list[Finding] = []
    challenge = _challenge(url, http, found)
    metadata_url = _attribute(challenge, "resource_metadata")
    candidates = [metadata_url] if metadata_url else []
    if metadata_url is None:
        found.append(
            Finding("warn", "the 401 challenge names no resource_metadata (RFC 9728 §5.1)")
        )
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = "" if parts.path == "/" else parts.path
    candidates += [f"{origin}/.well-known/oauth-protected-resource{path}"]
    candidates += [f"{origin}/.well-known/oauth-protected-resource"] if path else []
    resource_document = next(
        (doc for doc in (_document(c, http) for c in candidates) if doc is not None), None
    )
    if resource_document is None:
        found.append(
            Finding("refuse", "no protected-resource metadata at " + ", ".join(candidates))
        )
        return found
    _check_resource(url, resource_document, found)
    _check_scopes(resource_document, _attribute(challenge, "scope"), found)
    servers = resource_document.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        found.append(Finding("refuse", "the metadata names no authorization_servers"))
        return found
    _check_authorization_server(servers[0], http, found)
    return found


def _challenge(url: str, http: httpx.Client, found: list[Finding]) -> str | None:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    try:
        answer = http.post(url, content=_INITIALIZE, headers=headers)
    except httpx.HTTPError as error:
        found.append(Finding("refuse", f"{url} did not answer: {error}"))
        return None
    if answer.status_code != 401:
        found.append(
            Finding("warn", f"{url} answered {answer.status_code} without a token, not 401")
        )
        return None
    challenge: str | None = answer.headers.get("www-authenticate")
    scope = _attribute(challenge, "scope")
    if scope is not None and "offline_access" in scope.split():
        found.append(
            Finding(
                "warn",
                "the challenge's scope names offline_access: clients add it themselves when "
                "the authorization server offers it; a challenge names the resource's scopes",
            )
        )
    return challenge


def _check_resource(url: str, document: dict[str, object], found: list[Finding]) -> None:
    resource = document.get("resource")
    if not isinstance(resource, str):
        found.append(Finding("refuse", "the metadata has no resource (RFC 9728 §2)"))
        return
    if resource == url:
        found.append(Finding("ok", f"resource is the server URL {resource}"))
        return
    asked, named = urlsplit(url), urlsplit(resource)
    differences = [
        name
        for name, differs in (
            ("scheme", asked.scheme != named.scheme),
            ("host", asked.netloc.lower() != named.netloc.lower()),
        )
        if differs
    ]
    if asked.path != named.path:
        same = asked.path.rstrip("/") == named.path.rstrip("/")
        differences.append("trailing slash" if same else "path")
    # A parent resource passes the SDK's check, but is still what the client sends to Entra.
    level = "refuse"
    found.append(
        Finding(
            level,
            f"resource {resource} differs from the server URL {url} in "
            f"{', '.join(differences)}: clients send it as the resource parameter, and Entra "
            "accepts only the App ID URI of the scopes, character for character (AADSTS9010010)",
        )
    )


def _check_scopes(
    document: dict[str, object], challenged: str | None, found: list[Finding]
) -> None:
    scopes = document.get("scopes_supported")
    named = [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else []
    named += challenged.split() if challenged else []
    short = [s for s in named if "://" not in s and s not in _OIDC_SCOPES]
    if short:
        found.append(
            Finding(
                "refuse",
                f"short-form scopes {' '.join(dict.fromkeys(short))}: Entra needs the full form "
                "<App ID URI>/<scope> for an API's scopes (AADSTS70011)",
            )
        )
    resource = document.get("resource")
    foreign = [
        s
        for s in named
        if "://" in s and isinstance(resource, str) and s.rsplit("/", 1)[0] != resource
    ]
    if foreign:
        found.append(
            Finding(
                "refuse",
                f"scopes {' '.join(dict.fromkeys(foreign))} do not start with the resource "
                f"{resource}: clients send it as the resource parameter, which Entra refuses "
                "unless it is the scopes' App ID URI (AADSTS9010010)",
            )
        )
    if not short and not foreign and named:
        found.append(Finding("ok", "scopes are in the full form of the resource's App ID URI"))


def _check_authorization_server(issuer: str, http: httpx.Client, found: list[Finding]) -> None:
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    candidates = [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}/.well-known/openid-configuration{path}",
    ]
    if path:
        candidates.append(f"{origin}{path}/.well-known/openid-configuration")
    document = next((d for d in (_document(c, http) for c in candidates) if d is not None), None)
    if document is None:
        found.append(Finding("refuse", f"no authorization-server metadata for {issuer}"))
        return
    if document.get("issuer") != issuer:
        found.append(
            Finding(
                "refuse",
                f"the authorization server's issuer {printable(str(document.get('issuer')))} is "
                f"not {issuer}, the URL its metadata was found by (RFC 8414 §3.3; the MCP "
                "Python SDK refuses). For organizations/common, serve the mirror "
                "(ProtectedResource(mirror_authorization_server=True))",
            )
        )
    else:
        found.append(Finding("ok", f"the authorization server's issuer is {issuer}"))
    methods = document.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        found.append(
            Finding(
                "refuse",
                "the authorization server's metadata lacks code_challenge_methods_supported "
                "with S256: MCP 2025-11-25 clients must refuse it (the TypeScript SDK does). "
                "Entra's metadata never has it: serve the mirror",
            )
        )
    else:
        found.append(Finding("ok", "PKCE S256 is advertised"))
    if "registration_endpoint" not in document and not document.get(
        "client_id_metadata_document_supported"
    ):
        found.append(
            Finding(
                "warn",
                "no dynamic client registration: MCP clients must be pre-registered in Entra "
                "(or pre-authorized) and configured with their client id",
            )
        )


def _document(url: str, http: httpx.Client) -> dict[str, object] | None:
    """The JSON object at `url`, or `None` (not there, too large, not an object)."""
    try:
        with http.stream("GET", url) as answer:
            if answer.status_code != 200:
                return None
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > _MAX_DOCUMENT:
                    return None
    except httpx.HTTPError:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _attribute(challenge: str | None, name: str) -> str | None:
    """A quoted attribute of a `Bearer` challenge, unescaped."""
    if not challenge:
        return None
    marker = f"{name}="
    for part in _split(challenge.removeprefix("Bearer").strip()):
        if part.startswith(marker):
            value = part[len(marker) :]
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            return value
    return None


def _split(parameters: str) -> list[str]:
    """`a="x, y", b=z` into its parameters, commas inside quotes kept."""
    parts, current, quoted, escaped = [], "", False, False
    for char in parameters:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            current, escaped = current + char, True
        elif char == '"':
            current, quoted = current + char, not quoted
        elif char == "," and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def main(argv: Sequence[str]) -> int:
    """`aad-guard mcp check URL [--json]`: exit 1 when a strict client refuses, else 0."""
    parser = argparse.ArgumentParser(
        prog="aad-guard mcp",
        description="Check an MCP server's authorization as spec-strict clients see it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="{check}", required=True)
    checking = actions.add_parser("check", help="list what spec-strict MCP clients refuse")
    checking.add_argument("url", help="the MCP server's URL, such as https://host/mcp")
    checking.add_argument("--json", action="store_true", help="machine-readable output")
    options = parser.parse_args(list(argv))
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        found = findings(options.url, http)
    out = Terminal(sys.stdout)
    if options.json:
        out.json([{"level": f.level, "message": f.message} for f in found])
    else:
        for finding in found:
            out.line(f"{finding.level.upper():6} {finding.message}")
    return 1 if any(f.level == "refuse" for f in found) else 0
