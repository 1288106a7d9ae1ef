"""The store of pending consents and codes: bounded, expiring, and fair between source addresses.
When full, the address holding the most entries gives up its own oldest (ties: the address that
came to hold that many first), checked here against a model that finds it the slow way."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from lab_servers.authorization_server import expiring_store
from lab_servers.authorization_server.expiring_store import ExpiringStore

from .helpers import lines_executed

LIFETIME = 10


@dataclass
class Entry:
    expires_at: int


class Model:
    """The rule written plainly: counts by scanning, and when each address came to hold its count."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: dict[str, tuple[str, int]] = {}  # key → (source, expires_at), oldest first
        self.came_to_count: dict[str, int] = {}  # source → when its count last changed
        self.changes = 0

    def count(self, source: str) -> int:
        return sum(1 for s, _ in self.entries.values() if s == source)

    def counted(self, source: str) -> None:
        self.changes += 1
        self.came_to_count[source] = self.changes

    def remove(self, key: str) -> None:
        source, _ = self.entries.pop(key)
        self.counted(source)

    def put(self, key: str, source: str, now: int) -> None:
        for old in [k for k, (_, exp) in self.entries.items() if exp <= now]:
            self.remove(old)
        while len(self.entries) >= self.max_entries:
            most = max(self.count(s) for s, _ in self.entries.values())
            holders = {s for s, _ in self.entries.values() if self.count(s) == most}
            largest = min(holders, key=lambda s: self.came_to_count[s])
            self.remove(next(k for k, (s, _) in self.entries.items() if s == largest))
        self.entries[key] = (source, now + LIFETIME)
        self.counted(source)


operations = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "put", "delete"]),
        st.sampled_from("abcde"),  # the source of a put
        st.integers(0, 3),  # seconds the clock moves first
        st.integers(0, 50),  # which entry a delete takes
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(max_entries=st.integers(1, 8), ops=operations)
def test_the_store_drops_what_the_rule_says_in_every_sequence(
    max_entries: int, ops: list[tuple[str, str, int, int]]
) -> None:
    store: ExpiringStore[Entry] = ExpiringStore(max_entries)
    model = Model(max_entries)
    now = 0
    for n, (op, source, elapsed, pick) in enumerate(ops):
        now += elapsed
        if op == "put":
            store.put(f"k{n}", Entry(now + LIFETIME), now, source)
            model.put(f"k{n}", source, now)
        elif store:
            key = list(store)[pick % len(store)]
            del store[key]
            model.remove(key)
        assert list(store) == list(model.entries)
        assert len(store) <= max_entries


def test_a_full_store_makes_room_at_a_constant_cost_whatever_the_number_of_addresses() -> None:
    def cost_of_one_put(addresses: int) -> int:
        store: ExpiringStore[Entry] = ExpiringStore(addresses)
        for n in range(addresses):
            store.put(f"k{n}", Entry(100), 0, f"10.0.{n // 256}.{n % 256}")
        with lines_executed(lambda file: file == expiring_store.__file__) as executed:
            store.put("new", Entry(100), 0, "192.0.2.1")
        assert len(store) == addresses and "new" in store
        return executed.count

    assert cost_of_one_put(10) == cost_of_one_put(5_000)


def test_a_key_put_again_is_one_entry_counted_once_for_its_latest_source() -> None:
    store: ExpiringStore[Entry] = ExpiringStore(2)
    for key, source in (("k", "a"), ("k", "b"), ("x", "c"), ("y", "d"), ("z", "e")):
        store.put(key, Entry(100), 0, source)
    assert list(store) == ["y", "z"]
