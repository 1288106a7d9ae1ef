"""Cancelling a request at every await, and what must hold after it.

A caller gives up on a request at any moment: a learner interrupts a cell, an `asyncio.timeout`
fires, a served client closes its connection, the lab closes. In process, the lab network then
cancels the app's task (`network/asgi.py`), and the cancellation lands at whichever `await` each
task of the request is suspended in: the client's, the server's, the AS's own fetch of a CIMD
document or of a client's keys, the SDK's Streamable HTTP app.

The sweep reaches every one of them deterministically. On one event loop, a task can only be
interrupted where it is suspended, and between two iterations of the loop every task is. So the
request runs as a task while the test yields to the loop k times (`asyncio.sleep(0)`: one
iteration each), then cancels it, for k = 1, 2, … until the request completes first. Each k
cancels the request with all its tasks where the uncancelled run had them after k iterations.

After each cancellation (`Sweep.cancel_at`):

1. nothing is left half-done: once the loop settles, the AS's stores (registry, codes, pending
   consents, refresh tokens, token records, denylists, replay caches, CIMD cache, seeded ids) are
   exactly as the uncancelled run had them after some iteration (`state_of`), never a mix (the
   cancellation reaches each task at its next await, which may come a few iterations later);
   no request is still counted in flight, no fetch is still shared, no lock is held; no task of
   the request is left pending; nothing was logged, by asyncio ("Task exception was never
   retrieved", "Task was destroyed but it is pending") or a library (a traceback); every
   exchange begun is filed in the trace, answered or not, and every view renders the trace and
   the AS's state;
2. a single-use thing is used or not, never both: follows from 1, since the uncancelled run
   never passes through a state in which a code (refresh token, ID-JAG, assertion) both still
   redeems and has issued tokens; checked explicitly for codes and refresh families as well
   (`used_and_not`);
3. the cancelled task ends cancelled: a cancellation is never swallowed (an `asyncio.timeout`
   around the request would otherwise not fire, and a learner's interrupt would run on);
4. the handshake run again from scratch by a new client completes; when the cancelled request
   left the AS's state as it found it, its exchanges are byte for byte those of a lab where
   nothing was cancelled (no id shifted because the cancelled request drew one), and the story
   itself runs on from the step that was cancelled. (The cancelled client's own re-run is not
   byte for byte its first: it spent a JSON-RPC id on the request the server received, and MCP's
   ids "MUST NOT have been previously used by the requestor within the same session".)
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import gc
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lab_servers import Lab
from lab_servers.authorization_server.server import AuthorizationServer
from lab_servers.determinism import SeededIds
from lab_servers.loop_local import LoopLocalLock
from lab_servers.views import sequence_diagram, show_as_state, show_exchange

Step = Callable[["Story"], Awaitable[Any]]
SETTLE_ITERATIONS = 200  # a cancelled request's tasks end within a few iterations; this is ample


@dataclass
class Story:
    """One lab and what the steps of a story keep for the next (a client, a code, a token)."""

    lab: Lab
    kept: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    make_lab: Callable[[], Lab]
    steps: tuple[tuple[str, Step], ...]
    method: str  # how a new client gets its client_id, for the handshake run again from scratch


@dataclass
class Outcome:
    """What one sweep of one request found: its cancellation points and every broken invariant."""

    points: int = 0
    problems: list[str] = field(default_factory=list)


# The state the AS keeps, as plain values ------------------------------------------------------------


def _plain(value: Any, seen: set[int]) -> Any:
    """`value` as nested tuples of plain values, for comparing whole stores. Objects of the lab's
    own classes are walked; locks say whether they are held; anything else is its type name."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if id(value) in seen:
        return "<cycle>"
    seen = seen | {id(value)}
    if isinstance(value, dict):
        return tuple(sorted(((repr(_plain(k, seen)), _plain(v, seen)) for k, v in value.items()), key=repr))
    if isinstance(value, list | tuple | deque):
        return tuple(_plain(item, seen) for item in value)
    if isinstance(value, set | frozenset):
        return tuple(sorted(repr(_plain(item, seen)) for item in value))
    if isinstance(value, SeededIds):
        return tuple(sorted((purpose, hash(r.getstate())) for purpose, r in value._streams.items()))
    if isinstance(value, random.Random):
        return hash(value.getstate())
    if isinstance(value, asyncio.Lock):
        return ("lock", value.locked())
    if isinstance(value, LoopLocalLock):
        return ("lock", value._lock.locked())
    if isinstance(value, asyncio.Future):
        return ("task", value.done())
    if not type(value).__module__.startswith("lab_servers"):
        return type(value).__name__
    if dataclasses.is_dataclass(value):
        names = [f.name for f in dataclasses.fields(value)]
    else:
        names = sorted(getattr(value, "__dict__", {}))
        names += [name for cls in type(value).__mro__ for name in getattr(cls, "__slots__", ())]
    # Not state: the servers' wiring. Nor the MCP server's JWKS fetch log (`_fetched_at`,
    # `jwks_fetches`): its once-a-minute limit counts attempts, so that a client who sends an
    # unknown `kid` and hangs up cannot make it fetch again and again; a cancelled fetch was sent.
    skipped = {"app", "http", "clock", "keys", "policy", "capabilities", "resolve_host", "as_metadata"}
    skipped |= {"_fetched_at", "jwks_fetches"}
    return (
        type(value).__name__,
        tuple((name, _plain(getattr(value, name, None), seen)) for name in names if name not in skipped),
    )


def state_of(lab: Lab) -> Any:
    """Everything the lab's authorization servers and the MCP server's token checks hold."""
    servers = tuple(_plain(server, set()) for server in lab.authorization_servers.values())
    validators = tuple(_plain(v, set()) for v in getattr(lab.resource_server, "validators", {}).values())
    return servers, validators, _plain(lab.resource_server.validator, set())


def at_rest(lab: Lab, clients: list[Any]) -> list[str]:
    """What must be back at rest once no request runs: places held under the registration cap,
    fetches shared, locks held."""
    problems = []
    for server in lab.authorization_servers.values():
        assert isinstance(server, AuthorizationServer)
        if server.registrar.limits.in_flight:
            problems.append(f"{server.issuer}: registration_limits.in_flight = {server.registrar.limits.in_flight}")
        shared = [key for fetches in (server.cimd.fetches, server.key_fetches) for key in fetches.in_flight]
        if shared:
            problems.append(f"{server.issuer}: a fetch still shared: {shared}")
    validators = (lab.resource_server.validator, *getattr(lab.resource_server, "validators", {}).values())
    locks = [getattr(holder, name, None) for holder, name in ((v, "_fetching") for v in validators)]
    locks += [getattr(client, "renewing", None) for client in clients]
    if any(isinstance(lock, LoopLocalLock) and lock._lock.locked() for lock in locks):
        problems.append("a lock is still held (the MCP server's JWKS fetch, a client's refresh or step-up)")
    # A request whose app has ended is no longer one a shutdown must wait for (`asgi.shut_down`).
    running = [host.name for host in lab.network._by_address.values() if host.in_flight]
    if running:
        problems.append(f"requests still counted in flight at {running}")
    return problems


def used_and_not(lab: Lab) -> list[str]:
    """A single-use thing used and still usable (OAuth 2.1 §4.1.3: a code is used once; §4.3.1:
    a rotated refresh token is spent): a code still unused whose redemption issued tokens, a
    refresh family with two tokens usable at once."""
    problems = []
    now = lab.clock.now()
    for server in lab.authorization_servers.values():
        assert isinstance(server, AuthorizationServer)
        grants = set(server.grant_of_jti.values())
        problems += [
            f"{server.issuer}: code {code.code} still redeemable, and its tokens issued"
            for code in server.codes.values()
            if not code.used and (code.refresh_tokens or code.grant in grants)
        ]
        usable: dict[str, int] = {}
        for token in server.refresh_tokens.values():
            if token.usable(now):
                usable[token.family] = usable.get(token.family, 0) + 1
        problems += [f"{server.issuer}: refresh family {f} has {n} usable tokens" for f, n in usable.items() if n > 1]
    return problems


# Settling the loop and listening to asyncio ---------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def logged_meanwhile() -> Iterator[list[str]]:
    """What is logged meanwhile at WARNING or above, by anyone: asyncio's "Task exception was
    never retrieved" and "Task was destroyed but it is pending", a library's traceback (the SDK
    logs "Error handling POST request" with one). Every record reaches the root logger's
    handlers; in a notebook or a console, Python prints those that find none."""
    handler = _Records()
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.messages
    finally:
        root.removeHandler(handler)


def _lifespans() -> set[asyncio.Task[Any]]:
    # A lab's MCP server starts its ASGI lifespan on its first request and keeps it until the lab
    # closes, cancelled or not: it belongs to the lab, not to the request.
    return {t for t in asyncio.all_tasks() if "LifespanRunner._run" in repr(t.get_coro())}


async def settle(before: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """Let the loop run until every task started since `before` has ended; those still pending."""
    me = asyncio.current_task()
    for _ in range(SETTLE_ITERATIONS):
        left = [t for t in asyncio.all_tasks() - before - _lifespans() if t is not me and not t.done()]
        await asyncio.sleep(0)  # first: a task's done callbacks run one iteration after it ends
        if not left:
            return []
    return left


def render_everything(lab: Lab) -> None:
    """Every view of the trace and of the AS's state: an exchange recorded without its response
    (the caller gave up) must render as such."""
    if lab.trace.exchanges:  # an empty trace is refused by name ("has anything run yet?")
        sequence_diagram(lab.trace)._repr_mimebundle_()
    for exchange in lab.trace.exchanges:
        show_exchange(exchange)._repr_html_()
    show_as_state(lab)._repr_html_()


def trace_text(lab: Lab, start: int = 0) -> list[tuple[Any, ...]]:
    """The bytes of each exchange from `start` on (not its `seq`: the cancelled ones took theirs)."""
    return [
        (e.caller, e.method, e.url, e.request_headers, e.request_body, e.status, e.response_headers, e.response_body)
        for e in lab.trace.exchanges[start:]
    ]


# The sweep ------------------------------------------------------------------------------------------


async def _prepared(scenario: Scenario, index: int) -> Story:
    story = Story(scenario.make_lab())
    for _, step in scenario.steps[:index]:
        await step(story)
    return story


async def _uncancelled(scenario: Scenario, index: int) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """The states of an uncancelled run of step `index`, one per loop iteration; and, from the
    same start without that step, the trace of a new client's whole handshake."""
    story = await _prepared(scenario, index)
    states = [state_of(story.lab)]
    task = asyncio.ensure_future(scenario.steps[index][1](story))
    while not task.done():
        await asyncio.sleep(0)
        states.append(state_of(story.lab))
    task.result()
    await story.lab.aclose()
    story = await _prepared(scenario, index)
    start = len(story.lab.trace.exchanges)
    await story.lab.client(scenario.method).run_all()
    await story.lab.aclose()
    return states, trace_text(story.lab, start)


async def cancel_at(
    scenario: Scenario, index: int, k: int, states: list[Any], from_scratch: list[tuple[Any, ...]]
) -> list[str] | None:
    """Run the story to step `index`, cancel that step after `k` iterations of the loop, and
    return what broke (None: the step completed within `k` iterations, nothing to cancel)."""
    name = scenario.steps[index][0]
    story = await _prepared(scenario, index)
    lab = story.lab
    before = set(asyncio.all_tasks())
    problems: list[str] = []
    where = f"{scenario.name}, {name}, cancelled after {k} iterations"
    task = asyncio.ensure_future(scenario.steps[index][1](story))
    for _ in range(k):
        await asyncio.sleep(0)
    if task.done():
        task.result()
        await lab.aclose()
        return None
    task.cancel()
    try:
        await task
        problems.append(f"{where}: the cancellation was swallowed, the request ran on to its end")
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{where}: ended with {type(exc).__name__}: {exc} instead of CancelledError")
    left = await settle(before)
    if left:
        problems.append(f"{where}: tasks still pending: {left}")
    state = state_of(lab)
    if state not in states:
        problems.append(f"{where}: the AS's state is one the uncancelled run never had (a half-done record)")
    problems += [f"{where}: {p}" for p in at_rest(lab, list(story.kept.values())) + used_and_not(lab)]
    if lab.trace._started != lab.trace._finished:  # every exchange begun is filed, answered or not
        problems.append(f"{where}: {lab.trace._started - lab.trace._finished} exchanges begun and never filed")
    try:
        render_everything(lab)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{where}: a view failed on the trace: {type(exc).__name__}: {exc}")
    # Run again: a new client's handshake from scratch, then the cancelled client's story from the
    # step it was in. Where the cancelled request left the AS as it found it, the new client's
    # exchanges are byte for byte those it has without any cancellation, and the story goes on.
    # Where it took effect (a client registered, a code redeemed), the ids drawn for it are spent,
    # as over a network that lost the answer, and a redeemed code stays redeemed.
    untouched = state == states[0]
    start = len(lab.trace.exchanges)
    try:
        await lab.client(scenario.method).run_all()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{where}: a new client's handshake failed: {type(exc).__name__}: {exc}")
    if untouched and trace_text(lab, start) != from_scratch:
        problems.append(f"{where}: a new client's handshake differs from one in a lab with no cancellation")
    if untouched:
        try:
            for _, step in scenario.steps[index:]:
                await step(story)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{where}: the story run again from {name} failed: {type(exc).__name__}: {exc}")
    await lab.aclose()
    return problems


async def sweep(scenario: Scenario, index: int, outcome: Outcome, *, k_limit: int = 1000) -> None:
    """Cancel step `index` of `scenario` at k = 1, 2, … until it completes uncancelled; then
    collect the garbage, so that a task destroyed pending, or a task's exception nobody
    retrieved, is logged while the log is listened to."""
    with logged_meanwhile() as logged:
        states, from_scratch = await _uncancelled(scenario, index)
        for k in range(1, k_limit):
            found = await cancel_at(scenario, index, k, states, from_scratch)
            if found is None:
                break
            outcome.points += 1
            outcome.problems += found
        else:
            outcome.problems.append(f"{scenario.name}: step {index} still running after {k_limit} iterations")
        gc.collect()
        await asyncio.sleep(0)
    outcome.problems += [f"{scenario.name}, {scenario.steps[index][0]}: logged: {m}" for m in logged]
