"""The lab client's event-stream reader (`client/server_sent_events.py`, and the MCP answer read
through it, `streamable_http.json_rpc_response`) judged against the algorithm that defines the
format, the WHATWG HTML Standard §9.2.6 "Interpreting an event stream", and against an outside
implementation, httpx2's `EventSource` (httpx-sse's parser, which the official MCP SDK reads
Streamable HTTP with).

The reference below is the standard's text, step by step, in its own order and words: a
character-by-character line reader, string buffers, and the dispatch steps numbered as §9.2.6
numbers them. An event stream has no grammar that decides its reading (§9.2.5's ABNF describes
what a server should send; a reader must read any bytes), so the algorithm is the judge.

The inputs, as for the ABNF judges (`abnf_judge.py`): the hostile values the other tests use,
hand-picked edges of the algorithm, and hypothesis streams built from its pieces. At the MCP layer,
the reference adds MCP's two rules (a JSON-RPC message is a `message` event's data, an empty one
primes a reconnection) and reads the JSON through the lab's bounded parser, which has its own
judge (`test_bounded_json.py`): what is judged here is the stream.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab_servers import MCP_URL
from lab_servers.client.server_data import ServerDataRefused, server_json
from lab_servers.client.server_sent_events import events
from lab_servers.client.streamable_http import _ResponseWatch, json_rpc_response

from .abnf_judge import HOSTILE, JUDGED, MUTATIONS

Reading = list[tuple[str, str, str]]  # each dispatched event's type, data and last event ID

# The reference: WHATWG HTML §9.2.6 -------------------------------------------------------------


def whatwg_events(stream: bytes) -> Reading:
    # "Streams must be decoded using the UTF-8 decode algorithm." Encoding §4.1, UTF-8 decode:
    # "1. Let buffer be the result of peeking three bytes from ioQueue ... 2. If buffer is 0xEF
    # 0xBB 0xBF, then read three bytes from ioQueue", then the UTF-8 decoder, error mode replacement.
    if stream[:3] == b"\xef\xbb\xbf":
        stream = stream[3:]
    text = stream.decode("utf-8", errors="replace")
    # "a data buffer, an event type buffer, and a last event ID buffer ... must be initialized to
    # the empty string."
    buffer = {"data": "", "event type": "", "last event ID": ""}
    last_event_id_string = ""
    dispatched: Reading = []

    def dispatch_the_event() -> None:
        nonlocal last_event_id_string
        # 1. "Set the last event ID string of the event source to the value of the last event ID buffer."
        last_event_id_string = buffer["last event ID"]
        # 2. "If the data buffer is an empty string, set the data buffer and the event type buffer
        # to the empty string and return."
        if buffer["data"] == "":
            buffer["data"] = buffer["event type"] = ""
            return
        # 3. "If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
        # the last character from the data buffer."
        buffer["data"] = buffer["data"].removesuffix("\n")
        # 5. "Initialize event's type attribute to "message", its data attribute to data ..."
        event_type = "message"
        # 6. "If the event type buffer has a value other than the empty string, change the type".
        if buffer["event type"] != "":
            event_type = buffer["event type"]
        dispatched.append((event_type, buffer["data"], last_event_id_string))
        # 7. "Set the data buffer and the event type buffer to the empty string."
        buffer["data"] = buffer["event type"] = ""

    def process_the_field(name: str, value: str) -> None:
        # "Field names must be compared literally, with no case folding performed."
        if name == "event":
            buffer["event type"] = value
        elif name == "data":
            buffer["data"] += value + "\n"
        elif name == "id" and "\x00" not in value:  # "If the field value does not contain U+0000 NULL"
            buffer["last event ID"] = value
        # "retry": the reconnection time, which no reading here uses. "Otherwise: The field is ignored."

    def process(line: str) -> None:
        if line == "":  # "If the line is empty (a blank line)"
            dispatch_the_event()
        elif line[0] == ":":  # "If the line starts with a U+003A COLON character (:)": "Ignore the line."
            pass
        elif ":" in line:  # "If the line contains a U+003A COLON character (:)"
            colon = line.index(":")
            field, value = line[:colon], line[colon + 1 :]
            if value[:1] == " ":  # "If value starts with a U+0020 SPACE character, remove it from value."
                value = value[1:]
            process_the_field(field, value)
        else:  # "the whole line as the field name, and the empty string as the field value"
            process_the_field(line, "")

    # "reading everything line by line, with a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
    # character pair, a single U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE
    # RETURN (CR) character, and a single U+000D CARRIAGE RETURN (CR) character not followed by a
    # U+000A LINE FEED (LF) character being the ways in which a line can end."
    line, i = "", 0
    while i < len(text):
        if text[i] == "\r" and text[i + 1 : i + 2] == "\n":
            process(line)
            line, i = "", i + 2
        elif text[i] in "\r\n":
            process(line)
            line, i = "", i + 1
        else:
            line, i = line + text[i], i + 1
    # "Once the end of the file is reached, any pending data must be discarded."
    return dispatched


# The readings compared -------------------------------------------------------------------------


def lab_events(stream: bytes) -> Reading:
    return [(event.type, event.data, event.last_event_id) for event in events(stream)]


def httpx2_events(stream: bytes) -> Reading:
    # httpx2 dispatches a block that set any field, data or not, with data "": it can tell no data
    # from one empty data line, so only the events with data are compared (all MCP reads).
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=stream,
                               request=httpx2.Request("POST", MCP_URL))  # fmt: skip
    return [(e.event, e.data, e.id) for e in httpx2.EventSource(response) if e.data]


def with_data(reading: Reading) -> Reading:
    return [event for event in reading if event[1]]


BOM = b"\xef\xbb\xbf"
# Where httpx2 departs from §9.2.6: what it reads, and why. The lab departs from it nowhere.
HTTPX2_DEPARTS = {
    # It decodes with the response's charset (here UTF-8), whose decoder keeps a BOM: the first
    # field's name starts with U+FEFF, as if the reference had met a second BOM.
    "keeps-bom": lambda stream: stream.startswith(BOM) and BOM + stream,
    # It holds back a CR that ends a chunk (a CRLF may be split) and, at the end of the stream,
    # flushes it as a line end followed by a blank line: the last event is dispatched, not discarded.
    "cr-at-end-dispatches": lambda stream: stream.endswith(b"\r") and stream + b"\r",
}


def httpx2_disagreement(stream: bytes) -> str | None:
    ours, theirs = with_data(whatwg_events(stream)), httpx2_events(stream)
    if ours == theirs:
        return None
    readings = [stream]  # the stream as httpx2 reads it: each departure that applies, or several
    for read_as in HTTPX2_DEPARTS.values():
        readings += [other for reading in readings if (other := read_as(reading))]
    if any(with_data(whatwg_events(reading)) == theirs for reading in readings):
        return None
    return f"{stream!r}: the standard reads {ours!r}, httpx2 {theirs!r}"


R = '{"jsonrpc":"2.0","id":1,"result":{}}'  # the response the lab client waits for (request 1)
N = '{"jsonrpc":"2.0","method":"notifications/progress","params":{}}'
Q = '{"jsonrpc":"2.0","id":1,"method":"ping"}'  # a server's request, whose id may be the client's


def reference_response(stream: bytes) -> Any:
    for event_type, data, _ in whatwg_events(stream):
        # MCP 2024-11-05: "Server messages are sent as SSE `message` events"; MCP 2025-11-25: an
        # event with "an empty `data` field" primes a reconnection.
        if event_type != "message" or data == "":
            continue
        try:
            message = server_json(data, "an event", rule="JSON-RPC 2.0", expect=None)
        except ServerDataRefused:
            return "refused"
        # MCP 2025-06-18 on (`lab_response` reads as 2025-11-25): no JSON-RPC batches.
        if isinstance(message, list):
            return "refused"
        # JSON-RPC 2.0 §5: the response's id is the request's, the same JSON value (true and 1.0
        # are not 1), and its jsonrpc exactly "2.0"; §4: a message with a method is a request.
        if (
            isinstance(message, dict)
            and "method" not in message
            and type(message.get("id")) is int
            and message["id"] == 1
        ):
            return message if message.get("jsonrpc") == "2.0" else "refused"
    return "no response"


def lab_response(stream: bytes, content_type: str = "text/event-stream") -> Any:
    response = httpx.Response(200, headers={"content-type": content_type}, content=stream)
    try:
        return json_rpc_response(response, 1)
    except ServerDataRefused:
        return "refused"
    except ValueError:
        return "no response"


def disagreements(streams: list[bytes]) -> list[str]:
    found = []
    for stream in streams:
        if lab_events(stream) != whatwg_events(stream):
            found.append(f"{stream!r}: the lab reads {lab_events(stream)!r}, the standard {whatwg_events(stream)!r}")
        if (lab := lab_response(stream)) != (reference := reference_response(stream)):
            found.append(f"{stream!r}: the lab answers {lab!r}, the standard {reference!r}")
        if (other := httpx2_disagreement(stream)) is not None:
            found.append(other)
    return found


# The inputs ------------------------------------------------------------------------------------


def encoded(texts: list[str]) -> list[bytes]:
    return [text.encode("utf-8", "surrogatepass") for text in texts]  # a lone surrogate: no UTF-8


EDGES = encoded([
    f"data: {R}\n\n", f"event: message\ndata: {R}\n\n", f"event: message\r\nid: 1\r\ndata: {R}\r\n\r\n",
    f"data: {R}\r\r", f"data: {N}\r\rdata: {R}\r\r", f"data: {N}\rdata: {R}\r\r", f"data: {R}\n\r", f"data: {R}\r\n\n",
    f"\ufeffdata: {R}\n\n", f"\ufeff\ufeffdata: {R}\n\n", f"data: {R}\n\n\ufeff",
    f"data\ndata: {R}\n\n", f"data\n\ndata: {R}\n\n", "data\n\ndata\ndata\n\ndata:", f"data:  {R}\n\n", f"data:{R}\n\n",
    'data: {"jsonrpc":"2.0",\ndata: "id":1,\r\ndata:"result":{}}\n\n', f"data:   \n\ndata: {R}\n\n",
    f": comment\ndata: {R}\n\n", f":\n\ndata: {R}\n\n", f"data: {R}\n: comment\n\n", f":data: {R}\n\n",
    f"data: {R}", f"data: {R}\n", f"data: {R}\r\n", f"data: {R}\r", f"data: {N}\n\ndata: {R}\n",
    f"event: ping\ndata: {R}\n\n", f"event: Message\ndata: {R}\n\n", f"event:\ndata: {R}\n\n", f"event\ndata: {R}\n\n",
    f"Event: ping\ndata: {R}\n\n", f"EVENT: ping\ndata: {R}\n\n", f"ID: a\ndata: {R}\n\n",  # names are compared literally
    f"event: message \ndata: {R}\n\n", f"event: ping\n\ndata: {R}\n\n", f"event: ping\ndata: {N}\n\ndata: {R}\n\n",
    f"id: a\x00b\ndata: {R}\n\n", f"id: 1\ndata:\n\ndata: {R}\n\n", f"id: 1\n\nid\ndata: {R}\n\n", f"retry: 10\ndata: {R}\n\n",
    'data: {"jsonrpc":"2.0","id":1,"result":{"text":"é日本😀"}}\n\n', f"DATA: {R}\n\n", f" data: {R}\n\n", f"data : {R}\n\n",
    f"data: {N}\n\n" * 3 + f"data: {R}\n\n", f"data: [{N}]\n\ndata: {R}\n\n", f"data: {R.replace('1', '2')}\n\ndata: {R}\n\n",
    f"data: {Q}\n\ndata: {R}\n\n",
    f"data: not json\n\ndata: {R}\n\n", f"data: {R}\n\ndata: not json\n\n", f"data: {R}\x0b\n\n", f"data: {N}\x85data: {R}\n\n",
    f"data: {R}\n\u2028\n\n", f"data: {N}\u2028data: {R}\n\n", f"data: {R}\x00\n\n", "", "\n\n", "\r\n\r\n", ":", "data:",
])  # fmt: skip
EDGES += [b'data: {"jsonrpc":"2.0","id":1,"result":{"t":"\xff\xc3"}}\n\n', b"\xef\xbbdata: " + R.encode() + b"\n\n",
          b"data: " + R.encode() + b"\n\n\xef\xbb\xbf"]  # fmt: skip
# JSON-RPC 2.0 §5: an id of true or 1.0 answers no request 1, and a response without "2.0" is none.
EDGES += [f"data: {R.replace(':1', ':' + other)}\n\n{tail}".encode() for other in ("true", "1.0", '"1"')
          for tail in ("", f"data: {R}\n\n")] + [b'data: {"id":1,"result":{}}\n\n', b'data: {"jsonrpc":"1.0","id":1}\n\n']  # fmt: skip
HOSTILE_STREAMS = encoded([
    stream for h in HOSTILE for stream in (f"data: {h}\n\n", f"{h}data: {R}\n\n", f"data: {R}{h}\n\n", f"data: {R}\n{h}\n\n",
                                           f"data:{h}{R}\n\n", f"data: {R}{h}", f"{h}\n\ndata: {R}\n\n",
                                           f'data: {{"jsonrpc":"2.0","id":1,"result":{{"t":{json.dumps(h, ensure_ascii=False)}}}}}\n\n')
])  # fmt: skip
# Generated streams: lines of a field name and a value, each with one of the three line ends, a
# blank line between events more often than not; maybe a BOM before, maybe an unfinished line after.
_FIELDS = [
    "data:",
    "data: ",
    "data:  ",
    "data",
    "event: ",
    "event:",
    "id: ",
    "retry: ",
    ":",
    "",
    " data:",
    "DATA:",
    "data :",
]
_VALUES = [
    R,
    R,
    R,
    N,
    "",
    " ",
    '{"jsonrpc":"2.0",',
    '"id":1,"result":{}}',
    "ping",
    "message",
    "7",
    "\ufeff",
    *MUTATIONS,
]
_ENDS = ["\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\r\r", "\n\r\n", "\r\n\n"]
_LINES = st.tuples(st.sampled_from(_FIELDS), st.sampled_from(_VALUES), st.sampled_from(_ENDS)).map("".join)
STREAMS = st.tuples(
    st.sampled_from(["", "", "\ufeff"]), st.lists(_LINES, max_size=8), st.sampled_from(["", "", f"data: {R}"])
).map(lambda parts: (parts[0] + "".join(parts[1]) + parts[2]).encode("utf-8", "surrogatepass"))


def test_the_lab_reads_each_edge_of_the_algorithm_as_the_standard_does() -> None:
    assert disagreements(EDGES) == []


def test_the_lab_reads_the_hostile_values_as_the_standard_does() -> None:
    assert disagreements(HOSTILE_STREAMS) == []


@JUDGED
@given(STREAMS)
def test_the_lab_reads_generated_streams_as_the_standard_does(stream: bytes) -> None:
    assert disagreements([stream]) == []


@pytest.mark.slow
@settings(JUDGED, max_examples=2000)
@given(STREAMS)
def test_the_lab_reads_many_generated_streams_as_the_standard_does(stream: bytes) -> None:
    assert disagreements([stream]) == []


def test_each_listed_departure_of_httpx2_is_met() -> None:
    # A departure no input shows any more is one httpx2 no longer makes: it leaves the list.
    for name, read_as in HTTPX2_DEPARTS.items():
        assert any((other := read_as(s)) and httpx2_events(s) != with_data(whatwg_events(s))
                   and httpx2_events(s) == with_data(whatwg_events(other)) for s in EDGES), name  # fmt: skip


# The standard's own examples (§9.2.6) ----------------------------------------------------------

EXAMPLES: dict[str, tuple[str, Reading]] = {
    "four blocks": (": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
                    [("message", "first event", "1"), ("message", "second event", ""), ("message", " third event", "")]),
    "data without a colon": ("data\n\ndata\ndata\n\ndata:", [("message", "", ""), ("message", "\n", "")]),
    "one space is ignored": ("data:test\n\ndata: test\n\n", [("message", "test", ""), ("message", "test", "")]),
    "YHOO": ("data: YHOO\ndata: +2\ndata: 10\n\n", [("message", "YHOO\n+2\n10", "")]),
}  # fmt: skip


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_standards_own_examples(example: str) -> None:
    stream, reading = EXAMPLES[example]
    assert whatwg_events(stream.encode()) == reading
    assert lab_events(stream.encode()) == reading


# What the old reader got wrong, each in the standard's words ------------------------------------

RESPONSE = json.loads(R)


def test_a_line_may_end_in_a_cr_alone() -> None:
    # §9.2.6: "a single U+000D CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED".
    assert lab_response(f"data: {N}\r\rdata: {R}\r\r".encode()) == RESPONSE


def test_one_leading_bom_is_no_part_of_the_first_line() -> None:
    # §9.2.6: "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM), if any."
    assert lab_response(BOM + f"data: {R}\n\n".encode()) == RESPONSE
    assert lab_response(BOM + BOM + f"data: {R}\n\n".encode()) == "no response"  # the second names a field


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-16", "ascii", "no-such-charset"])
def test_the_stream_is_utf8_whatever_charset_the_content_type_names(charset: str) -> None:
    # §9.2.5: "Event streams in this format must always be encoded as UTF-8"; §9.2.6: "Streams
    # must be decoded using the UTF-8 decode algorithm." A charset parameter changes nothing.
    stream = 'data: {"jsonrpc":"2.0","id":1,"result":{"text":"é"}}\n\n'.encode()
    assert lab_response(stream, f"text/event-stream; charset={charset}") == {**RESPONSE, "result": {"text": "é"}}


def test_an_event_not_ended_by_a_blank_line_is_discarded() -> None:
    # §9.2.6: "Once the end of the file is reached, any pending data must be discarded. (If the
    # file ends in the middle of an event, before the final empty line, the incomplete event is
    # not dispatched.)"
    for stream in (f"data: {R}", f"data: {R}\n", f"data: {R}\r\n", f"data: {N}\n\ndata: {R}\n"):
        assert lab_response(stream.encode()) == "no response", stream


def test_an_event_of_another_type_carries_no_json_rpc_message() -> None:
    # §9.2.6 dispatch step 6: the type is the `event` field's value; MCP 2024-11-05: "Server
    # messages are sent as SSE `message` events". `event:` with no value leaves it "message".
    assert lab_response(f"event: ping\ndata: {R}\n\n".encode()) == "no response"
    assert lab_response(f"event: ping\ndata: {N}\n\nevent:\ndata: {R}\n\n".encode()) == RESPONSE


def test_only_one_space_after_the_colon_is_removed() -> None:
    # §9.2.6: "If value starts with a U+0020 SPACE character, remove it from value": one, not all.
    assert lab_events(b"data:  two\n\n") == [("message", " two", "")]
    # A line `data` with no colon is the field "data" with an empty value: an empty line of data.
    assert lab_events(b"data: a\ndata\ndata: b\n\n") == [("message", "a\n\nb", "")]


# Reading a stream only up to its response (`streamable_http.response_watch`) ---------------------


def first_stop(stream: bytes, sizes: list[int]) -> int | None:
    """The index of the first read after which the watch stops reading `stream`, cut into reads
    of `sizes` (cycled), or None when it reads to the end."""
    watch = _ResponseWatch(1)
    body, start, read = bytearray(), 0, 0
    while start < len(stream):
        size = sizes[read % len(sizes)]
        body += stream[start : start + size]
        start, read = start + size, read + 1
        if watch(body):
            return read - 1
    return None


def first_holding_the_response(stream: bytes, sizes: list[int]) -> int | None:
    """The index of the first read after which the stream so far, read whole, holds the response
    (or a message the lab refuses, which ends the reading as well)."""
    start, read = 0, 0
    while start < len(stream):
        start, read = start + sizes[read % len(sizes)], read + 1
        if lab_response(stream[:start]) != "no response":
            return read - 1
    return None


@JUDGED
@given(STREAMS, st.lists(st.integers(1, 7), min_size=1, max_size=4))
def test_reading_stops_at_the_read_that_completes_the_response_however_the_stream_is_cut(
    stream: bytes, sizes: list[int]
) -> None:
    # MCP Streamable HTTP: the server "SHOULD" close the stream after the response, so it may not;
    # read to its end, a stream kept open held step 7 for ever with its answer in hand. Stopping
    # must never come before the response is whole, nor after it, wherever the reads cut it (a
    # CR LF split between two reads is one line end, not two: WHATWG HTML §9.2.6).
    assert first_stop(stream, sizes) == first_holding_the_response(stream, sizes)
