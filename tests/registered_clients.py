"""A client registered at the lab's authorization server by DCR (RFC 7591), as the tests of its
endpoints need one: the lab's default public client's metadata, with any changes."""

from __future__ import annotations

from lab_servers import Lab, default_client_metadata

from .helpers import (
    register,
)

PUBLIC_CLIENT = {k: v for k, v in default_client_metadata().items() if k != "client_id"}


async def registered_client(lab: Lab, **changes: object) -> dict:
    response = await register(lab, {**PUBLIC_CLIENT, **changes})
    assert response.status_code == 201, response.text
    return response.json()
