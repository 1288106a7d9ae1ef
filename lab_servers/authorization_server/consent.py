"""The consent page: what the user sees before approving, and the only place where the user can
spot an impostor. CIMD -02 §8.5 and MCP §11.6.2: show the client_id's hostname and the redirect
URI's hostname; a DCR client's name is whatever it typed at registration, so say it is unverified."""

from __future__ import annotations

from html import escape

from ..loopback import reaches_this_machine
from ..rfc3986 import readable_hostname
from .clients import Client
from .metadata_limits import displayable_text

# The page states its background with its text colour, and says it is a light page
# (`color-scheme`), so a browser in dark mode never puts this dark text on its own dark canvas.
_STYLE = """
:root{color-scheme:light}
body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;color:#1f2328;background:#fff}
.card{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem}
h1{font-size:1.25rem;margin:0 0 .5rem}
.who{font-size:1.05rem}
.host{font-family:ui-monospace,monospace;background:#ddf4ff;padding:0 .3rem;border-radius:4px}
.unverified{background:#fff8c5;padding:0 .3rem;border-radius:4px}
.warn{background:#fff1e5;border-left:4px solid #bc4c00;padding:.4rem .6rem;margin:.6rem 0}
dl{display:grid;grid-template-columns:9rem 1fr;gap:.25rem .75rem}
dt{color:#59636e} dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.6rem;border-radius:6px;border:1px solid #d0d7de}
button[value=approve]{background:#1f883d;color:#fff}
"""


def identity_lines(client: Client) -> tuple[str, str]:
    """(who is asking, how the AS knows it), as plain text for the page and for views."""
    # Bidi overrides and invisible characters are removed (an RLO, U+202E, could mirror the
    # "(unverified name)" next to the name); the page also isolates the name in <bdi>.
    name = displayable_text(client.client_name or "") or displayable_text(client.client_id)
    if client.kind == "cimd":
        return name, f"verified origin: the client_id is a document hosted at {client.hostname}"
    if client.kind == "dcr":
        return name, "unverified: this name was self-declared when the client registered itself (RFC 7591)"
    return name, "pre-registered by the administrator of this authorization server"


def localhost_only(client: Client) -> bool:
    """Every redirect URI lands on the user's own machine, however its host is spelled: not only
    localhost, 127.0.0.1 and ::1, but 127.0.0.2, [0:0::1], localhost. or app.localhost too."""
    hosts = [readable_hostname(uri) for uri in client.redirect_uris]
    return bool(hosts) and all(host is not None and reaches_this_machine(host) for host in hosts)


def render_consent_page(
    client: Client,
    *,
    txn: str,
    redirect_uri: str,
    scope: str,
    resource: str,
    action: str,
    user: str,
    show_hostnames: bool = True,
) -> str:
    """`show_hostnames=False` is the naive page many servers show: the self-declared name and the
    permissions, nothing that would let the user tell an impostor from the real client."""
    name, provenance = identity_lines(client)
    redirect_uri = displayable_text(redirect_uri)
    redirect_host = readable_hostname(redirect_uri) or redirect_uri
    if not show_hostnames:
        who = f"“<bdi>{escape(name)}</bdi>”"
    elif client.kind == "cimd":
        who = f'<span class="host">{escape(client.hostname or "")}</span> — “<bdi>{escape(name)}</bdi>”'
    elif client.kind == "dcr":
        who = f'<span class="unverified">“<bdi>{escape(name)}</bdi>” (unverified name)</span>'
    else:
        who = f"“<bdi>{escape(name)}</bdi>”"
    warnings = []
    if show_hostnames and client.kind == "cimd" and localhost_only(client):
        warnings.append(
            "This client only redirects to localhost: any program on a user's machine can claim this "
            "client_id and receive the code (MCP §11.6.2)."
        )
    if show_hostnames and client.kind == "dcr":
        warnings.append("Anyone can register any name. Only approve if you started this connection yourself.")
    scope_items = "".join(f"<li><code>{escape(s)}</code></li>" for s in scope.split())
    warning_html = "".join(f'<p class="warn" data-field="warning">⚠ {escape(w)}</p>' for w in warnings)
    provenance_html = f'<p data-field="provenance">{escape(provenance)}.</p>' if show_hostnames else ""
    identity_html = (
        f'<dt>client_id</dt><dd data-field="client_id">{escape(displayable_text(client.client_id))}</dd>\n'
        f'<dt>sends you back to</dt><dd data-field="redirect_host"><span class="host">{escape(redirect_host)}</span> ({escape(redirect_uri)})</dd>\n'
        if show_hostnames
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {escape(name)}</title><style>{_STYLE}</style></head>
<body><div class="card">
<h1>Allow access to your account?</h1>
<p class="who" data-field="who">{who} wants to act on your behalf, <b>{escape(user)}</b>.</p>
{provenance_html}
{warning_html}
<dl>
{identity_html}<dt>resource</dt><dd data-field="resource">{escape(resource)}</dd>
</dl>
<p>Permissions requested:</p><ul>{scope_items}</ul>
<form method="post" action="{escape(action)}">
<input type="hidden" name="txn" value="{escape(txn)}">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</div></body></html>
"""


def render_error_page(error: str, description: str, *, way_back: str | None = None) -> str:
    """OAuth 2.1 §4.1.2.1: when client_id or redirect_uri is bad, tell the user, never redirect.
    With `way_back` (the error's redirect to a client whose redirect URI the AS does not trust,
    RFC 9700 §4.11.2), the user is told where it leads, and may follow it."""
    back = ""
    if way_back is not None:
        way_back = displayable_text(way_back)
        host = readable_hostname(way_back) or way_back
        back = (
            f'<p class="warn">The application asked to be sent this error at <span class="host">{escape(host)}</span>, '
            "an address this server did not register itself and does not vouch for.</p>\n"
            f'<p><a data-field="way_back" href="{escape(way_back)}" rel="noreferrer">Return to {escape(host)}</a></p>\n'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization error</title><style>{_STYLE}</style></head>
<body><div class="card"><h1>This authorization request cannot continue</h1>
<p><code data-field="error">{escape(error)}</code></p><p data-field="error_description">{escape(description)}</p>
{back}</div></body></html>
"""
