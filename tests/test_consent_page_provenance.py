"""What the consent page says about how the AS knows the client (consent.py): the one place a user
can tell an impostor from the real client. A CIMD client's identity is its client_id's host
(CIMD -02 §8.5); a DCR client's name is self-asserted, so the page says it is unverified
(RFC 7591 §5); only a client the administrator registered is called pre-registered."""

from __future__ import annotations

import re

from lab_servers import MCP_URL
from lab_servers.authorization_server.clients import Client, ClientKind
from lab_servers.authorization_server.consent import identity_lines, render_consent_page

METADATA = {"redirect_uris": ["https://app.example/cb"], "client_name": "Notes App"}
CLIENT_IDS: dict[ClientKind, str] = {
    "cimd": "https://app.example/client.json",
    "dcr": "c-0123",
    "preregistered": "notes-cli",
}


def page_of(kind: ClientKind) -> str:
    client = Client(CLIENT_IDS[kind], kind, METADATA)
    return render_consent_page(
        client, txn="t", redirect_uri="https://app.example/cb", scope="notes:read", resource=MCP_URL,
        action="/authorize/decision", user="alice",
    )  # fmt: skip


def shown(page: str, field: str) -> str:
    """The text of the page's element marked data-field=`field` (the page's style sheet names the
    class "unverified" too, so the page as a whole is no test of what it says)."""
    match = re.search(rf'data-field="{field}">(.*?)</p>', page, re.DOTALL)
    assert match, field
    return match.group(1)


def test_a_dynamically_registered_clients_name_is_shown_as_unverified_never_as_pre_registered() -> None:
    # RFC 7591 §5: anyone can register any client_name; the page must not lend it the
    # administrator's authority.
    name, provenance = identity_lines(Client(CLIENT_IDS["dcr"], "dcr", METADATA))
    assert name == "Notes App"
    assert provenance.startswith("unverified: this name was self-declared")
    page = page_of("dcr")
    assert shown(page, "provenance").startswith("unverified: this name was self-declared")
    assert "(unverified name)" in shown(page, "who") and "pre-registered" not in page
    assert "Anyone can register any name" in shown(page, "warning")


def test_a_pre_registered_client_is_called_so_and_neither_unverified_nor_a_verified_origin() -> None:
    _, provenance = identity_lines(Client(CLIENT_IDS["preregistered"], "preregistered", METADATA))
    assert provenance == "pre-registered by the administrator of this authorization server"
    page = page_of("preregistered")
    assert shown(page, "provenance") == "pre-registered by the administrator of this authorization server."
    assert "unverified" not in shown(page, "who")


def test_a_cimd_clients_provenance_names_the_host_serving_its_document() -> None:
    # CIMD -02 §8.5: the AS shows the client_id's hostname, the origin that vouches for the name.
    _, provenance = identity_lines(Client(CLIENT_IDS["cimd"], "cimd", METADATA))
    assert provenance == "verified origin: the client_id is a document hosted at app.example"
    page = page_of("cimd")
    assert shown(page, "provenance") == f"{provenance}."
    assert 'class="host">app.example</span>' in shown(page, "who") and "unverified" not in shown(page, "who")
