"""`show_consent(page)`: the consent page exactly as the AS rendered it, plus its text.

The page is the AS's HTML, which embeds strings the client chose (its name, its URLs). It is shown
in an iframe with `sandbox=""` and `srcdoc`: no scripts, no form submission, no same-origin access,
so whatever a hostile client put in its metadata cannot touch the notebook. The text summary
beside it is what a screen reader (and nbval's text/plain) sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from ..arguments import wrong_type
from ._html import PAPER, HtmlView, esc, shorten

BLOCKS = {"h1", "h2", "h3", "p", "li", "dt", "div", "form", "ul", "dl", "tr", "br"}
# Elements whose text a browser does not show in the page. Not <head>: its end tag may be left
# out (HTML §13.1.2.4), and a stranger AS's page that did so read as empty here while the user
# saw its every word; the head's only text is in <title>, <style> and <script>.
SKIP = {"style", "script", "title"}


class _TextParser(HTMLParser):
    """Visible text, one block per line; `dt`/`dd` pairs joined as `term: value`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self._skip += 1
        elif tag in BLOCKS:
            self.lines.append("")
        elif tag == "dd":
            self.lines[-1] += ": "
        elif tag == "button":
            self.lines[-1] += " ["

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "button":
            self.lines[-1] += "]"

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.lines[-1] += data

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in self.lines)
        return "\n".join(line for line in lines if line)


def page_text(html: str) -> str:
    """The page's text as html.parser reads it. `close()` reads what `feed` held back, a last
    character reference (`Tom &amp`), but only when no unclosed tag is among it: CPython 3.11's
    `close()` scans each unclosed `<x` to the end again, and a 65 KB page of them took 5.8 s
    (CVE-2025-6069). CPython's `_markupbase` raises AssertionError on a marked section it cannot
    name (`<![ x]>`): the text read up to it is shown, and said to stop there."""
    parser = _TextParser()
    try:
        parser.feed(html)
        if "<" not in parser.rawdata:
            parser.close()
    except AssertionError:
        parser.lines.append("(the rest of the page is not HTML the lab can read as text)")
    return parser.text()


# The page is a stranger's when the AS is (the attacker's in a mix-up, an outside AS in served mode).
# The empty sandbox stops its scripts and forms; this policy stops its requests, so that showing it
# makes the learner's browser fetch nothing: no tracking pixel, no stylesheet from the attacker.
_NO_REQUESTS = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)


def _requesting_nothing(page: str) -> str:
    """`page` with the policy ahead of all its markup, where the parser puts it in the head (HTML
    §4.2.5.3 honours it only there): after the doctype, which keeps the page in standards mode."""
    doctype = _DOCTYPE.match(page)
    at = doctype.end() if doctype else 0
    return page[:at] + _NO_REQUESTS + page[at:]


@dataclass(eq=False, repr=False)
class ConsentView(HtmlView):
    page_html: str
    url: str | None = None
    height: int = 480

    @property
    def text(self) -> str:
        return page_text(self.page_html)

    def _body(self) -> str:
        where = f' <span class="spec">{esc(self.url.split("?", 1)[0])}</span>' if self.url else ""
        return (
            f"<h4>The consent page, as the AS rendered it{where}</h4>"
            '<div class="cols"><div class="col">'
            f'<iframe sandbox="" srcdoc="{esc(_requesting_nothing(self.page_html))}" title="consent page" '
            f'style="width:100%;height:{self.height}px;border:1px solid #d0d7de;border-radius:6px;background:{PAPER}"></iframe>'
            '</div><div class="col"><b>What the user reads</b>'
            f"<pre>{esc(self.text)}</pre></div></div>"
        )

    def _summary(self) -> str:
        lines = self.text.splitlines()
        return " | ".join(shorten(line, 70) for line in lines[:3])


def show_consent(page: Any) -> ConsentView:
    """Pass `client.state.consent_page` (or any object with `.html`), or the HTML string."""
    if page is None:
        raise ValueError(
            "show_consent(None): there is no consent page yet; run step 5 first (await client.authorize())"
        )
    if isinstance(page, str):
        return ConsentView(page)
    if not isinstance(getattr(page, "html", None), str):
        raise wrong_type("show_consent takes client.state.consent_page (or the page's HTML, a string)", page)
    return ConsentView(page.html, getattr(page, "url", None))
