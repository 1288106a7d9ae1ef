"""MCP 2025-03-26 "Batching" at the lab's bound: a batch of MAX_BATCH_MESSAGES messages is
served, one more is refused (test_resource_server_transport.py), and every message of a batch is
answered in order (JSON-RPC 2.0 §6)."""

from __future__ import annotations

import pytest

from lab_servers import Lab
from lab_servers.resource_server.batches import MAX_BATCH_MESSAGES

from .test_resource_server_transport import INITIALIZED, post

pytestmark = pytest.mark.anyio


async def test_a_batch_of_exactly_the_bound_is_served() -> None:
    # Notifications only: JSON-RPC 2.0 §6 gives them no entry, so the whole batch is a 202
    # (2025-03-26 Streamable HTTP, Sending Messages, item 4), not the 400 past the bound.
    async with Lab(revision="2025-03-26") as lab:
        response = await post(lab, [INITIALIZED] * MAX_BATCH_MESSAGES)
    assert response.status_code == 202 and response.content == b""
