"""The documents of one key fetch: got in order, and the rules they must pass.

A fetch reads the v2 metadata (and the v1 metadata for v1 tokens), then the JWKS the metadata
names. The same rules apply to documents fresh from the identity provider and to documents a
fleet shares through Redis (`_shared_keys`): the issuers must be the configured tenant's, and
the `jwks_uri` must be on the authority's origin (docs/design.md, rules 8-9).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import quote

import anyio

from ._fetch import FetchError, Origin
from ._policy import IssuerTemplate
from ._tenant import Tenant

__all__ = ["DocumentRules", "Documents"]

# The documents of one fetch, by the URL they came from.
Documents: TypeAlias = dict[str, dict[str, object]]


@dataclass(frozen=True, slots=True)
class DocumentRules:
    """Where one key store's documents come from, and what they must say."""

    origin: Origin
    tenant: Tenant
    metadata_url: str
    metadata_url_v1: str | None
    custom_keys_app_id: str | None
    # The caller named the document (`metadata_url`): its issuer may have any form that
    # names a tenant (B2C, External ID, custom domains), not only Entra's.
    issuer_as_named: bool = False

    async def fetch(self, get: Callable[[str], Awaitable[dict[str, object]]]) -> Documents:
        """The metadata and the JWKS it names, checked as far as needed to fetch the next.

        Raises:
            FetchError: a GET failed, or the metadata names no acceptable issuer or JWKS.
        """
        documents: Documents = {}
        errors: list[FetchError] = []

        async def get_into_documents(url: str) -> None:
            try:
                documents[url] = await get(url)
            except FetchError as exc:  # kept out of the task group's ExceptionGroup
                errors.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(get_into_documents, self.metadata_url)
            if self.metadata_url_v1 is not None:
                group.start_soon(get_into_documents, self.metadata_url_v1)
        if errors:
            raise errors[0]
        self.issuers(documents)  # a wrong issuer costs no JWKS request
        jwks_uri = self.jwks_uri(documents)
        documents[jwks_uri] = await get(jwks_uri)
        return documents

    def issuers(self, documents: Documents) -> tuple[IssuerTemplate, IssuerTemplate | None]:
        """The v2 and v1 issuer templates, which must name the same, configured tenant.

        A named document's (`issuer_as_named`) issuer is taken as it says, in any form that
        names the tenant: B2C's and External ID's are not Entra's `/v2.0` form.

        Raises:
            FetchError: a metadata document is missing or names another issuer.
        """
        metadata = documents.get(self.metadata_url)
        metadata_v1 = documents.get(self.metadata_url_v1) if self.metadata_url_v1 else None
        if metadata is None or (self.metadata_url_v1 is not None and metadata_v1 is None):
            raise FetchError(f"no metadata from {self.metadata_url}")
        try:
            issuer_v2 = (
                IssuerTemplate.of_metadata(metadata.get("issuer"), tenant=self.tenant)
                if self.issuer_as_named
                else IssuerTemplate.parse(metadata.get("issuer"), version="2.0", tenant=self.tenant)
            )
            issuer_v1 = None
            if metadata_v1 is not None:
                issuer_v1 = IssuerTemplate.parse(
                    metadata_v1.get("issuer"), version="1.0", tenant=self.tenant
                )
                if issuer_v1.tenant_id != issuer_v2.tenant_id:
                    raise ValueError("the v1 and v2 metadata name different tenants")
        except ValueError as exc:
            raise FetchError(f"GET {self.metadata_url}: {exc}") from exc
        return issuer_v2, issuer_v1

    def jwks_uri(self, documents: Documents) -> str:
        """The JWKS URL the v2 metadata names, with `?appid=` for custom signing keys.

        Raises:
            FetchError: it is not a URL on the authority's origin.
        """
        value = documents[self.metadata_url].get("jwks_uri")
        if not isinstance(value, str) or not self.origin.owns(value):
            raise FetchError(f"the metadata's jwks_uri {value!r} is not on {self.origin.url}")
        if self.custom_keys_app_id is None:
            return value
        separator = "&" if "?" in value else "?"
        return f"{value}{separator}appid={quote(self.custom_keys_app_id, safe='')}"
