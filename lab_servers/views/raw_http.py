"""`show_exchange(exchange)`: one request and its response as raw HTTP/1.1 text, with the fields
the handshake turns on highlighted.

The text is the exchange as recorded, with three liberties taken for readability, each visible:
JSON bodies are pretty-printed, long tokens are cut in the middle (marked, with the count of
characters left out), and very long bodies and header values are truncated with a note saying how
much is missing.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from http import HTTPStatus

from ..arguments import wrong_type
from ..trace import Exchange, recorded_json
from ._html import HtmlView, cut_tokens_html, esc, shorten

BODY_LIMIT = 1600  # characters shown of a body; a consent page is ~2 kB and has its own view
SUMMARY_LIMIT = 200  # characters of each part of the one-line summary (the path, the host, …)

# Header names to highlight, and the class (colour) they get.
HEADERS = {"www-authenticate": "hdr", "location": "hdr", "authorization": "tok", "mcp-protocol-version": "hdr"}
# Parameters (in query strings, forms and JSON) to highlight, by what they are about.
FIELDS = {
    "client_id": "id",
    "client_name": "id",
    "redirect_uri": "id",
    "redirect_uris": "id",
    "code_challenge": "pkce",
    "code_challenge_method": "pkce",
    "code_verifier": "pkce",
    "state": "pkce",
    "resource": "res",
    "resource_metadata": "res",
    "scope": "res",
    "iss": "res",
    "issuer": "res",
    "access_token": "tok",
    "refresh_token": "tok",
    "code": "tok",
    "error": "tok",
}
# Headers that every httpx request carries, or every server answer (the `Date` the server adds,
# RFC 9110 §6.6.1), and that say nothing about OAuth: shown dimmed.
DIM_HEADERS = {"accept-encoding", "connection", "user-agent", "content-length", "date"}


@functools.lru_cache(maxsize=32)
def _field_pattern(extra: tuple[str, ...] = ()) -> re.Pattern[str]:
    names = "|".join(re.escape(n) for n in sorted({*FIELDS, *extra}, key=lambda n: (-len(n), n)))
    # key=value in a query string or form; "key": value in JSON; key="value" in WWW-Authenticate.
    # A quoted string or a bracket left open runs to the end of the text: a scan that failed there
    # fell back to the next alternative and the search began again one field on, so a header of
    # `"code":[` repeated rescanned the rest of it at each one (a 0.88 MB header took 102 s).
    # Matched to the end instead, each character is scanned once (headers are shown whole).
    return re.compile(
        rf'(?<![\w%])(?P<q>{names})=(?P<qv>"[^"]*"?|[^&\s",]*)'
        rf'|"(?P<j>{names})"\s*:\s*(?P<jv>"(?:[^"\\]|\\.)*"?|\[[^\]]*\]?|[^,}}\n]*)'
    )


def highlight(text: str, extra: tuple[str, ...] = ()) -> str:
    """Escape `text`, wrapping highlighted fields in <mark> and cutting long tokens."""
    out, last = [], 0
    for match in _field_pattern(extra).finditer(text):
        name = match.group("q") or match.group("j")
        out.append(cut_tokens_html(text[last : match.start()]))
        out.append(f'<mark class="{FIELDS.get(name, "hdr")}">{cut_tokens_html(match.group(0))}</mark>')
        last = match.end()
    out.append(cut_tokens_html(text[last:]))
    return "".join(out)


def _header_lines(headers: tuple[tuple[str, str], ...], extra: tuple[str, ...] = ()) -> list[str]:
    lines = []
    wanted = {**HEADERS, **{n.lower(): "hdr" for n in extra}}
    for whole_name, whole in headers:
        # A name is cut as the summary's parts are: a trace file (someone else's) may hold 500 kB of one.
        name, lower = shorten(whole_name, SUMMARY_LIMIT), whole_name.lower()
        # A value is cut as a body is: a challenge of 230 kB (a server's) made the step card 800 kB.
        value, cut = whole[:BODY_LIMIT], _not_shown(len(whole) - BODY_LIMIT) if len(whole) > BODY_LIMIT else ""
        if lower in wanted:
            lines.append(f'<mark class="{wanted[lower]}">{esc(name)}:</mark> {highlight(value, extra)}{cut}')
        elif lower in DIM_HEADERS:
            lines.append(f'<span class="dim">{esc(name)}: {esc(value)}</span>{cut}')
        else:
            lines.append(f"{esc(name)}: {highlight(value, extra)}{cut}")
    return lines


def _not_shown(rest: int) -> str:
    return f' <span class="cut">… {rest} more characters not shown</span>'


def pretty_body(body: str) -> str:
    """JSON bodies indented (the AS's compact JSON is hard to read); others as sent, and so is JSON
    that written again would not be what was sent: only the indentation may change. Parsed and
    written again, a duplicate member lost all but its last value (a second `iss`, the very thing
    a security lab shows), an escape became its character (`\\u200b` an invisible one), and `1e2`
    became `100.0`."""
    if body[:1] in "{[" and (value := recorded_json(body)) is not None:
        for ascii_only in (False, True):
            for separators in ((",", ":"), (", ", ": ")):
                if json.dumps(value, ensure_ascii=ascii_only, separators=separators) == body:
                    return json.dumps(value, indent=2, ensure_ascii=ascii_only)
    return body


def _body_html(body: str, extra: tuple[str, ...] = ()) -> str:
    body = pretty_body(body)
    if len(body) <= BODY_LIMIT:
        return highlight(body, extra)
    rest = len(body) - BODY_LIMIT
    return highlight(body[:BODY_LIMIT], extra) + f'\n<span class="cut">… {rest} more characters not shown</span>'


def status_line(status: int | None, error: str | None) -> str:
    if status is None:
        return f"(no response: {error or 'unknown error'})"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {int(status)} {phrase}".rstrip()


@dataclass(eq=False, repr=False)
class RawHTTP(HtmlView):
    exchange: Exchange
    highlight: tuple[str, ...] = ()

    def request_html(self) -> str:
        e = self.exchange
        method = shorten(e.method, SUMMARY_LIMIT)
        lines = [f"<b>{esc(method)}</b> {self._target()} HTTP/1.1", *_header_lines(e.request_headers, self.highlight)]
        text = "\n".join(lines)
        if e.request_body:
            text += "\n\n" + _body_html(e.request_body, self.highlight)
        return text

    def _target(self) -> str:
        # Cut as a header value is: a step-up's 47 kB scope made a 47 kB authorization URL, shown whole.
        whole = self.exchange.path
        target, cut = whole[:BODY_LIMIT], _not_shown(len(whole) - BODY_LIMIT) if len(whole) > BODY_LIMIT else ""
        path, sep, query = target.partition("?")
        if not sep:
            return esc(path) + cut
        # One parameter per visual chunk: a 400-character authorization URL stays readable.
        return esc(path) + "?" + "&amp;".join(highlight(p, self.highlight) for p in query.split("&")) + cut

    def response_html(self) -> str:
        e = self.exchange
        if e.status is None:
            return f'<span class="err">{esc(status_line(None, shorten(e.error or "", BODY_LIMIT) or None))}</span>'
        lines = [f"<b>{esc(status_line(e.status, e.error))}</b>", *_header_lines(e.response_headers, self.highlight)]
        text = "\n".join(lines)
        if e.response_body:
            text += "\n\n" + _body_html(e.response_body, self.highlight)
        return text

    def _body(self) -> str:
        e = self.exchange
        caller, host = shorten(e.caller, SUMMARY_LIMIT), shorten(e.host, SUMMARY_LIMIT)
        who = f"#{e.seq} {esc(caller)} → {esc(host)}" + (
            f' <span class="spec">step: {esc(shorten(e.step, SUMMARY_LIMIT))}</span>' if e.step else ""
        )
        return f"<h4>{who}</h4><pre>{self.request_html()}</pre><pre>{self.response_html()}</pre>"

    def _summary(self) -> str:
        e = self.exchange
        # "?…" for the query the request line has: a "?" in the fragment, which is not sent, is none.
        path, sep, _ = e.path.partition("?")
        target = shorten(path, SUMMARY_LIMIT) + ("?…" if sep else "")
        # The text/plain a notebook stores beside the HTML: bounded as the HTML is, a 500 kB path
        # made it 500 kB. The caller, host and error are a stranger's words in served mode.
        outcome = shorten(e.error or "", SUMMARY_LIMIT) if e.status is None else int(e.status)
        caller, host = shorten(e.caller, SUMMARY_LIMIT), shorten(e.host, SUMMARY_LIMIT)
        return f"#{e.seq} {caller} → {host}: {shorten(e.method, SUMMARY_LIMIT)} {target} → {outcome}"


def show_exchange(exchange: Exchange, *, highlight: str | list[str] | tuple[str, ...] | None = None) -> RawHTTP:
    """Raw request and response; WWW-Authenticate, client_id, code_challenge, resource, Location,
    tokens, iss and state are always highlighted, and `highlight=` adds more field names."""
    if not isinstance(exchange, Exchange):
        raise wrong_type(
            "show_exchange takes one exchange, such as step.exchanges[0] or lab.trace.exchanges[-1]", exchange
        )
    if not isinstance(highlight, str | list | tuple | None) or not all(isinstance(n, str) for n in highlight or ()):
        raise wrong_type(
            "show_exchange(highlight=…) takes a field name or a list of them, such as ['client_id']", highlight
        )
    extra = (highlight,) if isinstance(highlight, str) else tuple(highlight or ())
    return RawHTTP(exchange, extra)
