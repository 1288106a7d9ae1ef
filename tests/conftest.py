from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lab_servers import Lab


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(seed=0) as lab:
        yield lab
