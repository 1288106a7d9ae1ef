from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from lab_servers import Lab

if TYPE_CHECKING:
    from lab_servers.widgets import HandshakeStepper

# The markers of the tests that take a minute or more (pyproject.toml describes each).
SLOW_GROUPS = frozenset({"binder", "browser", "conformance", "inspector", "slow"})

# No deadline for an example (hypothesis's default is 200 ms): on a busy machine an example is
# sometimes held up, and hypothesis then fails the test as flaky when the example runs fast again
# (an example of test_rfc6749's that takes 0.14 ms took 319 ms once in `make test-fast` on two
# cores beside other work). What the tests assert is the lab's answers; what a call costs is for
# the tests that measure it (test_token_records_bounded.py, test_concurrency.py) and benchmarks/.
settings.register_profile("lab", deadline=None)
settings.load_profile("lab")


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    """Collection without the cyclic garbage collector, then what it built frozen out of its reach.

    Collecting imports every test module (the lab, the SDK, pydantic's models, hypothesis): some
    400,000 objects a worker keeps to its end. Each full pass of the collector walked all of them
    again, 0.2 to 0.65 s a pass, about 13 s of CPU in a run of the fast suite; and passes during
    collection itself, 1.5 s a worker. `gc.freeze` moves what exists now to a generation the
    collector never visits; what the tests create is collected as before."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()
        gc.collect()
        gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding slow tests run first, then the notebooks, each module's tests and each
    notebook's cells in their own order.

    `make test` hands out whole modules (xdist's --dist loadscope) in collection order
    (--no-loadscope-reorder): xdist's default order, most tests first, would start the two-minute
    Binder walk-through, a single test, last of all, with every other worker idle behind it. A
    notebook is one long unit too (a kernel's start, then its cells: 05's kernel spends some 8 s of
    CPU, most of it in two simulations), and collected after tests/ the notebooks came last, 05
    alone on one worker while the others had finished."""
    slow_modules = {item.path for item in items if any(m.name in SLOW_GROUPS for m in item.iter_markers())}
    items.sort(key=lambda item: (item.path not in slow_modules, item.path.suffix != ".ipynb"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(seed=0) as lab:
        yield lab


@pytest.fixture
async def stepper(lab: Lab) -> AsyncIterator[HandshakeStepper]:
    """The handshake stepper on the test's lab. Imported here, not above: ipywidgets is for the
    tests that use the widget, not for every worker's start."""
    from lab_servers.widgets import HandshakeStepper

    stepper = HandshakeStepper(lab)
    yield stepper
    await stepper.aclose()
