"""Shared pieces of every HTML view: escaping, shortening, one compact stylesheet, a base class.

Views are compared byte for byte by nbval, so nothing here may depend on memory addresses,
dict ordering we do not control, the clock, or randomness. Every string that came off the wire is
escaped exactly once, at the point where it becomes HTML.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeGuard
from urllib.parse import SplitResult, urlsplit

from ..trace import printable

# Styles are inlined on each element rather than kept in a <style> block: JupyterLab shows the
# stored outputs of an untrusted notebook (one just opened from Git or on Binder) through its
# sanitizer, which drops <style> elements but keeps style attributes; static viewers do the same.
# Nothing external is referenced.
MONO = "font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"
# Every view is a card on its own paper. The colours below were chosen for a light page, and an
# output's own background is the page's: in JupyterLab's dark theme, dark text and pale highlights
# would land on near-black. So the root paints a light background under dark text, and the elements
# JupyterLab's stylesheet colours by theme inside HTML outputs (a table's text, its striped rows,
# <code>, <mark>) say their colours too, as values: the sanitizer drops `inherit`, custom properties
# and `color-scheme`. The SVG drawings paint the same paper (svg.py, the sprawl chart).
PAPER = "#ffffff"
# Painted first inside an SVG drawing, under everything it draws.
PAPER_UNDER_DRAWING = f'<rect width="100%" height="100%" fill="{PAPER}"/>'
INK = "#1f2328"
# Text that steps back (headers every request carries, a step's spec sections, steps still to come)
# still reads at 4.5:1 (WCAG 1.4.3) on the paper and on every pale band or highlight it sits on.
MUTED = "#656d76"
ROOT_STYLE = (
    "font:13px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    f"background:{PAPER};color:{INK};border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;max-width:100%"
)
TAG_STYLES = {
    "h4": "margin:.2em 0 .4em;font-size:14px;font-weight:600",
    "pre": f"{MONO};background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:6px 8px;margin:.3em 0;"
    f"white-space:pre-wrap;word-break:break-all;max-height:32em;overflow:auto;color:{INK}",
    "code": f"{MONO};color:{INK};background:#eff1f3",
    "table": f"border-collapse:collapse;margin:.3em 0;color:{INK}",
    "tr": "background:transparent",
    "th": "border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top;background:#f6f8fa;font-weight:600",
    "td": "border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top",
    "mark": f"border-radius:3px;padding:0 2px;color:{INK}",
    "summary": "cursor:pointer",
}
CLASS_STYLES = {
    "spec": "color:#59636e;font-size:12px;font-weight:400",
    "v": f"{MONO};word-break:break-all",
    "diff": "background:#fff8c5",
    "err": "background:#ffebe9;border-left:4px solid #cf222e;padding:4px 8px;margin:.3em 0",
    "dim": f"color:{MUTED}",
    "cut": "color:#6639ba;font-style:italic",  # 4.5:1 inside the highlight of a token it cuts
    "hdr": "background:#fff8c5",
    "id": "background:#ddf4ff",
    "pkce": "background:#fbefff",
    "res": "background:#dafbe1",
    "tok": "background:#ffebe9",
    "cols": "display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start",
    "col": "flex:1 1 320px;min-width:0",
}
# Only tags the views themselves write, bare or with a single class attribute (and a header cell's
# scope): text from the wire is escaped before it gets here, so it cannot contain a `<` to match.
_STYLED_TAG = re.compile(r'<(\w+)(?: class="([\w ]+)")?( scope="(?:col|row)")?>')


def inline_styles(html: str) -> str:
    def style(match: re.Match[str]) -> str:
        tag, classes = match.group(1), (match.group(2) or "").split()
        rules = [TAG_STYLES[tag]] if tag in TAG_STYLES else []
        rules += [CLASS_STYLES[c] for c in classes if c in CLASS_STYLES]
        # The class stays: tests and anyone restyling the views can still find the element.
        cls = f' class="{match.group(2)}"' if match.group(2) else ""
        scope = match.group(3) or ""
        return f'<{tag}{cls}{scope} style="{";".join(rules)}">' if rules else match.group(0)

    return _STYLED_TAG.sub(style, html)


LONG_TOKEN = 64  # runs of token characters at least this long are shortened on display


# Unicode's explicit bidi formatting characters (UAX #9 §2). In a stranger's path or header, an
# RLO (U+202E) makes "/mcp/\u202egpj.exe" read as "/mcp/exe.jpg": each is shown as its escape,
# as the terminal log does (`Exchange.summary`). Other invisible characters (a zero-width joiner
# in an emoji) are left alone.
_VISIBLE_BIDI = {
    ord(c): f"\\u{ord(c):04x}" for c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
}


def visible_bidi(text: str) -> str:
    return text.translate(_VISIBLE_BIDI)


def esc(value: object) -> str:
    """HTML-escape anything (quotes too, so the result is safe inside attributes), bidi controls shown."""
    return html.escape(visible_bidi(str(value)), quote=True)


def url_parts(url: str) -> SplitResult:
    """`urlsplit(url)`, or, for a URL it cannot read, the whole text as its path: a view shows what
    was recorded and never fails on it. A stranger's Host of `[` (served: the trace keeps it) or a
    Location of `http://[x/cb` made urlsplit raise "Invalid IPv6 URL", and the whole trace's
    diagram with it."""
    try:
        return urlsplit(url)
    except ValueError:
        return SplitResult("", "", url, "", "")


def shorten(text: str, limit: int = 60) -> str:
    """A one-line preview: `limit` characters at most, the cut marked with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TOKENISH = re.compile(
    r"[A-Za-z0-9_\-]{%d,}(?:\.[A-Za-z0-9_\-]+){0,2}|eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"  # noqa: UP031 - % keeps the regex's own {m,n} braces unescaped
    % LONG_TOKEN
)


def long_tokens(text: str) -> list[tuple[int, int]]:
    """Spans of JWTs and other long opaque strings, which would drown the fields around them."""
    return [m.span() for m in _TOKENISH.finditer(text) if m.end() - m.start() >= LONG_TOKEN]


def short_token(token: str) -> str:
    """`eyJhbGciOiJFUzI1…[+412]…Q0xw`: keep both ends so two tokens can still be told apart."""
    if len(token) < LONG_TOKEN:
        return token
    return f"{token[:16]}…[+{len(token) - 20}]…{token[-4:]}"


def cut_tokens_html(text: str) -> str:
    """Escape `text`, showing long tokens shortened (and marked as cut)."""
    out, last = [], 0
    for start, end in long_tokens(text):
        out.append(esc(text[last:start]))
        out.append(f'<span class="cut">{esc(short_token(text[start:end]))}</span>')
        last = end
    out.append(esc(text[last:]))
    return "".join(out)


def iso(epoch: int | float) -> str:
    try:
        return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a hostile token's iat of 10**20: no calendar date
        return "beyond the calendar"


def is_numeric_date(value: Any) -> TypeGuard[int]:
    """RFC 7519 §2 NumericDate as views show it: a JSON number (not `true`), here whole seconds."""
    return isinstance(value, int) and not isinstance(value, bool)


def lifetime(claims: dict[str, Any]) -> int | None:
    """exp − iat in seconds, when both are NumericDates (a token the lab did not mint may say "soon")."""
    exp, iat = claims.get("exp"), claims.get("iat")
    return exp - iat if is_numeric_date(exp) and is_numeric_date(iat) else None


def as_text(value: Any) -> str:
    """A value as a learner would read it: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


def table(headers: list[str], rows: list[list[str]], *, row_classes: list[str] | None = None) -> str:
    """An HTML table; `rows` hold HTML that the caller has already escaped."""
    # WCAG 1.3.1: each header cell says it heads its column, for a screen reader reading a cell.
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# WCAG 4.1.3: a card whose text changes as the learner acts (the stepper's status line) is a
# status message, read out politely without moving focus. role="status" implies aria-live="polite";
# both are said, for screen readers that only know the attribute.
LIVE = ' role="status" aria-live="polite"'


def wrap(body: str, *, live: bool = False) -> str:
    """The card: the outermost element of every view, with every element's style inlined."""
    return f'<div{LIVE if live else ""} style="{ROOT_STYLE}">{inline_styles(body)}</div>'


def drawing_name(label: str) -> tuple[str, str]:
    """What makes an inline <svg> one image with a name (WCAG 1.1.1, 4.1.2): attributes for its
    tag, role="img" (its <text> is not read piece by piece) and aria-label, and a <title> to put
    first inside it, the tooltip, for readers that skip aria-label on SVG."""
    return f' role="img" aria-label="{esc(label)}"', f"<title>{esc(label)}</title>"


class HtmlView:
    """Base of the views: `_repr_html_` for notebooks, a short `__repr__` for text/plain (which
    nbval compares too), `.html` for embedding, `save_html` for static pages."""

    def _body(self) -> str:  # pragma: no cover - every view overrides it
        raise NotImplementedError

    def _summary(self) -> str:  # pragma: no cover
        raise NotImplementedError

    @cached_property
    def html(self) -> str:
        return wrap(self._body())

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        # What a terminal prints (`print(view)`, a REPL): a stranger's path, client_name or claim
        # cannot send it escape codes or bidi overrides, as `Exchange.summary` cannot.
        return printable(f"<{type(self).__name__}: {self._summary()}>")

    def save_html(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f'<!doctype html><meta charset="utf-8">{self.html}\n')
