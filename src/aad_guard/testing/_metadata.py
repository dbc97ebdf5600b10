"""The OpenID metadata documents of the local issuer, field for field as Entra publishes them.

Clients meet the same document here as in production: the same members, in Entra's order,
with the local issuer's endpoints. Nothing Entra lacks is added (no
`code_challenge_methods_supported`), so a client that works here reads nothing it will not
find there.

The issuer builds its documents with a `MetadataBuilder` (default `entra_metadata`), so
another look (one without a member, a B2C user flow's, External ID's) is another builder
given to `LocalIssuer(metadata=...)`, often one that edits what `entra_metadata` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["MetadataBuilder", "MetadataRequest", "entra_metadata"]

# Each cloud's `cloud_instance_name`, Graph hosts and `rbac_url`, as its metadata names them.
_CLOUDS = MappingProxyType(
    {
        "https://login.microsoftonline.com": (
            "microsoftonline.com",
            "graph.windows.net",
            "graph.microsoft.com",
            "https://pas.windows.net",
        ),
        "https://login.microsoftonline.us": (
            "microsoftonline.us",
            "graph.windows.net",
            "graph.microsoft.com",
            "https://pasff.usgovcloudapi.net",
        ),
        "https://login.chinacloudapi.cn": (
            "partner.microsoftonline.cn",
            "graph.chinacloudapi.cn",
            "microsoftgraph.chinacloudapi.cn",
            "https://pas.chinacloudapi.cn",
        ),
    }
)
_OTHER_CLOUD = ("local", "graph.windows.net", "graph.microsoft.com", "https://pas.windows.net")
_V2_CLAIMS = (
    "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
    "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
    "name", "tid", "ver", "at_hash", "c_hash", "email",
)  # fmt: skip
_V1_CLAIMS = (
    "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
    "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email",
    "given_name", "family_name", "nickname",
)  # fmt: skip
_AUTH_METHODS = ("client_secret_post", "private_key_jwt", "client_secret_basic")
_RESPONSE_MODES = ("query", "fragment", "form_post")


@dataclass(frozen=True, slots=True)
class MetadataRequest:
    """What a metadata document is asked for.

    Attributes:
        authority: The origin the endpoints are on.
        tenant: The tenant segment as asked: a GUID, a domain or a keyword.
        issuer: The `issuer` member, as the issuer computed it.
        version: `"2.0"` or `"1.0"`.
        keyword: `tenant` is `common`, `organizations` or `consumers` (no region).
        query: The request's query parameters (a B2C user flow is asked for with `p=`);
            empty when the document is asked for in code.
    """

    authority: str
    tenant: str
    issuer: str
    version: str
    keyword: bool
    query: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


MetadataBuilder = Callable[[MetadataRequest], dict[str, object]]
"""Builds the OpenID metadata document the issuer serves for one request."""


def entra_metadata(request: MetadataRequest) -> dict[str, object]:
    """The v1 or v2 metadata of the tenant asked for, member for member as Entra's."""
    authority, keyword, issuer = request.authority, request.keyword, request.issuer
    base = f"{authority}/{request.tenant}"
    instance, graph, msgraph, rbac_url = _CLOUDS.get(authority, _OTHER_CLOUD)
    # The members both versions end with, in Entra's order.
    cloud = {
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": None if keyword else "NA",
        "cloud_instance_name": instance,
        "cloud_graph_host_name": graph,
        "msgraph_host": msgraph,
        "rbac_url": rbac_url,
    }
    if request.version == "2.0":
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": list(_RESPONSE_MODES),
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"https://{msgraph}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": list(_V2_CLAIMS),
            **cloud,
        }
    return {
        "token_endpoint": f"{base}/oauth2/token",
        "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
        "jwks_uri": f"{base}/discovery/keys",
        "response_modes_supported": list(_RESPONSE_MODES),
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": [
            "code",
            "id_token",
            "code id_token",
            "token id_token",
            "token",
        ],
        "scopes_supported": ["openid"],
        "issuer": issuer,
        "microsoft_multi_refresh_token": True,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/logout",
        "claims_supported": list(_V1_CLAIMS),
        "check_session_iframe": f"{base}/oauth2/checksession",
        "userinfo_endpoint": f"{base}/openid/userinfo",
        **cloud,
    }
