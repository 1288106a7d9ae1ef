"""`compare_identities(a, b)`: two connections to the same MCP server, side by side: the same
user and audience, two different client identities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arguments import wrong_type
from ..client.state import decode_jwt_payload
from ..trace import printable
from ._html import HtmlView, as_text, cut_tokens_html, esc, lifetime, table

# (row label, where to read it): "whoami.<key>" from the MCP server's answer, "token.<claim>"
# from the decoded access token, "record.<key>" from the step-4 record.
ROWS = [
    ("client_id (as the MCP server sees it)", "whoami.client_id"),
    ("how the id was obtained", "record.method"),
    ("identified by", "whoami.identified_by.method"),
    ("user (sub)", "whoami.sub"),
    ("audience (aud)", "whoami.aud"),
    ("issuer (iss)", "whoami.iss"),
    ("scope", "whoami.scope"),
    ("token client_id claim", "token.client_id"),
    ("token lifetime (exp − iat)", "token.lifetime"),
]


def _lookup(connection: Any, where: str) -> Any:
    source, _, path = where.partition(".")
    if source == "whoami":
        value: Any = connection.whoami
    elif source == "token":
        claims: dict[str, Any] = (
            decode_jwt_payload(connection.access_token) if connection.access_token else None
        ) or {}
        if path == "lifetime":
            seconds = lifetime(claims)
            return None if seconds is None else f"{seconds} s"
        value = claims
    else:
        value = next((r.learned for r in connection.records if r.number == 4), {})
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


@dataclass(eq=False, repr=False)
class IdentityComparison(HtmlView):
    labels: tuple[str, str]
    rows: list[tuple[str, Any, Any]]

    def _body(self) -> str:
        html_rows, classes = [], []
        for name, a, b in self.rows:
            same = a == b
            classes.append("" if same else "diff")
            html_rows.append([
                f"<td>{esc(name)}</td>",
                f'<td class="v">{cut_tokens_html(as_text(a))}</td>',
                f'<td class="v">{cut_tokens_html(as_text(b))}</td>',
                f"<td>{'same' if same else '<b>different</b>'}</td>",
            ])  # fmt: skip
        return "<h4>Same server, two identities</h4>" + table(["", *self.labels, ""], html_rows, row_classes=classes)

    def _summary(self) -> str:
        differ = [name for name, a, b in self.rows if a != b]
        return f"{self.labels[0]} vs {self.labels[1]}: {len(differ)} of {len(self.rows)} rows differ"

    def __str__(self) -> str:
        """A plain-text table (what `print(...)` shows)."""
        width = max(len(name) for name, _, _ in self.rows)
        col = max(len(self.labels[0]), *(len(as_text(a)) for _, a, _ in self.rows))
        lines = [f"{'':<{width}}  {self.labels[0]:<{col}}  {self.labels[1]}"]
        lines += [f"{name:<{width}}  {as_text(a):<{col}}  {as_text(b)}" for name, a, b in self.rows]
        # Printed to a terminal or a notebook's stream: what a hostile MCP server answered in whoami
        # cannot send escape codes or bidi overrides (UAX #9) through it, as in every view's repr.
        return "\n".join(printable(line) for line in lines)


def compare_identities(conn_a: Any, conn_b: Any, labels: tuple[str, str] = ("DCR", "CIMD")) -> IdentityComparison:
    """Compare two connections (from `lab.connect`): whoami, token claims, how the id was got."""
    for connection in (conn_a, conn_b):
        if not all(hasattr(connection, name) for name in ("whoami", "access_token", "records")):
            raise wrong_type(
                "compare_identities takes two connections, what `await lab.connect(…)` returns", connection
            )
    if not (isinstance(labels, tuple | list) and len(labels) == 2 and all(isinstance(x, str) for x in labels)):
        raise wrong_type("compare_identities(labels=…) takes two column titles, such as ('DCR', 'CIMD')", labels)
    rows = [(name, _lookup(conn_a, where), _lookup(conn_b, where)) for name, where in ROWS]
    return IdentityComparison((labels[0], labels[1]), rows)
