"""Files a learner points the lab at (`serve --client-document`, `--tls-dir`, `load_trace`), read
as a stranger's: someone else may have shared them, or be able to write where they lie.

A path may name what is no file: a named pipe, whose `open` waits for a writer (`serve` hung before
its banner, deaf to Ctrl-C and SIGTERM, since Python retries the interrupted call), or a device
such as /dev/zero, which never ends. So a file is opened without waiting (O_NONBLOCK, which a
regular file ignores), refused unless it is a regular file, and read to a bound chosen before the
first byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["read_regular_file"]


def read_regular_file(path: Path | str, max_bytes: int) -> bytes:
    """At most `max_bytes` + 1 bytes of the regular file at `path` (the caller refuses more), or
    OSError naming what else it is (a symbolic link is followed to what it names)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            what = (
                "a named pipe"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "no regular file"
            )
            raise OSError(f"{path} is {what}, not a file the lab reads")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            return file.read(max_bytes + 1)
    finally:
        os.close(descriptor)
