"""The HTML of the local sign-in: the account and consent page, and error pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import httpx

from ._accounts import LocalUser

__all__ = ["error_page", "sign_in_page"]

# Everything echoed is escaped; the policy forbids scripts and framing all the same.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    # Not no-referrer: a POST from such a page says `Origin: null` (the Fetch standard), and the
    # loopback server trusts the origin of its own pages only.
    "Referrer-Policy": "same-origin",
}
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; background: #f2f2f2; margin: 0; }
main { background: #fff; max-width: 440px; margin: 48px auto; padding: 32px 40px;
       box-shadow: 0 2px 6px rgba(0,0,0,.2); }
h1 { font-size: 24px; font-weight: 600; margin: 0 0 4px; }
.note { color: #605e5c; font-size: 13px; margin: 0 0 20px; }
label.account { display: block; border: 1px solid #c8c6c4; padding: 8px 12px; margin: 6px 0;
                cursor: pointer; }
label.account:has(input:checked) { border-color: #0067b8; background: #f3f9fd; }
.who { font-weight: 600; } .meta { color: #605e5c; font-size: 13px; }
code { font-size: 13px; } ul { padding-left: 20px; }
.buttons { text-align: right; margin-top: 20px; }
button { font: inherit; padding: 6px 20px; margin-left: 8px; border: 1px solid #8a8886;
         background: #fff; cursor: pointer; }
button.primary { background: #0067b8; border-color: #0067b8; color: #fff; }
"""


def _page(status: int, title: str, body: str) -> httpx.Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return httpx.Response(status, html=html, headers=_HEADERS)


def error_page(status: int, message: str) -> httpx.Response:
    """An error the user must see: no redirect URI can be trusted with it (RFC 6749 §4.1.2.1)."""
    body = (
        "<h1>Sign-in failed</h1>"
        '<p class="note">aad_guard local issuer: no real account is involved.</p>'
        f"<p>{escape(message)}</p>"
    )
    return _page(status, "Sign-in failed", body)


def sign_in_page(
    *,
    action: str,
    csrf_token: str,
    users: Mapping[str, LocalUser],
    client_id: str,
    api: str,
    scopes: Sequence[str],
) -> httpx.Response:
    """The page that lets a developer pick a fake account and consent to `scopes` of `api`.

    Args:
        action: The path the form posts to.
        csrf_token: Stands for the checked authorization request; the form posts it back.
        users: The accounts to offer, by form key; the first is selected.
        client_id: The application asking.
        api: The API's Application ID URI.
        scopes: The API's scopes asked for, by short name.
    """
    hidden = f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
    accounts = "".join(
        f'<label class="account"><input type="radio" name="user" value="{escape(key)}"'
        f'{" checked" if index == 0 else ""}> <span class="who">{escape(user.name)}</span>'
        f' <span class="meta">{escape(user.username)}</span><br>'
        f'<span class="meta">{escape(user.label)} · tenant <code>{escape(user.tenant_id or "")}'
        f"</code>{' · roles ' + escape(', '.join(user.roles)) if user.roles else ''}</span>"
        "</label>"
        for index, (key, user) in enumerate(users.items())
    )
    if not users:
        accounts = '<p class="note">No local account belongs to this tenant.</p>'
    permissions = "".join(f"<li><code>{escape(scope)}</code></li>" for scope in scopes)
    body = (
        "<h1>Sign in</h1>"
        '<p class="note">aad_guard local issuer: pick a fake account. No password, no real '
        "tenant, nothing leaves this machine.</p>"
        f'<form method="post" action="{escape(action)}">{hidden}{accounts}'
        f"<p>The application <code>{escape(client_id)}</code> asks to act for you on "
        f"<code>{escape(api)}</code>:</p><ul>{permissions}</ul>"
        # Accept comes first, so Enter accepts.
        '<div class="buttons"><button type="submit" class="primary" name="decision" '
        f'value="accept"{"" if users else " disabled"}>Accept</button>'
        '<button type="submit" name="decision" value="cancel">Cancel</button></div></form>'
    )
    return _page(200, "Sign in to the local issuer", body)
