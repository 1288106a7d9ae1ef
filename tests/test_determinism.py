"""The same scenario gives byte-identical traces, ids and tokens."""

from __future__ import annotations

import pytest

from lab_servers import Lab

pytestmark = pytest.mark.anyio


async def scenario(seed: int) -> tuple[str, list[str]]:
    async with Lab(seed=seed) as lab:
        dcr = await lab.connect("dcr")
        cimd = await lab.connect("cimd")
        return lab.trace.to_json(), [dcr.client_id, dcr.access_token or "", cimd.access_token or ""]


async def test_the_same_seed_gives_byte_identical_traces_ids_and_tokens() -> None:
    assert await scenario(0) == await scenario(0)


async def test_another_seed_gives_other_ids_and_tokens() -> None:
    (_, first), (_, second) = await scenario(0), await scenario(1)
    assert first[0] != second[0] and first[1] != second[1]
