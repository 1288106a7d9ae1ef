"""The logo sniffing of the hardened AS (`logos.py`) by WHATWG MIME Sniffing §6.1, "image type
pattern matching": each raster type a browser recognises is taken with the type the AS finds,
whatever the client's host labels it; a body shorter than a pattern matches no pattern (§4.3's
pattern matching "if input's length is less than pattern's length, return false"); and the
logo the AS serves from its own origin is never cached (found untested by a mutation audit)."""

from __future__ import annotations

import pytest

from lab_servers import ISSUER, Lab
from lab_servers.authorization_server.logos import sniff_raster_image
from lab_servers.metadata_host import HostedResponse

from .helpers import register
from .registered_clients import PUBLIC_CLIENT as DCR

pytestmark = pytest.mark.anyio

RASTER = {
    "png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png"),
    "jpeg": (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg"),
    "gif87a": (b"GIF87a" + b"\x00" * 8, "image/gif"),
    "gif89a": (b"GIF89a" + b"\x00" * 8, "image/gif"),
    # §6.1's WebP pattern masks out bytes 4-7, the RIFF chunk's size: any file size matches.
    "webp": (b"RIFF\x24\x1f\x00\x00WEBPVP8 " + b"\x00" * 8, "image/webp"),
}


@pytest.mark.parametrize("name", list(RASTER))
def test_each_raster_image_type_a_browser_recognises_is_found_by_its_pattern(name: str) -> None:
    body, media_type = RASTER[name]
    assert sniff_raster_image(body) == media_type


@pytest.mark.parametrize("body", [b"\x89P", b"\xff\xd8", b"GIF8", b"RIFF\x00\x00\x00\x00WEB", b""])
def test_a_body_shorter_than_a_pattern_matches_no_pattern(body: bytes) -> None:
    assert sniff_raster_image(body) is None


@pytest.mark.parametrize("name", ["jpeg", "gif87a", "webp"])
async def test_the_hardened_as_takes_each_raster_logo_with_the_type_it_found(lab: Lab, name: str) -> None:
    body, media_type = RASTER[name]
    lab.metadata_hosts["app.example"].publish_response(
        "/logo", HostedResponse(body, 200, {"content-type": "text/html"})
    )
    client_id = (await register(lab, {**DCR, "logo_uri": "https://app.example/logo"})).json()["client_id"]
    async with lab.httpx_client() as http:
        logo = await http.get(f"{ISSUER}/clients/{client_id}/logo")
    assert (logo.status_code, logo.content, logo.headers["content-type"]) == (200, body, media_type)
    # Served from the AS's origin on the client's behalf: no cache keeps it past a change of logo.
    assert logo.headers["cache-control"] == "no-store"


async def test_a_two_byte_logo_is_refused_at_registration_as_no_raster_image(lab: Lab) -> None:
    lab.metadata_hosts["app.example"].publish_response(
        "/logo", HostedResponse(b"\x89P", 200, {"content-type": "image/png"})
    )
    response = await register(lab, {**DCR, "logo_uri": "https://app.example/logo"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert "not a PNG, JPEG, GIF or WebP image" in response.json()["error_description"]
