"""A response field sent in more than one field line, as the lab's clients read it (RFC 9110 §5.3):
the lab client (its MCP transport, its browser, its body reader) and the AS fetching a client
metadata document. A field that is no list (Content-Type §8.3, Location §10.2.2) sent twice is
no value, and is refused naming the rule: httpx joins the lines with ", ", which read as one
value went wherever the joined text led. A list (Content-Encoding §8.4, Cache-Control RFC 9111
§5.2) reads as its lines combined, in order. The servers' side is `test_rule_matrix.py`'s."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from starlette.responses import Response

from lab_servers import CLIENT_METADATA_URL, Lab, StepError, default_client_metadata
from lab_servers.client import ConsentPage
from lab_servers.lab import APP_HOST
from lab_servers.metadata_host import HostedResponse

from .helpers import open_authorization
from .hostile_server import HostileServer, _metadata, _redirect, _run, _tools

pytestmark = pytest.mark.anyio


def _with_lines(response: Response, *lines: tuple[str, str]) -> Response:
    """`response` with these field lines added as they are (a name already there is sent twice)."""
    response.raw_headers += [(name.lower().encode(), value.encode()) for name, value in lines]
    return response


async def test_an_mcp_answer_with_two_content_types_fails_step_7_naming_the_rule(lab: Lab) -> None:
    # Joined, `application/json, text/event-stream` is no media type, and was read as JSON.
    answer = _tools({"structuredContent": {"sub": "alice"}})
    server = HostileServer(mcp=lambda m: _with_lines(answer(m), ("Content-Type", "text/event-stream")))
    with pytest.raises(
        StepError, match=r"^step 7 \(mcp\): the answer carries 2 Content-Type fields; .*RFC 9110 §5\.3, §8\.3"
    ):
        await _run(lab, server, 7)


async def test_an_authorization_redirect_with_two_locations_fails_step_5_naming_the_rule(lab: Lab) -> None:
    # Joined, `https://app.example/cb?code=…, https://evil.example/` read as one relative reference.
    server = HostileServer(
        authorize=lambda request: _with_lines(_redirect(request), ("Location", "https://evil.example/"))
    )
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the redirect carries 2 Location fields; .*§10\.2\.2"):
        await _run(lab, server, 5)


def _coded(*codings: str, body: bytes) -> Response:
    return _with_lines(Response(body, 200, media_type="application/json"), *(("Content-Encoding", c) for c in codings))


async def test_content_encoding_lines_combine_identity_then_gzip_is_gzip(lab: Lab) -> None:
    # RFC 9110 §8.4: Content-Encoding = #content-coding; identity names none (§12.5.3). Read as one
    # string, "identity, gzip" was refused as a coding the request had not offered.
    metadata = gzip.compress(json.dumps(_metadata()).encode())
    client = await _run(lab, HostileServer(as_metadata=_coded("identity", "gzip", body=metadata)), 7)
    assert client.state.whoami == {"sub": "alice"}


async def test_two_codings_applied_in_turn_are_refused_naming_both(lab: Lab) -> None:
    twice = gzip.compress(gzip.compress(json.dumps(_metadata()).encode()))
    with pytest.raises(
        StepError,
        match=r"^step 3 \(as-metadata\): .*Content-Encoding 'gzip, gzip': 2 codings applied in turn \(RFC 9110 §5\.3, §8\.4\)",
    ):
        await _run(lab, HostileServer(as_metadata=_coded("gzip", "gzip", body=twice)), 3)


# The AS reading a client metadata document (CIMD §5, RFC 9111) ----------------------------------


class _Lines(dict[str, str]):
    """Response headers with a name more than once: Starlette writes a response's `items()`."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__(lines)
        self.lines = lines

    def items(self) -> Any:
        return self.lines


def _publish(lab: Lab, lines: list[tuple[str, str]]) -> None:
    body = json.dumps(default_client_metadata()).encode()
    lab.metadata_hosts[APP_HOST].publish_response("/client.json", HostedResponse(body, 200, _Lines(lines)))


async def test_a_document_served_as_json_and_as_html_is_refused_naming_the_rule(lab: Lab) -> None:
    _publish(
        lab, [("Content-Type", "application/json"), ("Content-Type", "text/html"), ("Cache-Control", "max-age=300")]
    )
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and outcome.fields["error"] == "invalid_client", outcome
    assert "2 Content-Type fields" in outcome.fields["error_description"]
    assert "RFC 9110 section 5.3, section 8.3" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


async def test_two_cache_control_lines_combine_and_no_store_in_the_second_is_read(lab: Lab) -> None:
    # RFC 9111 §5.2: Cache-Control = #cache-directive; `max-age=600` then `no-store` is both.
    _publish(
        lab, [("Content-Type", "application/json"), ("Cache-Control", "max-age=600"), ("Cache-Control", "no-store")]
    )
    for _ in range(2):
        assert isinstance(await open_authorization(lab, CLIENT_METADATA_URL), ConsentPage)
    assert len([e for e in lab.trace if e.host == "app.example"]) == 2  # not reused


async def test_two_expires_lines_are_no_date_and_the_document_is_not_reused(lab: Lab) -> None:
    # Expires is one HTTP-date (RFC 9111 §5.3): two are "invalid", "a time in the past" (§4.2.1:
    # of two Expires lines, "the response should be considered stale").
    later = "Thu, 01 Jan 2099 00:00:00 GMT"
    _publish(lab, [("Content-Type", "application/json"), ("Expires", later), ("Expires", later)])
    for _ in range(2):
        assert isinstance(await open_authorization(lab, CLIENT_METADATA_URL), ConsentPage)
    assert len([e for e in lab.trace if e.host == "app.example"]) == 2
