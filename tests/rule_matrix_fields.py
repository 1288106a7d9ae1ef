"""The rule matrix's checks for a field sent as more than one field line (RFC 9110 §5.2, §5.3),
listed in `tests/test_rule_matrix.py`'s RULES. A singleton (no list in its definition) sent twice
has no value: refused with 400 (an Origin: 403) naming §5.3, whichever line comes first, never
one of them picked. A list's lines read as their combination, in order. What the lab lets through
is `REPEATS_KEPT` (`tests/rule_matrix.py`), with the sentence that lets it go."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from lab_servers import Lab

from .rule_matrix import Endpoint, send, valid_token


def _content_type(endpoint: Endpoint) -> str:
    return "application/json" if endpoint.json_body is not None else "application/x-www-form-urlencoded"


def _other_basic(endpoint: Endpoint) -> str:
    assert endpoint.basic is not None
    return httpx.BasicAuth(endpoint.basic[0], "not-the-secret")._auth_header


async def _refused_either_way(
    lab: Lab, endpoint: Endpoint, name: str, values: tuple[str, str], status: int = 400, token: str | None = "valid"
) -> None:
    for pair in (values, values[::-1]):
        response = await send(lab, endpoint, headers=[(name, value) for value in pair], token=token)
        assert response.status_code == status, (name, pair, response.status_code, response.text[:300])
        assert "5.3" in response.text, (name, pair, response.text[:300])  # the description names the rule


async def authorization_once_client_auth(lab: Lab, endpoint: Endpoint) -> None:
    assert endpoint.basic is not None
    right = httpx.BasicAuth(*endpoint.basic)._auth_header
    await _refused_either_way(lab, endpoint, "Authorization", (right, _other_basic(endpoint)))
    await _refused_either_way(lab, endpoint, "Authorization", (right, "Bearer abc"))


async def authorization_once_bearer(lab: Lab, endpoint: Endpoint) -> None:
    # Before, the MCP server and the downstream API took `Bearer <valid>` beside a Basic field and
    # served it: the Basic one went unread where the AS refuses two Authorization fields.
    valid = f"Bearer {valid_token(lab, endpoint)}"
    await _refused_either_way(lab, endpoint, "Authorization", (valid, "Basic eDp5"), token=None)
    await _refused_either_way(lab, endpoint, "Authorization", (valid, valid), token=None)


async def content_type_once(lab: Lab, endpoint: Endpoint) -> None:
    other = "text/plain" if endpoint.json_body is None else "application/x-www-form-urlencoded"
    await _refused_either_way(lab, endpoint, "Content-Type", (_content_type(endpoint), other))


async def content_length_once(lab: Lab, endpoint: Endpoint) -> None:
    # RFC 9110 §8.6, RFC 9112 §6.3: differing Content-Length values leave the framing unknowable.
    content = b"{}" if endpoint.json_body is not None else b"a=1"
    for lengths in (("3", "2"), ("2", "3")):
        headers = [("Content-Type", _content_type(endpoint)), *(("Content-Length", n) for n in lengths)]
        response = await send(lab, endpoint, content=content, headers=headers)
        assert response.status_code == 400, (lengths, response.status_code, response.text[:300])


async def content_encoding_is_a_list(lab: Lab, endpoint: Endpoint) -> None:
    # Content-Encoding = #content-coding (RFC 9110 §8.4): `identity` then `gzip` is gzip.
    headers = [
        ("Content-Type", _content_type(endpoint)),
        ("Content-Encoding", "identity"),
        ("Content-Encoding", "gzip"),
    ]
    response = await send(lab, endpoint, content=b"\x1f\x8b not really gzip", headers=headers)
    assert response.status_code == 415, (response.status_code, response.text[:300])


async def host_once(lab: Lab, endpoint: Endpoint) -> None:
    own = urlsplit(endpoint.url).netloc
    await _refused_either_way(lab, endpoint, "Host", (own, "evil.example"))


async def origin_once(lab: Lab, endpoint: Endpoint) -> None:
    # The MCP endpoint's Origin check (served: BrowserOrigins' too): its own origin beside another.
    own = "https://" + urlsplit(endpoint.url).netloc
    await _refused_either_way(lab, endpoint, "Origin", (own, "https://evil.example"), status=403)
    await _refused_either_way(lab, endpoint, "Origin", (own, own), status=403)


async def protocol_version_once(lab: Lab, endpoint: Endpoint) -> None:
    # `send` adds the endpoint's own version last from 2025-06-18 on; at 2025-03-26, none.
    adds_own = endpoint.lab != "2025-03-26"
    own = endpoint.lab if adds_own else "2025-06-18"
    for pair in ((own, "2025-03-26"), ("2025-03-26", own), (own, own)):
        if adds_own and pair[-1] != own:
            continue
        extra = pair[:-1] if adds_own else pair
        response = await send(lab, endpoint, headers=[("MCP-Protocol-Version", v) for v in extra])
        assert response.status_code == 400 and "5.3" in response.text, (pair, response.status_code, response.text[:300])
        assert response.json()["id"] == endpoint.json_body["id"], response.text[:300]  # judged after the parse


async def repeated_but_kept(lab: Lab, endpoint: Endpoint) -> None:
    # REPEATS_KEPT: a field the server never reads, sent twice, is served (Content-Length lines of
    # one value: test_served_http1.py, where h11 is the first to read them).
    response = await send(lab, endpoint, headers=[("Mcp-Session-Id", "a"), ("Mcp-Session-Id", "b")])
    assert response.status_code == 200, (response.status_code, response.text[:300])


async def accept_is_a_list(lab: Lab, endpoint: Endpoint) -> None:
    # Accept = #( media-range [ weight ] ) (RFC 9110 §12.5.1): two lines read as one, in order.
    # The gate read their combination and the SDK the first line alone: text/event-stream, then
    # application/json, got the SDK's 406.
    plain = await send(lab, endpoint)
    for lines in (("application/json", "text/event-stream"), ("text/event-stream", "application/json")):
        split = await send(lab, endpoint, headers=[("Accept", line) for line in lines])
        assert split.status_code == plain.status_code == 200, (lines, split.status_code, split.text[:300])
