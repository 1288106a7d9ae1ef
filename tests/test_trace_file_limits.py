"""`serve --trace-file`: the file has a size limit, a full disk stops the saving and not the
servers, the file keeps whole lines only, so `load_trace` still reads it, and only its owner can
read the tokens in it."""

from __future__ import annotations

import errno
import json
import os
import re
import ssl
import stat
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab_servers import Lab, load_trace
from lab_servers import trace_file as trace_file_module
from lab_servers.serve_process import served_process
from lab_servers.trace import Exchange, Trace
from lab_servers.trace_file import TraceWriter, access_tokens

pytestmark = pytest.mark.anyio


@pytest.fixture
async def exchanges(lab: Lab) -> list[Exchange]:
    """The exchanges of one DCR handshake, to save."""
    await lab.connect("dcr")
    return lab.trace.exchanges


async def test_saving_stops_before_the_file_passes_its_limit_and_says_so_once(
    exchanges: list[Exchange], tmp_path: Path
) -> None:
    path = tmp_path / "trace.jsonl"
    first_two = len(TraceWriter.line(exchanges[0])) + len(TraceWriter.line(exchanges[1]))
    writer = TraceWriter(path, max_bytes=first_two + 1)
    said = [writer.write(exchange) for exchange in exchanges]
    writer.close()
    assert said[:2] == [None, None] and said[3:] == [None] * (len(exchanges) - 3)
    assert said[2] == f"{path} has reached its limit of {first_two + 1:,} bytes"
    assert path.stat().st_size == first_two and load_trace(path).exchanges == exchanges[:2]


async def test_an_earlier_runs_lines_count_toward_the_limit(exchanges: list[Exchange], tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    one = len(TraceWriter.line(exchanges[0]))
    path.write_bytes(b"x" * one)
    writer = TraceWriter(path, max_bytes=2 * one - 1)
    assert writer.write(exchanges[0]) is not None and path.stat().st_size == one
    writer.close()


async def test_a_failed_write_stops_the_saving_leaves_no_line_cut_short_and_raises_nothing(
    exchanges: list[Exchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trace.jsonl"
    writer = TraceWriter(path)
    assert writer.write(exchanges[0]) is None
    real_write = os.write

    def disk_fills_midway(descriptor: int, data: Any) -> int:
        real_write(descriptor, bytes(data[:10]))  # part of the line reaches the disk, then it is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(trace_file_module.os, "write", disk_fills_midway)
    assert writer.write(exchanges[1]) == f"{path}: No space left on device"
    assert writer.write(exchanges[2]) is None  # said once; nothing more is tried
    monkeypatch.undo()
    writer.close()
    assert load_trace(path).exchanges == exchanges[:1]


@pytest.mark.slow  # a served process
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device whose every write fails")
def test_a_served_lab_whose_trace_file_cannot_be_written_serves_on_and_says_why_once(tmp_path: Path) -> None:
    with served_process("--tls-dir", str(tmp_path), "--trace-file", "/dev/full") as server:
        trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(verify=trusted) as http:
            metadata = f"{server.issuer}/.well-known/oauth-authorization-server"
            assert [http.get(metadata).status_code for _ in range(3)] == [200, 200, 200]
    assert server.log.count("--trace-file: /dev/full: No space left on device") == 1, server.log[-2000:]
    assert "Traceback" not in server.log and "Exception in ASGI application" not in server.log


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o601], ids=["as-touch-leaves-it", "others-may-execute"])
def test_a_trace_file_that_was_there_already_is_made_readable_by_its_owner_alone(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "trace.jsonl"
    path.touch()
    path.chmod(mode)  # 0644 as `touch` leaves a new file under the usual umask
    writer = TraceWriter(path)
    writer.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(OSError, match="Bad file descriptor"):  # closed, not left open
        os.fstat(writer._descriptor)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="Linux's /dev/full")
def test_a_device_is_written_to_never_chmodded_and_a_failed_write_there_raises_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--trace-file /dev/full` (every write fails, ENOSPC): only a regular file is narrowed to 0600
    # or cut back, and a device has no line to take back.
    chmodded: list[int] = []
    monkeypatch.setattr(os, "fchmod", lambda descriptor, mode: chmodded.append(mode))
    writer = TraceWriter("/dev/full")
    assert writer.write(STRANGER) == "/dev/full: No space left on device" and chmodded == []
    writer.close()


async def test_a_failed_write_after_the_file_was_emptied_leaves_it_empty_not_padded_with_nul_bytes(
    exchanges: list[Exchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trace.jsonl"
    writer = TraceWriter(path)
    assert writer.write(exchanges[0]) is None and writer.write(exchanges[1]) is None
    os.truncate(path, 0)  # logrotate's copytruncate, or `: > trace.jsonl`, while serve runs

    def disk_full(descriptor: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(trace_file_module.os, "write", disk_full)
    assert writer.write(exchanges[2]) == f"{path}: No space left on device"
    monkeypatch.undo()
    writer.close()
    assert path.read_bytes() == b""  # was the two lines' length in NUL bytes: no longer a trace load_trace reads


async def test_a_line_cut_short_is_taken_back_and_another_writers_lines_stay(
    exchanges: list[Exchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trace.jsonl"
    ours, theirs = TraceWriter(path), TraceWriter(path)  # two `serve` runs given one --trace-file
    assert ours.write(exchanges[0]) is None and theirs.write(exchanges[1]) is None
    real_write = os.write

    def disk_fills_midway(descriptor: int, data: Any) -> int:
        real_write(descriptor, bytes(data[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(trace_file_module.os, "write", disk_fills_midway)
    assert ours.write(exchanges[2]) is not None
    monkeypatch.undo()
    ours.close()
    theirs.close()
    assert load_trace(path).exchanges == exchanges[:2]  # the other run's line was cut away


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts this process's descriptors in /proc")
def test_a_trace_file_whose_mode_cannot_be_narrowed_is_refused_and_not_left_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trace.jsonl"
    path.touch()
    path.chmod(0o666)  # as another user's file in /tmp may be: only its owner may chmod it

    def not_the_owner(descriptor: int, mode: int) -> None:
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(trace_file_module.os, "fchmod", not_the_owner)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(PermissionError):
        TraceWriter(path)
    assert len(os.listdir("/proc/self/fd")) == before  # the descriptor was left open


async def test_a_trace_file_deleted_while_serving_stops_the_saving_and_says_so(
    exchanges: list[Exchange], tmp_path: Path
) -> None:
    # The lines went on into the deleted file, where no one could read them and its disk space
    # stayed taken until serve stopped, and nothing said so.
    path = tmp_path / "trace.jsonl"
    writer = TraceWriter(path)
    assert writer.write(exchanges[0]) is None
    path.unlink()
    assert writer.write(exchanges[1]) == f"{path} was deleted"
    writer.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    # Opening a pipe for writing waits for a reader: `serve --trace-file PIPE` hung before its banner.
    pipe = tmp_path / "trace.pipe"
    os.mkfifo(pipe)
    outcome: list[BaseException | None] = []

    def open_it() -> None:
        try:
            TraceWriter(pipe).close()
            outcome.append(None)
        except OSError as refused:
            outcome.append(refused)

    opener = threading.Thread(target=open_it, daemon=True)
    opener.start()
    opener.join(timeout=10)
    if opener.is_alive():  # let the old code's open() return, so the thread can end
        os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
    assert outcome and "is a named pipe" in str(outcome[0])


# A trace file may be a stranger's (one a user was sent, or one a stranger's requests filled):
# load_trace refuses what is not a saved exchange by its line, never with a TypeError from deep inside.
STRANGER = Exchange(
    seq=1, step=None, caller="stranger", host="mcp.example.com", address="127.0.0.1", method="POST",
    url="https://mcp.example.com/mcp", request_headers=(("Content-Type", "application/json"),),
    request_body='{"a": "line\u2028separator, next\x85line, paragraph\u2029separator"}', status=200,
    response_headers=(), response_body="", done=1,
)  # fmt: skip


def test_a_body_holding_unicode_line_separators_is_read_back_as_saved(tmp_path: Path) -> None:
    # JSON Lines ends a line at \n alone. str.splitlines also split at U+2028, U+0085 and U+2029,
    # which the writer keeps as sent (ensure_ascii=False): one such request made the file unreadable.
    path = tmp_path / "trace.jsonl"
    writer = TraceWriter(path)
    writer.write(STRANGER)
    writer.close()
    assert load_trace(path).exchanges == [STRANGER]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("seq", "2", 'seq is a whole number, not "2"'),  # was a TypeError out of load_trace's sort
        ("seq", True, "seq is a whole number, not true"),
        ("done", None, "done is a whole number, not null"),
        ("at", None, "at is a whole number, not null"),
        ("seq", "x" * 39, f'seq is a whole number, not "{"x" * 38}…'),  # what it quotes is cut at 40
        ("seq", "x" * 38, f'seq is a whole number, not "{"x" * 38}"'),
        ("url", None, "url is a string, not null"),  # was a TypeError out of every view
        ("caller", {"a": 1}, 'caller is a string, not {"a": 1}'),
        ("status", "200", 'status is a three-digit status code (RFC 9110 §15) or null, not "200"'),
        ("status", 99, "status is a three-digit status code (RFC 9110 §15) or null, not 99"),
        ("status", 1000, "status is a three-digit status code (RFC 9110 §15) or null, not 1000"),
        ("status", 10**30, "status is a three-digit status code (RFC 9110 §15) or null, not 1000000000000"),
        ("request_headers", [["a", "b", "c"]], "request_headers is a list of [name, value] pairs of strings"),
        ("response_headers", None, "response_headers is a list of [name, value] pairs of strings, not null"),
        ("response_body", 5, "response_body is a string, not 5"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_its_line(
    tmp_path: Path, field: str, value: object, says: str
) -> None:
    path = tmp_path / "trace.jsonl"
    wrong = json.loads(TraceWriter.line(STRANGER)) | {field: value}
    path.write_bytes(TraceWriter.line(STRANGER) + json.dumps(wrong).encode() + b"\n")
    with pytest.raises(ValueError, match=re.escape(f"line 2: not a lab trace line: {says}")):
        load_trace(path)


def test_a_file_that_is_not_utf8_or_not_json_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(TraceWriter.line(STRANGER) + b"\n" + TraceWriter.line(STRANGER)[:-9] + b"\xff\n")
    with pytest.raises(ValueError, match=re.escape("line 3 is not UTF-8 (RFC 8259 §8.1)")):
        load_trace(path)
    path.write_bytes(TraceWriter.line(STRANGER) + TraceWriter.line(STRANGER)[:-9] + b"\n")
    with pytest.raises(ValueError, match=r"Trace.to_json\(\)\): line 2 is not valid JSON"):
        load_trace(path)


def test_a_file_larger_than_serve_writes_is_refused_unread(tmp_path: Path) -> None:
    # The writer stops at max_bytes (DEFAULT_MAX_BYTES, 100 MiB), earlier runs' lines counted:
    # a larger file is no trace of it, and reading it whole would take memory without bound.
    path = tmp_path / "trace.jsonl"
    path.write_bytes(TraceWriter.line(STRANGER) * 2)
    assert len(load_trace(path, max_bytes=2 * len(TraceWriter.line(STRANGER)))) == 2
    with pytest.raises(ValueError, match=re.escape(f"it is larger than {len(TraceWriter.line(STRANGER)):,} bytes")):
        load_trace(path, max_bytes=len(TraceWriter.line(STRANGER)))


def test_a_line_may_leave_out_the_fields_with_defaults_and_no_other(tmp_path: Path) -> None:
    saved = json.loads(TraceWriter.line(STRANGER))
    path = tmp_path / "trace.jsonl"
    for field in sorted(saved.keys() - {"error", "at", "done"}):
        path.write_text(json.dumps({**saved, field: None}))
        if field in {"step", "address", "status"}:  # the fields that may be null
            assert load_trace(path).exchanges == [replace(STRANGER, **{field: None})]
            continue
        with pytest.raises(ValueError, match=f"line 1: not a lab trace line: {field} is "):
            load_trace(path)
        path.write_text(json.dumps({k: v for k, v in saved.items() if k != field}))
        with pytest.raises(ValueError, match=re.escape(f"missing fields ['{field}']")):
            load_trace(path)
    path.write_text(json.dumps({k: v for k, v in saved.items() if k not in {"error", "at", "done"}}))
    assert load_trace(path).exchanges == [replace(STRANGER, done=0)]


def test_a_status_of_any_three_digits_is_read_and_a_line_that_just_fits_is_written(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    for status in (100, 999):  # RFC 9110 §15: a three-digit integer
        path.write_bytes(TraceWriter.line(replace(STRANGER, status=status)))
        assert load_trace(path).exchanges[0].status == status
    path.unlink()
    writer = TraceWriter(path, max_bytes=len(TraceWriter.line(STRANGER)))
    assert writer.write(STRANGER) is None and writer.write(STRANGER) is not None
    writer.close()
    assert load_trace(path).exchanges == [STRANGER]


def test_a_saved_trace_array_reads_back_and_refuses_what_is_not_an_exchange_by_its_number(tmp_path: Path) -> None:
    # Trace.to_json() is the other form load_trace reads: one JSON array.
    path = tmp_path / "trace.json"
    trace = Trace(exchanges=[STRANGER])
    path.write_text(trace.to_json(), encoding="utf-8")
    assert load_trace(path).exchanges == [STRANGER]
    saved = json.loads(TraceWriter.line(STRANGER))
    for document, says in [([saved, 5], "exchange 2: not a lab trace line: a JSON object was expected, not int"),
                           ([saved | {"x": 1}], "exchange 1: not a lab trace line: unknown fields ['x']")]:  # fmt: skip
        path.write_text(json.dumps(document), encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(says)):
            load_trace(path)


def test_only_the_token_endpoints_200_answers_give_access_tokens(tmp_path: Path) -> None:
    answer = '{"access_token": "t1"}'
    issued = replace(STRANGER, url="https://auth.example.com/token", response_body=answer)
    others = [replace(issued, status=400), replace(issued, url="https://auth.example.com/register")]
    assert access_tokens(Trace(exchanges=[issued, *others])) == ["t1"]


def test_a_hostile_file_is_refused_at_its_first_bad_exchange_before_the_rest_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 MiB of `{}` lines were all parsed and kept (9.2 GB, 279 s) before line 1 was refused:
    # each line, and each element of an array, is now judged as soon as it is read.
    parsed: list[object] = []
    parse = trace_file_module.parse_json
    monkeypatch.setattr(trace_file_module, "parse_json", lambda *a, **k: parsed.append(a) or parse(*a, **k))
    path = tmp_path / "trace.jsonl"
    path.write_text("{}\n" * 1000 + "not json\n")
    with pytest.raises(ValueError, match=re.escape("line 1: not a lab trace line: missing fields")):
        load_trace(path)
    assert len(parsed) == 1
    path.write_text("[" + "{}, " * 1000 + "not json]")  # Trace.to_json()'s form: element by element
    with pytest.raises(ValueError, match=re.escape("exchange 1: not a lab trace line: missing fields")):
        load_trace(path)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("[" + "[" * 40 + "]" * 40 + "]", "the file's element 1 is nested deeper than 32 levels"),
        ('[{"a": "]"', "the file's element 1 is not valid JSON: an array or object is left open"),
        ("[X X]", "',' or ']' expected after element 1"),
        ("[X] []", "there is more after the array's ']'"),
        ("[1e999]", "the file's element 1 has a number out of range"),
    ],
)
def test_a_saved_trace_array_that_is_no_json_the_lab_reads_is_refused_saying_why(
    tmp_path: Path, document: str, says: str
) -> None:
    path = tmp_path / "trace.json"
    path.write_text(document.replace("X", TraceWriter.line(STRANGER).decode().strip()), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(says)):
        load_trace(path)
    path.write_text('[ {"a": "[{"}\n]  ')  # a bracket inside a string neither opens nor closes
    with pytest.raises(ValueError, match=re.escape("exchange 1: not a lab trace line: unknown fields ['a']")):
        load_trace(path)


def run_of(tag: str, *finished: int) -> list[Exchange]:
    """One run of `serve` as its writer saves it: each exchange as it finishes (`done` 1, 2, …),
    `finished` naming the order of their `seq`s."""
    return [
        replace(STRANGER, seq=seq, done=done, url=f"{STRANGER.url}?{tag}{seq}") for done, seq in enumerate(finished, 1)
    ]


def test_runs_appended_to_one_file_load_one_after_the_other_each_numbered_on_from_the_last(tmp_path: Path) -> None:
    # The writer appends: a second `serve` with the same --trace-file starts again at #1. Sorted
    # together by seq, the two runs were interleaved, two #1s, two #2s, drawn as nesting that never was.
    path = tmp_path / "trace.jsonl"
    first, second = run_of("a", 2, 1, 3), run_of("b", 1, 2)  # a's #2 finished inside its #1
    path.write_bytes(b"".join(TraceWriter.line(e) for e in first + second))
    loaded = load_trace(path)
    assert [(e.seq, e.done, e.url.rsplit("?", 1)[1]) for e in loaded] == [
        (1, 2, "a1"), (2, 1, "a2"), (3, 3, "a3"), (4, 4, "b1"), (5, 5, "b2"),
    ]  # fmt: skip
    assert loaded.mark() == 5 and loaded.start() == 6  # the next exchange would be #6


def test_a_number_repeated_within_one_run_is_refused_by_its_line(tmp_path: Path) -> None:
    # Two runs writing to one file at once: `done` rises across the mix, and no run is told apart.
    path = tmp_path / "trace.jsonl"
    mixed = [replace(STRANGER, seq=1, done=1), replace(STRANGER, seq=2, done=2), replace(STRANGER, seq=1, done=3)]
    path.write_bytes(b"".join(TraceWriter.line(e) for e in mixed))
    with pytest.raises(ValueError, match=re.escape("line 3: seq 1 is line 1's too")):
        load_trace(path)


def test_two_runs_writing_one_file_at_once_are_refused_not_split_into_made_up_runs(tmp_path: Path) -> None:
    # Each run numbers from #1; alternating, `done` fell at every other line, and the file loaded
    # as runs of both servers' exchanges, with numbers missing. A run begins at `done` 1 alone.
    path = tmp_path / "trace.jsonl"
    a = [replace(STRANGER, seq=n, done=n, host="127.0.0.1:8001") for n in (1, 2, 3)]
    b = [replace(STRANGER, seq=n, done=n, host="127.0.0.1:9001") for n in (1, 2, 3)]
    path.write_bytes(b"".join(TraceWriter.line(e) for pair in zip(a, b, strict=True) for e in pair))
    with pytest.raises(ValueError, match=re.escape("line 4: it finished #2, after line 3's #2")):
        load_trace(path)
    path.write_bytes(b"".join(TraceWriter.line(e) for e in a + b))  # one after the other: two runs
    assert [(e.seq, e.host) for e in load_trace(path)] == [(1, a[0].host), (2, a[0].host), (3, a[0].host),
                                                          (4, b[0].host), (5, b[0].host), (6, b[0].host)]  # fmt: skip
