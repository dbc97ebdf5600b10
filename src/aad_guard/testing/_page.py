"""The HTML of the local sign-in: the account and consent page, and error pages."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from html import escape
from types import MappingProxyType

import httpx

from ._accounts import LocalUser

__all__ = ["device_code_page", "error_page", "form_post_page", "notice_page", "sign_in_page"]

# Everything echoed is escaped; the policy forbids scripts and framing all the same.
_HEADERS = MappingProxyType(
    {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        # Not no-referrer: a POST from such a page says `Origin: null` (the Fetch standard), and the
        # loopback server trusts the origin of its own pages only.
        "Referrer-Policy": "same-origin",
    }
)
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


def _page(
    status: int, title: str, body: str, headers: Mapping[str, str] = _HEADERS
) -> httpx.Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return httpx.Response(status, html=html, headers=headers)


def error_page(status: int, message: str) -> httpx.Response:
    """An error the user must see: no redirect URI can be trusted with it (RFC 6749 §4.1.2.1)."""
    body = (
        "<h1>Sign-in failed</h1>"
        '<p class="note">aad_guard local issuer: no real account is involved.</p>'
        f"<p>{escape(message)}</p>"
    )
    return _page(status, "Sign-in failed", body)


def notice_page(title: str, message: str) -> httpx.Response:
    """A page that tells the user something went as asked, like a device's sign-in."""
    body = (
        f"<h1>{escape(title)}</h1>"
        '<p class="note">aad_guard local issuer: no real account is involved.</p>'
        f"<p>{escape(message)}</p>"
    )
    return _page(200, title, body)


def device_code_page(*, action: str, message: str | None = None) -> httpx.Response:
    """The page where a user enters the code a device shows (Entra's `devicelogin`)."""
    note = f"<p>{escape(message)}</p>" if message else ""
    body = (
        "<h1>Enter code</h1>"
        '<p class="note">aad_guard local issuer: enter the code shown by the application on '
        "your other device.</p>"
        f'{note}<form method="get" action="{escape(action)}">'
        '<p><input name="user_code" autocomplete="off" autofocus aria-label="Code"></p>'
        '<div class="buttons"><button type="submit" class="primary">Next</button></div></form>'
    )
    return _page(400 if message else 200, "Enter code", body)


def form_post_page(redirect_uri: str, params: Mapping[str, str]) -> httpx.Response:
    """The answer in `response_mode=form_post`: a form that posts itself to the client.

    As Entra's: the parameters in hidden fields, submitted by one inline script (allowed by
    its nonce, and nothing else), with a button for browsers without scripts.
    """
    nonce = secrets.token_urlsafe(16)
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in params.items()
    )
    body = (
        f'<form method="post" name="hiddenform" action="{escape(redirect_uri)}">{fields}'
        "<noscript><p>Script is disabled. Click Submit to continue.</p>"
        '<button type="submit">Submit</button></noscript></form>'
        f'<script nonce="{nonce}">document.forms[0].submit();</script>'
    )
    headers = {
        **_HEADERS,
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
    }
    return _page(200, "Working...", body, headers)


def sign_in_page(
    *,
    action: str,
    csrf_token: str,
    users: Mapping[str, LocalUser],
    client_id: str,
    api: str,
    scopes: Sequence[str],
    selected: str | None = None,
) -> httpx.Response:
    """The page that lets a developer pick a fake account and consent to `scopes` of `api`.

    Args:
        action: The path the form posts to.
        csrf_token: Stands for the checked authorization request; the form posts it back.
        users: The accounts to offer, by form key; the first is selected.
        client_id: The application asking.
        api: The API's Application ID URI.
        scopes: The API's scopes asked for, by short name.
        selected: The form key of the account to select (from `login_hint`). Default: the
            first.
    """
    if selected not in users:
        selected = next(iter(users), None)
    hidden = f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
    accounts = "".join(
        f'<label class="account"><input type="radio" name="user" value="{escape(key)}"'
        f'{" checked" if key == selected else ""}> <span class="who">{escape(user.name)}</span>'
        f' <span class="meta">{escape(user.username)}</span><br>'
        f'<span class="meta">{escape(user.label)} · tenant <code>{escape(user.tenant_id or "")}'
        f"</code>{' · roles ' + escape(', '.join(user.roles)) if user.roles else ''}</span>"
        "</label>"
        for key, user in users.items()
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
