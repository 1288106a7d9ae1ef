"""The AS's replay sets of spent JWT identifiers (RFC 7523 §3 item 7): kept until each JWT's own
`exp`, forgotten in the order they expire, at a cost that does not grow with what is kept."""

from __future__ import annotations

from lab_servers.authorization_server import spent_jtis
from lab_servers.authorization_server.spent_jtis import SpentJtis

from .helpers import lines_executed


def test_jtis_are_forgotten_in_the_order_their_jwts_expire_not_the_order_they_were_spent() -> None:
    spent = SpentJtis("client assertions")
    for jti, exp in [("a", 300), ("b", 10), ("c", 60), ("d", 30)]:
        spent.spend(("client", jti), exp, now=0)
    spent.make_room(now=30)
    assert set(spent) == {("client", "a"), ("client", "c")}


def test_spending_a_jti_costs_the_same_however_many_are_remembered() -> None:
    # The AS scanned the whole set on every authentication: a flood of assertions, each one kept
    # for up to 300 s, made each one cost more than the last.
    work = []
    for remembered in (10, 5_000):
        spent = SpentJtis("client assertions")
        for n in range(remembered):
            spent.spend(("client", f"j{n}"), 1_000 + n % 300, now=0)
        with lines_executed(lambda file: file == spent_jtis.__file__) as executed:
            spent.spend(("client", "next"), 1_000, now=1)
        work.append(executed.count)
    assert work[0] == work[1]
