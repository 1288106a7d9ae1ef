"""`error_description` text as the specs allow it, and the JSON refusal that carries it.

RFC 6749 §5.2 and RFC 6750 §3 limit `error_description` to printable ASCII without `"` and `\\`
(%x20-21 / %x23-5B / %x5D-7E), so it can travel in a header or a query string unharmed. The
lab's descriptions cite sections with "§" and draw arrows; this spells them out instead.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse, Response

# How one server refuses a request at a path, before or around its routes (a foreign Origin, a
# body over the cap, a non-canonical Host): (path, status, description) -> its answer, in the
# shape that server's endpoint at that path answers every other refusal with.
Refusal = Callable[[str, int, str], Response]

_SPELLED_OUT = {"§": "section ", "→": "->", "—": "-", "–": "-", '"': "'", "\\": "/", "…": "..."}
MAX_DESCRIPTION_CHARS = 600


def reason(exc: BaseException) -> str:
    """What `exc` says, or its class's name when it says nothing: binascii.Error for an unreadable
    base64url member, and httpx's ReadError for a reset connection, carry no message, and a
    description built around one read "…failed: ." with nothing after it."""
    return str(exc) or type(exc).__name__


def error_description(text: str) -> str:
    for char, replacement in _SPELLED_OUT.items():
        text = text.replace(char, replacement)
    return cut_middle("".join(c if 0x20 <= ord(c) <= 0x7E else "?" for c in text))


def cut_middle(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """Descriptions quote the offending value (a 5 KB client_id, a 1 MB resource, a 6 KB key id
    from a token's header, a path, a Host): the middle is cut out, so the rule cited at the end
    survives and the answer stays small, in a JSON body, a WWW-Authenticate challenge and a
    JSON-RPC error's message alike. `limit` characters at most (a view's own bound)."""
    if len(text) <= limit:
        return text
    return text[: limit - 250] + " [...] " + text[-243:]


def told(value: object) -> str:
    """What another server said (an `error_description`, a JSON-RPC error's message, the body of a
    refusal, the URL it gave), as a reason or a description quotes it: a string whole up to the
    length the lab's own descriptions have (`MAX_DESCRIPTION_CHARS`), cut in the middle past it
    (`cut_middle`), anything else as its repr. A 600 kB JSON-RPC message, or a 640 kB 500 page,
    went whole into a step's error, its card and the stepper's status line. Not escaped: a
    StepError writes control characters as escapes (`trace.printable`), a view escapes markup."""
    return cut_middle(value if isinstance(value, str) else repr(value))


def request_refusal(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """A refusal about the request itself, not its credentials (a path a server lacks, a method
    it does not take): `invalid_request` with the rule as its description, and no challenge,
    since no credentials would change the answer. Every lab server that is not an OAuth AS
    (the MCP server, the downstream API, the client-metadata host) refuses this way."""
    body = {"error": "invalid_request", "error_description": error_description(description)}
    return JSONResponse(body, status, headers=headers)


def refuse_as_invalid_request(_path: str, status: int, description: str) -> Response:
    """`request_refusal` as a `Refusal`: the shape of every lab server that has one for all paths."""
    return request_refusal(status, description)
