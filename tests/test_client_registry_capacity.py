"""The client store at its capacity (the lab's model of a full disk, notebook 05's DCR sprawl): it
holds exactly `capacity` records, refuses the next new one, and still takes an update to one it
holds (a record replaced is no record more)."""

from __future__ import annotations

import pytest

from lab_servers.authorization_server.clients import Client, ClientRegistry, RegistryFull


def test_a_registry_holds_exactly_its_capacity_and_refuses_one_more() -> None:
    registry = ClientRegistry(capacity=2)
    registry.add(Client("tpc_a", "dcr", {}))
    registry.add(Client("tpc_b", "dcr", {}))
    with pytest.raises(RegistryFull, match="full \\(2 records\\)"):
        registry.add(Client("tpc_c", "dcr", {}))
    registry.add(Client("tpc_a", "dcr", {"client_name": "renamed"}))
    renamed = registry.get("tpc_a")
    assert len(registry) == 2 and renamed is not None and renamed.client_name == "renamed"


def test_a_removed_client_is_forgotten_and_leaves_room() -> None:
    # A record removed (an administrator's cleanup, security/per_server_secrets.py) is no client
    # any more, and a full store takes a new one in its place.
    registry = ClientRegistry(capacity=1)
    registry.add(Client("tpc_a", "dcr", {}))
    registry.remove("tpc_a")
    registry.add(Client("tpc_b", "dcr", {}))
    assert (registry.get("tpc_a"), len(registry)) == (None, 1)
