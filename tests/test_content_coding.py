"""A request's content coding (RFC 9110 §8.4): the lab's servers decode none, so a body that
declares one is refused with 415 and `Accept-Encoding: identity` (§15.5.16), before any route
reads it as if it were plain. The MCP endpoint's own case is in test_resource_server_transport."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest

from lab_servers import ISSUER, Lab
from lab_servers.story import IDP_ISSUER, add_enterprise_idp

pytestmark = pytest.mark.anyio

FORM_TYPE = "application/x-www-form-urlencoded"
FORM = urlencode({"grant_type": "client_credentials", "client_id": "x"}).encode()
REGISTRATION = b'{"redirect_uris": ["https://app.example/callback"], "client_name": "coded"}'
AS_BODIES = {
    "/register": ("application/json", REGISTRATION),
    "/authorize/decision": (FORM_TYPE, b"txn=t&decision=approve"),
    "/token": (FORM_TYPE, FORM),
    "/revoke": (FORM_TYPE, b"token=t"),
    "/introspect": (FORM_TYPE, b"token=t"),
}


async def post_coded(lab: Lab, url: str, body: bytes, content_type: str, coding: str) -> httpx.Response:
    async with lab.httpx_client() as http:
        return await http.post(url, content=body, headers={"Content-Type": content_type, "Content-Encoding": coding})


def assert_refused_for_its_coding(response: httpx.Response, coding: str) -> None:
    assert response.status_code == 415
    assert response.headers["accept-encoding"] == "identity"
    body = response.json()
    assert body["error"] == "invalid_request"
    assert f"Content-Encoding is '{coding}'" in body["error_description"]
    assert "RFC 9110 section 8.4" in body["error_description"]


@pytest.mark.parametrize("path", list(AS_BODIES))
async def test_every_authorization_server_endpoint_refuses_a_gzipped_body_with_415(lab: Lab, path: str) -> None:
    # Read as plain, the gzipped token request was "client_id is required" and the registration
    # "not valid UTF-8": errors about a body the client never sent.
    content_type, body = AS_BODIES[path]
    response = await post_coded(lab, f"{ISSUER}{path}", gzip.compress(body), content_type, "gzip")
    assert_refused_for_its_coding(response, "gzip")


async def test_a_coded_body_sent_in_chunks_is_refused_like_one_with_a_length(lab: Lab) -> None:
    # RFC 9112 §6: a Transfer-Encoding signals a body as a Content-Length does; one streamed in
    # chunks, its length unknown when it starts, has content a coding applies to all the same.
    async def chunks() -> AsyncIterator[bytes]:
        yield gzip.compress(FORM)

    async with lab.httpx_client() as http:
        headers = {"Content-Type": FORM_TYPE, "Content-Encoding": "gzip"}
        response = await http.post(f"{ISSUER}/token", content=chunks(), headers=headers)
    sent = response.request.headers
    assert sent["transfer-encoding"] == "chunked" and "content-length" not in sent
    assert_refused_for_its_coding(response, "gzip")


@pytest.mark.parametrize("coding", ["br", "x-unknown", "gzip, identity"])
async def test_a_plain_body_labelled_with_a_coding_is_not_read_as_plain(lab: Lab, coding: str) -> None:
    response = await post_coded(lab, f"{ISSUER}/register", REGISTRATION, "application/json", coding)
    assert_refused_for_its_coding(response, coding)
    assert lab.registrations == {}  # nothing was registered from it


async def test_the_enterprise_idps_token_endpoint_refuses_a_coding_like_the_authorization_server(lab: Lab) -> None:
    add_enterprise_idp(lab)
    response = await post_coded(lab, f"{IDP_ISSUER}/token", gzip.compress(FORM), FORM_TYPE, "gzip")
    assert_refused_for_its_coding(response, "gzip")


@pytest.mark.parametrize("coding", ["identity", "", "IDENTITY"])
async def test_identity_is_no_coding_and_the_request_is_served(lab: Lab, coding: str) -> None:
    # §12.5.3: "identity" means no encoding; a sender naming it applied none.
    response = await post_coded(lab, f"{ISSUER}/register", REGISTRATION, "application/json", coding)
    assert response.status_code == 201


@pytest.mark.parametrize("padding", [b"\xa0", b"\x85", b"\x0b"], ids=["NBSP", "NEL", "VT"])
async def test_identity_padded_with_a_space_that_is_not_ows_is_not_identity(lab: Lab, padding: bytes) -> None:
    # OWS is SP and HTAB (§5.6.3); the header is read as Latin-1, where str.strip() also removed
    # NBSP and NEL, and took `identity<NBSP>`, no content coding of any registry, for identity.
    async with lab.httpx_client() as http:
        response = await http.post(
            f"{ISSUER}/register",
            content=REGISTRATION,
            headers={"Content-Type": "application/json", "Content-Encoding": b"identity" + padding},
        )
    assert response.status_code == 415
    assert lab.registrations == {}


async def test_a_request_with_no_content_has_nothing_a_coding_could_apply_to(lab: Lab) -> None:
    # RFC 9112 §6: no Content-Length and no Transfer-Encoding is no content: a GET that names a coding
    # for a body it does not have is served.
    async with lab.httpx_client() as http:
        metadata = await http.get(
            f"{ISSUER}/.well-known/oauth-authorization-server", headers={"Content-Encoding": "gzip"}
        )
        empty = await http.post(
            f"{ISSUER}/token", headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
        )
    assert metadata.status_code == 200
    assert empty.status_code == 400 and "Content-Encoding" not in empty.json()["error_description"]
