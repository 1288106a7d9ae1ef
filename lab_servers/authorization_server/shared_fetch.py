"""One fetch for requests that need the same thing at the same time (no cache stampede).

Every request that names a client_id URL (or a client whose keys live at a jwks_uri) makes the
AS fetch a URL someone else chose. Fetching once per request, N requests at once cause N
requests to one host: the AS becomes an amplifier aimed where the sender likes (CIMD -02 §8.7,
"denial of service attacks against the authorization server by consuming excessive resources").
So a request that finds the same fetch already under way awaits it instead of starting its own.

Sharing a fetch while it runs is not caching its answer: the entry goes the moment the fetch
ends, whatever its outcome, so a failure is never handed to a request that arrives later
(CIMD §5: the AS MUST NOT cache error responses).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedFetches(Generic[T]):
    """Fetches under way, by key (a URL and the policy it is fetched and judged under)."""

    def __init__(self) -> None:
        self.in_flight: dict[Hashable, asyncio.Task[T]] = {}

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """`fetch()`'s result, from the fetch under way for `key` if there is one."""
        task = self.in_flight.get(key)
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            # A task of its own, not the first requester's: if that request is cancelled (its
            # client went away), the others still get their answer. A fetch under way on another
            # event loop cannot be awaited from this one, and may never end (a lab used from a
            # loop that was then closed, and later from `asyncio.run`): this loop fetches anew.
            task = asyncio.ensure_future(fetch())
            task.add_done_callback(functools.partial(self._forget, key))
            self.in_flight[key] = task
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        # Run before any requester sees the outcome (the first callback): a later request fetches
        # again. Only this fetch's own entry: another loop's fetch may have taken the key since.
        if self.in_flight.get(key) is task:
            del self.in_flight[key]
        # Every requester may have gone (cancelled) before a shared fetch failed: its outcome is
        # taken here, so asyncio does not log "exception was never retrieved".
        if not task.cancelled():
            task.exception()
