"""What HTTP/1.1 over a socket (uvicorn with h11, as `serve` runs the lab) can carry, for the
lab network to carry the same in process, or fail the same way: fields h11 will write (RFC 9110
§5.1, §5.5), framing by Content-Length (RFC 9112 §6.2), bodies some answers never have (RFC 9110
§6.4.1), and uvicorn's own 500. See tests/test_network_vs_socket.py for each case side by side."""

from __future__ import annotations

import re

from ..rfc9110 import TOKEN

# uvicorn's answer to an app that fails, or returns, before it answers (and to a request still
# unanswered when it shuts down): the same fields and body in process.
INTERNAL_ERROR = (500, (("content-type", "text/plain; charset=utf-8"), ("connection", "close")))
INTERNAL_ERROR_BODY = b"Internal Server Error"
# A field h11 writes (RFC 9110 §5.1, §5.5): a token for a name; a value with no whitespace at
# either end and no CR, LF or NUL, obs-text allowed. h11 refuses to write any other, and uvicorn
# closes the connection with no response; so does the lab (the app's answer is not sent).
_FIELD_NAME = re.compile(TOKEN)
_FIELD_VALUE = re.compile(r"(?:[^\x00\t\n\x0b\x0c\r ]+(?:[ \t]+[^\x00\t\n\x0b\x0c\r ]+)*)?")
# h11 writes a Content-Length of at most 20 digits (its CONTENT_LENGTH_MAX_DIGITS, "1 billion TB"):
# RFC 9110 §8.6 asks a recipient to anticipate large numbers and bound them. A longer one is no
# length it will frame, and CPython's int() refuses a string of more than 4,300 digits outright.
CONTENT_LENGTH_MAX_DIGITS = 20
# RFC 9110 §6.4.1: no content in a 204 (§15.3.5) or a 304 (§15.4.5), nor in any answer to HEAD.
NO_CONTENT = (204, 304)


class ServerDisconnected(ConnectionError):
    """The server closed the connection mid-exchange, as uvicorn does (with h11) when the app
    breaks HTTP/1.1's framing: an answer it cannot write (a status outside 200-599, a
    Content-Length that is no number), a body longer or shorter than its Content-Length, an app
    that fails or returns once its body has begun. A client over a socket sees the connection
    end before the response, or its body, is complete; in process it sees this, at that point."""


def is_field(name: str, value: str) -> bool:
    """Whether h11 writes this field (`_FIELD_NAME`, `_FIELD_VALUE`), a client's or a server's."""
    return _FIELD_NAME.fullmatch(name) is not None and _FIELD_VALUE.fullmatch(value) is not None
