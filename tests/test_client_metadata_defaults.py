"""What the AS reads from a client's metadata when a field is omitted (RFC 7591 §2) or holds
members of the wrong type: the registered defaults, and only the strings of a list."""

from __future__ import annotations

from lab_servers.authorization_server.clients import Client


def test_omitted_grant_types_mean_authorization_code_only() -> None:
    # RFC 7591 §2: "If omitted, the default behavior is that the client will use only the
    # authorization_code Grant Type."
    assert Client("tpc_a", "dcr", {}).grant_types == ["authorization_code"]
    assert Client("tpc_a", "dcr", {"grant_types": "refresh_token"}).grant_types == ["authorization_code"]


def test_an_omitted_auth_method_is_client_secret_basic_for_a_registration_and_none_for_a_document() -> None:
    # RFC 7591 §2: the default is client_secret_basic; CIMD -02 §4.1 forbids shared secrets in a
    # document, so a document that names no method is a public client.
    assert Client("tpc_a", "dcr", {}).token_endpoint_auth_method == "client_secret_basic"
    assert Client("https://app.example/c.json", "cimd", {}).token_endpoint_auth_method == "none"


def test_only_the_strings_of_a_list_are_read() -> None:
    metadata = {"redirect_uris": ["https://app.example/cb", 7], "grant_types": ["authorization_code", None]}
    client = Client("tpc_a", "dcr", metadata)
    assert (client.redirect_uris, client.grant_types) == (["https://app.example/cb"], ["authorization_code"])
