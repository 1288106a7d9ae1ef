"""A registration's lists past the lab's limits (metadata_limits.py) are refused with the RFC 7591
§3.2.2 code for the field: invalid_redirect_uri for redirect_uris (test_adversarial_as.py),
invalid_client_metadata for every other field, such as contacts."""

from __future__ import annotations

import pytest

from lab_servers import ISSUER, Lab
from lab_servers.authorization_server.metadata_limits import MAX_LIST_ITEMS, MAX_NAME_CHARS

pytestmark = pytest.mark.anyio


async def test_too_many_contacts_are_invalid_client_metadata_naming_the_limit(lab: Lab) -> None:
    # RFC 7591 §3.2.2: invalid_client_metadata, "the value of one of the client metadata fields
    # is invalid and the server has rejected this request".
    contacts = [f"ops{i}@app.example" for i in range(MAX_LIST_ITEMS + 1)]
    metadata = {"redirect_uris": ["https://app.example/cb"], "client_name": "n", "contacts": contacts}
    async with lab.httpx_client() as http:
        response = await http.post(f"{ISSUER}/register", json=metadata)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert f"at most {MAX_LIST_ITEMS} are accepted" in response.json()["error_description"]


async def test_a_registration_at_exactly_the_limits_is_accepted(lab: Lab) -> None:
    # The limits are "at most" (README, metadata_limits.py): ten contacts and a 200-character
    # name are registered (201, RFC 7591 §3.2.1), one more of either is refused.
    metadata = {
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "n" * MAX_NAME_CHARS,
        "contacts": [f"ops{i}@app.example" for i in range(MAX_LIST_ITEMS)],
    }
    async with lab.httpx_client() as http:
        response = await http.post(f"{ISSUER}/register", json=metadata)
    assert response.status_code == 201, response.text
