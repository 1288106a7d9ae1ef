"""Server-sent events: an event stream read as the WHATWG HTML Standard §9.2.6 "Interpreting an
event stream" says, step by step (https://html.spec.whatwg.org/multipage/server-sent-events.html).

The lab client reads a `text/event-stream` answer to a POST (MCP Streamable HTTP) within the
client's limit (`server_data.receive`), up to the blank line that completes the event carrying the
response (`streamable_http.response_watch`: a server may keep the stream open), so the stream here
is the bytes read, and its end is the end of the file:

1. The bytes are decoded as UTF-8, one leading BOM stripped, whatever charset the Content-Type
   names (§9.2.5: "Event streams in this format must always be encoded as UTF-8").
2. The text is read line by line; a line ends at CRLF, at LF, or at CR alone.
3. Each line is a blank line (the event is dispatched), a comment (starts with ":"), or a field:
   the name before the first ":", the value after it less one leading space; a line without ":"
   is a field name with an empty value.
4. The fields: `event` sets the event type, `data` adds a line to the data, `id` sets the last
   event ID (unless it holds NUL); `retry` sets a reconnection time, which a client that never
   reconnects has no use for; any other field is ignored.
5. Dispatching: an empty data buffer dispatches nothing; else the data less its last LF, of type
   "message" unless `event` named another. What follows the last blank line is discarded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# §9.2.6: lines end in "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single
# U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN (CR) character, and a
# single U+000D CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED (LF) character".
# Not `str.splitlines`, which also ends a line at \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029.
_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Event:
    """A dispatched event: its type, its data, and the last event ID string when it was sent."""

    type: str
    data: str
    last_event_id: str


def events(stream: bytes) -> Iterator[Event]:
    """The events `stream` dispatches, in order (WHATWG HTML §9.2.6)."""
    # 1. "Streams must be decoded using the UTF-8 decode algorithm", which "strips one leading UTF-8
    # Byte Order Mark (BOM), if any" (WHATWG Encoding §4.1) and reads a byte sequence that is not
    # UTF-8 as U+FFFD (its error mode, replacement), as Python's decoder does with "replace".
    text = stream.removeprefix(_BOM).decode("utf-8", "replace")
    # 2. Line by line. What follows the last line end is no line: "Once the end of the file is
    # reached, any pending data must be discarded", and an unfinished line can end no event.
    lines = _LINE_END.split(text)
    lines.pop()
    # "a data buffer, an event type buffer, and a last event ID buffer ... initialized to the empty string"
    data: list[str] = []
    event_type = last_event_id = ""
    for line in lines:
        # 3. "If the line is empty (a blank line)": dispatch the event.
        if not line:
            # 5. Dispatch step 2: "If the data buffer is an empty string", no event. Step 3: the
            # buffer's last LF removed (each data line added one). Steps 5-6: the type is
            # "message" unless the event type buffer holds another. Step 1: the last event ID is
            # not reset between events.
            if data:
                yield Event(event_type or "message", "\n".join(data), last_event_id)
            # Step 7 (and step 2): "Set the data buffer and the event type buffer to the empty string."
            data, event_type = [], ""
            continue
        # "If the line starts with a U+003A COLON character (:)": a comment, ignored.
        if line.startswith(":"):
            continue
        # "If the line contains a U+003A COLON character": the field name before the first colon,
        # the value after it; "If value starts with a U+0020 SPACE character, remove it" (one).
        # "Otherwise": "the whole line as the field name, and the empty string as the field value".
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        # 4. "Field names must be compared literally, with no case folding performed."
        if field == "event":
            event_type = value
        elif field == "data":
            # "Append the field value to the data buffer, then append a single U+000A LINE FEED";
            # kept as a list of lines, joined by LF when dispatched (the last LF removed, step 3).
            data.append(value)
        elif field == "id" and "\x00" not in value:
            last_event_id = value
        # "retry" sets the reconnection time: the lab client reads an answer whole and never
        # reconnects. "Otherwise": "The field is ignored."
