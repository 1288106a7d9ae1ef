"""The AS's routing refusals in OAuth's shape (RFC 6749 §5.2: `error` and `error_description`
wherever a client lands): a method the endpoint does not take is 405 naming the methods it does
(RFC 9110 §15.5.6, Allow), sorted so a rerun gives the same bytes."""

from __future__ import annotations

import pytest

from lab_servers import ISSUER, Lab

pytestmark = pytest.mark.anyio


async def test_a_method_an_endpoint_does_not_take_is_405_naming_those_it_does(lab: Lab) -> None:
    path = "/.well-known/oauth-authorization-server"
    async with lab.httpx_client() as http:
        response = await http.post(f"{ISSUER}{path}")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"POST is not allowed on {path}; use GET, HEAD (RFC 9110 section 15.5.6)",
    }


async def test_a_head_is_answered_as_its_get_would_be_without_the_body(lab: Lab) -> None:
    # RFC 9110 §9.3.2: HEAD is GET without content, its fields (Content-Length) the same; so the
    # 405 for HEAD /token carries GET's description, whose length the header states.
    async with lab.httpx_client() as http:
        get = await http.get(f"{ISSUER}/token")
        head = await http.head(f"{ISSUER}/token")
    assert (get.status_code, head.status_code) == (405, 405) and head.content == b""
    assert get.json()["error_description"].startswith("GET is not allowed on /token; use POST")
    assert head.headers["content-length"] == get.headers["content-length"] and head.headers["allow"] == "POST"


async def test_a_path_without_an_endpoint_is_404_in_oauths_shape(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.get(f"{ISSUER}/oauth/token")
    assert response.status_code == 404
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "this authorization server has no endpoint at /oauth/token (RFC 8414 section 2 lists them)",
    }
