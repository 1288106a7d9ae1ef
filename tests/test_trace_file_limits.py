"""`serve --trace-file`: the file has a size limit, a full disk stops the saving and not the
servers, the file keeps whole lines only, so `load_trace` still reads it, and only its owner can
read the tokens in it."""

from __future__ import annotations

import errno
import os
import ssl
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab_servers import Lab, load_trace
from lab_servers import trace_file as trace_file_module
from lab_servers.serve_process import served_process
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter

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
def test_a_trace_file_that_was_there_already_is_made_readable_by_its_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.touch()
    path.chmod(0o644)  # as `touch` leaves a new file under the usual umask
    TraceWriter(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


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
