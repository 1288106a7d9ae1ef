"""The same scenario gives byte-identical traces, ids and tokens."""

from __future__ import annotations

import pytest

from lab_servers import Lab
from lab_servers.determinism import SystemIds

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


def test_a_served_labs_clients_draw_pkce_verifiers_and_states_nobody_can_guess() -> None:
    # RFC 7636 §7.1: the code_verifier "cannot be guessed"; RFC 6749 §10.12: nor can state. In
    # process every id follows the seed (byte-identical traces); a lab real clients and servers
    # meet (`serve`, the conformance client) draws every part's ids from the CSPRNG.
    seeded, system = Lab(seed=0), Lab(ids=SystemIds())
    assert seeded.client().ids.token("pkce") == Lab(seed=0).client().ids.token("pkce")
    first, second = system.client().ids, Lab(ids=SystemIds()).client().ids
    assert isinstance(first, SystemIds) and first.token("pkce") != second.token("pkce")
    assert system.add_authorization_server("as2.example.com", "203.0.113.20").ids.token("key") != system.ids.token(
        "key"
    )


async def test_a_change_to_one_labs_scopes_does_not_reach_a_lab_built_after_it() -> None:
    async with Lab(seed=0) as first:
        first.auth_server.resource_scopes[first.mcp_url].append("notes:admin")
        async with Lab(seed=0) as later:
            assert later.auth_server.resource_scopes[later.mcp_url] == ["notes:read", "notes:write"]


async def test_each_client_of_a_lab_draws_its_own_ids() -> None:
    # Seeded per client (client:1, client:2, …): two clients drawing the same PKCE verifier,
    # state and assertion jti would be one client to the AS, which refuses a jti seen before.
    async with Lab() as lab:
        first, second = lab.client("dcr"), lab.client("dcr")
        assert first.ids.token("pkce") != second.ids.token("pkce")
