"""`show_as_state(lab)`: what the authorization server keeps, DCR's records against CIMD's cache.

The contrast is the point of the lab: every DCR client leaves a record the AS must keep (and
clean up), while a CIMD client leaves only a cached copy of a document its owner hosts, which
expires and can be fetched again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arguments import wrong_type
from ._html import HtmlView, as_text, esc, iso, table


def _registration_rows(lab: Any) -> list[list[str]]:
    rows = []
    for client_id, client in lab.registrations.items():
        issued = client.client_id_issued_at
        rows.append([
            f'<td class="v">{esc(client_id)}</td>',
            f"<td>{esc(client.kind)}</td>",
            f"<td>{esc(client.client_name or '')}</td>",
            f'<td class="v">{esc(as_text(client.redirect_uris))}</td>',
            f"<td>{esc(iso(issued)) if issued else '—'}</td>",
            f"<td>{'yes' if client.client_secret else 'no'}</td>",
        ])  # fmt: skip
    return rows


def _cache_rows(lab: Any) -> list[list[str]]:
    now = lab.clock.now()
    rows = []
    for url, cached in lab.cimd_cache.items():
        left = cached.expires_at - now
        status = f"fresh for {left} s" if left > 0 else f"expired {-left} s ago"
        rows.append([
            f'<td class="v">{esc(url)}</td>',
            f"<td>{esc(cached.document.get('client_name', ''))}</td>",
            f"<td>{esc(iso(cached.fetched_at))}</td>",
            f"<td>{esc(iso(cached.expires_at))} ({esc(status)})</td>",
            f"<td>{cached.hits}</td>",
        ])  # fmt: skip
    return rows


@dataclass(eq=False, repr=False)
class ASStateView(HtmlView):
    registrations: list[list[str]]
    cache: list[list[str]]
    issued_tokens: int
    now: str

    def _body(self) -> str:
        records = (
            table(["client_id", "kind", "client_name", "redirect_uris", "issued at", "secret"], self.registrations)
            if self.registrations
            else '<p class="dim">No records.</p>'
        )
        cache = (
            table(["client_id (document URL)", "client_name", "fetched", "expires", "hits"], self.cache)
            if self.cache
            else '<p class="dim">Nothing cached.</p>'
        )
        return (
            f'<h4>What the authorization server keeps <span class="spec">at {esc(self.now)}; '
            f"{self.issued_tokens} access token(s) issued</span></h4>"
            '<div class="cols">'
            f'<div class="col"><b>Registrations</b> — records the AS must keep (RFC 7591){records}</div>'
            f'<div class="col"><b>CIMD cache</b> — copies it may drop and refetch (CIMD §5){cache}</div>'
            "</div>"
        )

    def _summary(self) -> str:
        return f"{len(self.registrations)} registration(s), {len(self.cache)} cached document(s), {self.issued_tokens} token(s) issued"


def show_as_state(lab: Any) -> ASStateView:
    """Registration records next to cached CIMD documents, as of the lab clock's now."""
    if not callable(getattr(lab, "as_state", None)):
        raise wrong_type("show_as_state takes the lab itself: show_as_state(lab)", lab)
    issued = lab.as_state().get("issued_tokens", 0)
    return ASStateView(_registration_rows(lab), _cache_rows(lab), issued, lab.clock.isoformat())
