"""pytest's settings for every path `make test` collects: the notebooks nbval runs, and tests/."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

KERNEL_STARTS = 3  # a kernel that dies at its start is started again, with new ports, this often at most


def starting_again(start: Callable[..., Any]) -> Callable[..., Any]:
    """`start` (nbval's `start_new_kernel`), tried again when the kernel dies before it answers.

    jupyter_client picks a kernel's five ports by binding port 0 and letting each go; the kernel
    binds them a moment later. A kernel another xdist worker starts in between can take one
    (jupyter/jupyter_client#487), and the kernel dies "before replying to kernel_info": CI saw it
    once, notebook 04's thirteen cells each an error, on a run that passed on the same commit
    when run again. A new start draws new ports; a kernel that cannot start at all still fails,
    after KERNEL_STARTS tries."""

    @functools.wraps(start)
    def start_kernel(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, KERNEL_STARTS + 1):
            try:
                return start(*args, **kwargs)
            except RuntimeError:  # nbval shut the dead kernel down before raising
                if attempt == KERNEL_STARTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    return start_kernel


def pytest_configure(config: pytest.Config) -> None:
    import nbval.kernel  # RunningKernel looks it up in its module at each start

    if not hasattr(nbval.kernel.start_new_kernel, "__wrapped__"):
        nbval.kernel.start_new_kernel = starting_again(nbval.kernel.start_new_kernel)
