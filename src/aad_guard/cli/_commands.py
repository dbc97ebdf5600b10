"""The `aad-guard token` actions: each takes parsed options and writes to `out`."""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import anyio
import httpx

from .._validator import ValidatorOptions
from .._version import TokenVersion
from ..testing._cache import CacheFolder
from ..testing._keystore import stored_issuer
from ..testing._tls import CA_FILE
from ._diagnosis import Diagnosis, diagnose
from ._summary import TokenSummary, UnreadableTokenError, is_quoted, summarize, when
from ._terminal import Terminal

__all__ = ["UsageError", "check", "inspect", "mint"]

_MAX_JWKS_FILE = 1024 * 1024
_STATUS_MARK = MappingProxyType({"pass": "PASS", "fail": "FAIL", "not checked": " -- "})


class UsageError(Exception):
    """The command line asks for something that cannot be done (exit code 2)."""


# -- mint ------------------------------------------------------------------------------------


def mint(options: argparse.Namespace, out: Terminal) -> int:
    """Ask the running local issuer for a token and print it; without one, sign it offline."""
    body: dict[str, object] = {"version": f"{options.version}.0", "lifetime": options.lifetime}
    for name in ("tenant_id", "scopes", "roles", "audience", "client_id"):
        if getattr(options, name) is not None:
            body[name] = getattr(options, name)
    if options.personal:
        body["personal"] = True
    if options.app_only:
        body["app_only"] = True
    if options.expired:
        body["issued_at"] = datetime.now(UTC).timestamp() - options.lifetime - 3600
    if options.claims:
        body["claims"] = dict(_claim(text) for text in options.claims)
    url = f"{options.issuer.rstrip('/')}/_local/mint"
    folder = CacheFolder(options.cache_dir)
    try:
        if options.offline:
            response = _mint_offline(url, body, folder, options.issuer)
        else:
            response = httpx.post(url, json=body, timeout=10, verify=_local_trust(folder))
    except httpx.HTTPError as error:
        if not _nothing_listens(error):  # an untrusted certificate, a timeout: not offline
            Terminal(sys.stderr).line(
                f"aad-guard: the local issuer at {options.issuer} did not answer ({error})."
            )
            return 1
        response = _mint_offline(url, body, folder, options.issuer)
        Terminal(sys.stderr).line(
            f"aad-guard: no local issuer answers at {options.issuer}; signed with the keys in "
            f"{folder.path}, which `aad-guard issuer` serves."
        )
    answer = _json_object(response)
    token = answer.get("access_token")
    if response.status_code != 200 or not isinstance(token, str):
        detail = answer.get("error_description") or f"HTTP {response.status_code}"
        Terminal(sys.stderr).line(f"aad-guard: the local issuer refused: {detail}")
        return 1
    if options.json:
        out.json(answer)
    else:
        out.line(token)
    return 0


def _local_trust(folder: CacheFolder) -> ssl.SSLContext | bool:
    """What an https local issuer is trusted by: the CA in the cache folder, once it exists."""
    ca = folder.file(CA_FILE)
    return ssl.create_default_context(cafile=ca) if ca.is_file() else True


def _nothing_listens(error: BaseException) -> bool:
    """Whether the connection was refused: no issuer runs there (not a TLS failure)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _mint_offline(
    url: str, body: dict[str, object], folder: CacheFolder, authority: str
) -> httpx.Response:
    """The answer the issuer at `authority` would give, signed with the keys in `folder`."""
    try:
        issuer = stored_issuer(authority, folder)
    except ValueError as error:
        raise UsageError(f"--issuer {authority!r}: {error}") from error
    return anyio.run(issuer.handle, httpx.Request("POST", url, json=body))


def _claim(text: str) -> tuple[str, object]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--claim {text!r} is not NAME=VALUE")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


# -- inspect ---------------------------------------------------------------------------------


def inspect(token: str, options: argparse.Namespace, out: Terminal, *, now: float) -> int:
    """Print what the token says about itself; exit 1 when it cannot be read at all."""
    try:
        summary = summarize(token)
    except UnreadableTokenError as error:
        Terminal(sys.stderr).line(f"aad-guard: cannot read the token: {error}")
        return 1
    if options.json:
        out.json(summary.to_dict(now=now))
        return 0
    _write_summary(summary, out, now=now)
    if is_quoted(token):
        out.line("  Note        pasted with its quote marks, which are not part of the token")
    out.line()
    out.line("Header")
    out.json(summary.header)
    out.line("Claims")
    out.json(summary.claims)
    return 0


def _write_summary(summary: TokenSummary, out: Terminal, *, now: float) -> None:
    version = f"v{summary.version} " if summary.version else ""
    out.line(f"A {version}{summary.kind} (read without verifying it)")
    audience = summary.audience
    if summary.audience_name:
        audience = f"{audience} ({summary.audience_name})"
    rows = [
        ("Account", summary.account),
        ("Tenant", summary.tenant_id),
        ("Issuer", summary.issuer),
        ("Audience", audience),
        ("Caller app", _join(summary.client_app, summary.client_app_name)),
        ("User", summary.user),
        ("Scopes", " ".join(summary.scopes) or None),
        ("Roles", " ".join(summary.roles) or None),
        ("Key", _join(_text(summary.header.get("kid")), _text(summary.header.get("alg")))),
    ]
    for label, name in (("Issued", "iat"), ("Not before", "nbf"), ("Expires", "exp")):
        at = summary.time(name)
        if at is not None:
            rows.append((label, when(at, now)))
    for label, value in rows:
        out.line(f"  {label:<11} {value if value is not None else '-'}")
    if summary.is_graph_token:
        out.line(
            "  Note        a Microsoft Graph token: only Graph can validate it, never your API"
        )


def _join(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first} ({second})"
    return first or second


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- check -----------------------------------------------------------------------------------


def check(token: str, options: argparse.Namespace, out: Terminal, *, now: float) -> int:
    """Validate the token as the API would and explain each step: exit 0 valid, 1 invalid."""
    settings: ValidatorOptions = {
        "client_id": options.client_id,
        "tenant": options.tenant,
        "authority": options.authority,
        "accept_v1_tokens": not options.no_v1,
        "accept_id_tokens": options.accept_id_tokens,
        "allow_acl_tokens": options.allow_acl_tokens,
        "custom_signing_keys": options.custom_signing_keys,
        "clock_skew": options.clock_skew,
        "allow_guest_users": not options.no_guests,
    }
    if options.metadata_url:
        # The document names the issuer and tenant; a keyword tenant has no place there.
        settings["metadata_url"] = options.metadata_url
        del settings["authority"]
        if options.tenant == "organizations":
            del settings["tenant"]
    if options.allowed_tenants:
        settings["allowed_tenants"] = options.allowed_tenants
    if options.audiences:
        settings["audiences"] = options.audiences
    try:
        summary: TokenSummary | None = summarize(token)
    except UnreadableTokenError:
        summary = None
    diagnosis = anyio.run(_diagnose, token, settings, options.jwks, summary, now)
    if options.json:
        document = diagnosis.to_dict()
        document["token"] = summary.to_dict(now=now) if summary is not None else None
        out.json(document)
    else:
        _write_diagnosis(diagnosis, summary, settings, out, now=now)
    return 0 if diagnosis.valid else 1


async def _diagnose(
    token: str,
    settings: ValidatorOptions,
    jwks_file: str | None,
    summary: TokenSummary | None,
    now: float,
) -> Diagnosis:
    try:
        transport = (
            _jwks_file_transport(jwks_file, settings)
            if jwks_file is not None
            else _FetchOnce(httpx.AsyncHTTPTransport())
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    async with httpx.AsyncClient(transport=transport) as client:
        try:
            return await diagnose(token, {**settings, "http_client": client}, summary, now=now)
        except (TypeError, ValueError) as error:  # the validator refused the settings
            raise UsageError(str(error)) from error


def _write_diagnosis(
    diagnosis: Diagnosis,
    summary: TokenSummary | None,
    settings: ValidatorOptions,
    out: Terminal,
    *,
    now: float,
) -> None:
    if summary is not None:
        _write_summary(summary, out, now=now)
    out.line()
    out.line(
        f"Checked for API {settings['client_id']!r}, tenant {settings.get('tenant')!r}, "
        f"authority {settings.get('authority')}"
    )
    for step in diagnosis.steps:
        line = f"  {_STATUS_MARK[step.status]}  {step.title}"
        if step.status == "fail":
            line = f"{line:<50} {step.reason}: {step.detail}"
        out.line(line.rstrip())
    verdict = "VALID" if diagnosis.valid else f"INVALID ({diagnosis.reason})"
    out.line()
    out.line(f"Result: {verdict}")
    if diagnosis.mistakes:
        out.line()
        out.line("What went wrong:")
        for mistake in diagnosis.mistakes:
            out.line(f"  * [{mistake.code}] {mistake.message}")


class _FetchOnce(httpx.AsyncBaseTransport):
    """Fetch each URL once for all the validator runs of one check."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._answers: dict[str, tuple[int, httpx.Headers, bytes]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = str(request.url)
        if key not in self._answers:
            response = await self._inner.handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            self._answers[key] = (response.status_code, response.headers, content)
        status, headers, content = self._answers[key]
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _jwks_file_transport(path: str, settings: ValidatorOptions) -> httpx.MockTransport:
    """Serve Entra-shaped metadata for the authority and the key set read from `path`."""
    from ..testing import LocalIssuer  # noqa: PLC0415 (the kit loads on use)

    try:
        data = Path(path).read_bytes()[: _MAX_JWKS_FILE + 1]
    except OSError as error:
        raise ValueError(f"cannot read --jwks {path!r}: {error.strerror}") from error
    if len(data) > _MAX_JWKS_FILE:
        raise ValueError(f"--jwks {path!r} is larger than 1 MiB")
    try:
        jwks = json.loads(data)
    except ValueError as error:
        raise ValueError(f"--jwks {path!r} is not JSON") from error
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError(f"--jwks {path!r} is not a JWKS (an object with a 'keys' list)")
    local = LocalIssuer(authority=settings.get("authority", "https://login.microsoftonline.com"))
    if local.resolve_tenant(settings.get("tenant", "organizations")) is None:
        raise ValueError("with --jwks, --tenant must be a tenant id (GUID) or a keyword")

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/keys"):
            return httpx.Response(200, json=jwks)
        tenant = path.split("/")[1]
        version: TokenVersion = "2.0" if "/v2.0/.well-known/" in path else "1.0"
        return httpx.Response(200, json=local.metadata(tenant, version=version))

    return httpx.MockTransport(answer)
