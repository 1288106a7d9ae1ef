"""How real hosts answer when the lab's AS fetches a client's CIMD document.

Each answer below is one a real host gave (the thread that shows it is named beside it) or one
the rules let a host give. The document is a real client's (VS Code, Claude), served with those
headers at its own URL on a public address. Where the hardened AS refuses an answer, the refusal
is one a spec requires (CIMD -02 §3, §4, §5, §8.7; RFC 8259 §8.1; RFC 9110 §12.5.3) or a lab
policy that says so, and it names the rule; every other answer signs the client in.
"""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from lab_servers import HARDENED, NAIVE, ASPolicy, Lab
from lab_servers.error_text import error_description
from lab_servers.metadata_host import HostedResponse

from .helpers import code_form, get_code, open_authorization, token_request
from .test_real_client_metadata import CLAUDE, VS_CODE

pytestmark = pytest.mark.anyio

PUBLIC = "93.184.216.34"  # a global address (CIMD -02 §8.6 lets the AS fetch it)
VS_CODE_ID = VS_CODE["client_id"]
VS_CODE_REDIRECT = "http://127.0.0.1:33418/"
CLAUDE_ID = CLAUDE["client_id"]
CLAUDE_REDIRECT = "https://claude.ai/api/mcp/auth_callback"


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode()


def host(lab: Lab, client_id: str, answer: HostedResponse, *, address: str = PUBLIC) -> None:
    """The client's own host answers `answer` at the client_id URL's path."""
    parts = urlsplit(client_id)
    lab.add_metadata_host(parts.hostname or "", address).publish_response(parts.path, answer)


async def refusal(lab: Lab, client_id: str, redirect_uri: str) -> str:
    """The hardened AS's error_description, or "" when it shows the consent page."""
    page = await open_authorization(lab, client_id, redirect_uri=redirect_uri)
    return "" if page.is_consent else page.fields["error_description"]


def names(rule: str, description: str) -> bool:
    """Whether `description` names `rule`, as error_description spells it (RFC 6749 §5.2: ASCII)."""
    return error_description(rule) in description


# 1. What real hosts answer: each one signs the client in -----------------------------------------

JSON_UTF8 = "application/json; charset=utf-8"
ANSWERS = {
    # Express's res.json() labels JSON `application/json; charset=utf-8` (mozilla/page-metadata-
    # service#46, 2016-08-11, quotes the header); a parameter changes no media type (RFC 9110
    # §8.3.1), and type, subtype and charset are case-insensitive (§8.3.1, §8.3.2).
    "charset-parameter": HostedResponse(encoded(VS_CODE), 200, {"content-type": JSON_UTF8}),
    "charset-upper-case-no-space": HostedResponse(
        encoded(VS_CODE), 200, {"content-type": "Application/JSON;charset=UTF-8"}
    ),
    # CIMD -02 §4: "MAY also be served with more specific content types … application/<AS-defined>+json".
    "more-specific-json-type": HostedResponse(encoded(VS_CODE), 200, {"content-type": "application/cimd+json"}),
    # An Express server's answer (bluesky-social/atproto#3096, 2024-11-25, quotes bsky.social's
    # `vary: accept-encoding`, `transfer-encoding: chunked`, `content-encoding: br`, sent to a Node
    # client that offered br). This AS offers gzip and deflate (RFC 9110 §12.5.3) and inflates
    # within its own cap (CIMD -02 §8.7).
    "gzip-with-vary": HostedResponse(
        gzip.compress(encoded(VS_CODE)),
        200,
        {"content-type": JSON_UTF8, "content-encoding": "gzip", "vary": "Accept-Encoding"},
    ),
    # Validators and CDN fields the AS has no use for: it never revalidates, so an ETag, a
    # Last-Modified or an Age older than max-age only make the document stale (RFC 9111 §4.2),
    # never refused.
    "cdn-freshness-fields": HostedResponse(
        encoded(VS_CODE),
        200,
        {
            "content-type": JSON_UTF8,
            "cache-control": "public, max-age=0, must-revalidate",
            "etag": '"5f1e"',
            "last-modified": "Wed, 21 Oct 2026 07:28:00 GMT",
            "age": "7200",
            "expires": "0",
        },
    ),
    # A document written with CRLF line ends and a final newline is still one JSON text (RFC 8259
    # §2: CR and LF are insignificant whitespace).
    "crlf-and-final-newline": HostedResponse(
        encoded(VS_CODE).replace(b"\n", b"\r\n") + b"\r\n", 200, {"content-type": "application/json"}
    ),
}


@pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])
@pytest.mark.parametrize("answer", list(ANSWERS.values()), ids=list(ANSWERS))
async def test_a_real_hosts_answer_signs_its_client_in(answer: HostedResponse, policy: ASPolicy) -> None:
    async with Lab(seed=0, policy=policy) as lab:
        host(lab, VS_CODE_ID, answer)
        code = await get_code(lab, VS_CODE_ID, redirect_uri=VS_CODE_REDIRECT)
        token = await token_request(lab, code_form(VS_CODE_ID, code, redirect_uri=VS_CODE_REDIRECT))
    assert token.status_code == 200, token.text


async def test_a_document_served_with_vary_star_is_fetched_again_for_each_authorization(lab: Lab) -> None:
    # RFC 9111 §4.1: "A stored response with a Vary header field value containing a member '*'
    # always fails to match"; CIMD -02 §5: the AS SHOULD respect HTTP caching. It kept no Vary and
    # reused the document for its max-age.
    headers = {"content-type": JSON_UTF8, "cache-control": "max-age=300", "vary": "*"}
    host(lab, VS_CODE_ID, HostedResponse(encoded(VS_CODE), 200, headers))
    for _ in range(2):
        assert await refusal(lab, VS_CODE_ID, VS_CODE_REDIRECT) == ""
    assert len([e for e in lab.trace if e.host == urlsplit(VS_CODE_ID).hostname]) == 2
    assert lab.cimd_cache == {}


async def test_a_document_sent_in_chunks_is_read_whole(lab: Lab) -> None:
    # Transfer-Encoding: chunked (RFC 9112 §7.1), as the Express host of atproto#3096 sent: the
    # size cap counts what arrives (CIMD -02 §8.7), with no Content-Length to trust beforehand.
    body = encoded(VS_CODE)

    async def chunked(scope: Scope, receive: Receive, send: Send) -> None:
        async def pieces() -> Any:
            for start in range(0, len(body), 256):
                yield body[start : start + 256]

        await StreamingResponse(pieces(), media_type=JSON_UTF8)(scope, receive, send)

    lab.network.add_host("vscode.dev", PUBLIC, chunked)
    assert await refusal(lab, VS_CODE_ID, VS_CODE_REDIRECT) == ""


async def test_a_host_with_only_an_ipv6_address_is_fetched(lab: Lab) -> None:
    # A global unicast address (2000::/3, RFC 4291) is no special-use address (CIMD -02 §8.6).
    host(
        lab,
        VS_CODE_ID,
        HostedResponse(encoded(VS_CODE), 200, {"content-type": JSON_UTF8}),
        address="2606:4700::6810:84e5",
    )
    assert await refusal(lab, VS_CODE_ID, VS_CODE_REDIRECT) == ""


async def test_a_document_of_exactly_the_cap_is_read(lab: Lab) -> None:
    # CIMD -02 §8.7: "The recommended maximum size to read is 5 kilobytes"; this AS reads 5120
    # bytes. Trailing whitespace is insignificant (RFC 8259 §2), so the document is CLAUDE's.
    body = encoded(CLAUDE)
    host(lab, CLAUDE_ID, HostedResponse(body + b" " * (5120 - len(body)), 200, {"content-type": "application/json"}))
    assert await refusal(lab, CLAUDE_ID, CLAUDE_REDIRECT) == ""


@pytest.mark.parametrize(
    ("cache_control", "fetches"),
    [
        # Okta's discovery answer to VS Code (microsoft/vscode#311305, 2026-04-19): reused for a day
        # (RFC 9111 §4.2.1; CIMD -02 §5.2, §9: respect caching, fetch less often).
        ("max-age=86400, must-revalidate", 1),
        # A static host's "always revalidate": this AS never revalidates, so it fetches again.
        ("public, max-age=0, must-revalidate", 2),
    ],
)
async def test_a_hosts_cache_control_decides_how_often_the_document_is_fetched(
    lab: Lab, cache_control: str, fetches: int
) -> None:
    answer = HostedResponse(encoded(VS_CODE), 200, {"content-type": JSON_UTF8, "cache-control": cache_control})
    host(lab, VS_CODE_ID, answer)
    for _ in range(2):
        assert await refusal(lab, VS_CODE_ID, VS_CODE_REDIRECT) == ""
    assert len([event for event in lab.trace if event.host == "vscode.dev"]) == fetches


async def test_a_client_id_with_an_upper_case_host_is_its_own_exact_string(lab: Lab) -> None:
    # CIMD -02 §3, §4: simple string comparison (RFC 3986 §6.2.1). A document naming the URL as
    # the client sends it matches it; the host's case only matters to the fetch, which ignores it.
    client_id = "https://VSCode.dev/oauth/client-metadata.json"
    host(lab, client_id, HostedResponse(encoded({**VS_CODE, "client_id": client_id}), 200, {"content-type": JSON_UTF8}))
    assert await refusal(lab, client_id, VS_CODE_REDIRECT) == ""


# 2. What real hosts answer that a spec refuses: refused, naming the rule --------------------------

REFUSED = {
    # claude.com/oauth/mcp-oauth-client-metadata answered 404 after the claude.ai → claude.com
    # move, and WorkOS AuthKit refused the client (anthropics/claude-ai-mcp#518, 2026-07-01).
    "host-answers-404": (
        "https://claude.com/oauth/mcp-oauth-client-metadata",
        HostedResponse(b"<!DOCTYPE html><title>404</title>", 404, {"content-type": "text/html"}),
        "only 200 OK is accepted (CIMD §5)",
    ),
    # A WAF or bot challenge answering the AS's fetch: cloudflare/workers-oauth-provider#248
    # (2026-07-27) lists "WAF blocks" among the fetch failures it now reports.
    "waf-challenge-403": (
        VS_CODE_ID,
        HostedResponse(b"<!DOCTYPE html><title>Just a moment...</title>", 403, {"content-type": "text/html"}),
        "only 200 OK is accepted (CIMD §5)",
    ),
    # npmx.dev's document URL redirected, and Bluesky's AS refused it: "unexpected redirect"
    # (npmx-dev/npmx.dev#1877, 2026-03-03). A host adding a trailing slash does the same.
    "host-adds-a-trailing-slash": (
        VS_CODE_ID,
        HostedResponse(b"", 308, {"location": VS_CODE_ID + "/"}),
        "redirects MUST NOT be followed (CIMD §5)",
    ),
    # RFC 8259 §8.1: a sender "MUST NOT add a byte order mark"; a parser MAY ignore one or refuse.
    "byte-order-mark": (
        VS_CODE_ID,
        HostedResponse(b"\xef\xbb\xbf" + encoded(VS_CODE), 200, {"content-type": "application/json"}),
        "byte order mark, which a sender MUST NOT add (RFC 8259 §8.1)",
    ),
    # CIMD -02 §8.7: stop reading at the limit (5 KB) and treat the response as an error; what is
    # read is the decoded document, so a gzip answer is judged by what it inflates to.
    "one-byte-over-the-cap": (
        VS_CODE_ID,
        HostedResponse(b" " * (5121 - len(encoded(VS_CODE))) + encoded(VS_CODE), 200, {"content-type": "application/json"}),
        "larger than 5120 bytes (CIMD §8.7)",
    ),
    "gzip-inflating-over-the-cap": (
        VS_CODE_ID,
        HostedResponse(gzip.compress(encoded({**VS_CODE, "client_uri": "x" * 6000})), 200,
                       {"content-type": "application/json", "content-encoding": "gzip"}),
        "inflates to more than 5120 bytes (CIMD §8.7)",
    ),
    # The AS offered gzip and deflate; br is a coding it asked not to get and cannot inflate
    # within its cap (RFC 9110 §12.5.3).
    "brotli-not-offered": (
        VS_CODE_ID,
        HostedResponse(b"\x1b\x00\x00", 200, {"content-type": "application/json", "content-encoding": "br"}),
        "did not offer (RFC 9110 §8.4, §12.5.3)",
    ),
    # A label that declares another format: the lab's policy, which says so.
    "html-label": (
        VS_CODE_ID,
        HostedResponse(encoded(VS_CODE), 200, {"content-type": "text/html; charset=utf-8"}),
        "not a JSON media type (lab policy)",
    ),
    # raw.githubusercontent.com labels a .json file `text/plain; charset=utf-8`, "which some IDPs
    # don't like" (nicobailon/pi-mcp-adapter#571, 2026-09-13). CIMD -02 §4 names no media type;
    # the hardened AS refuses it as lab policy, and says why: such a host serves anyone's files.
    "raw-file-host-text-plain": (
        VS_CODE_ID,
        HostedResponse(encoded(VS_CODE), 200, {"content-type": "text/plain; charset=utf-8"}),
        "would lend its hostname to a document its owner never published",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("client_id", "answer", "rule"), list(REFUSED.values()), ids=list(REFUSED))
async def test_an_answer_a_spec_refuses_is_refused_naming_the_rule(
    lab: Lab, client_id: str, answer: HostedResponse, rule: str
) -> None:
    host(lab, client_id, answer)
    assert names(rule, await refusal(lab, client_id, VS_CODE_REDIRECT))
    assert client_id not in lab.cimd_cache  # CIMD -02 §5.2: never cache an error


async def test_the_naive_policy_reads_a_raw_file_hosts_text_plain_document() -> None:
    # CIMD -02 §4 names no media type; the JSON media type is the hardened AS's own rule.
    async with Lab(seed=0, policy=NAIVE) as lab:
        host(lab, VS_CODE_ID, REFUSED["raw-file-host-text-plain"][1])
        code = await get_code(lab, VS_CODE_ID, redirect_uri=VS_CODE_REDIRECT)
        answer = await token_request(lab, code_form(VS_CODE_ID, code, redirect_uri=VS_CODE_REDIRECT))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("sent", "in_document"),
    [
        # CIMD -02 §3's own example: https://example.com:443/client is not https://example.com/client.
        ("https://vscode.dev:443/oauth/client-metadata.json", VS_CODE_ID),
        ("https://VSCode.dev/oauth/client-metadata.json", VS_CODE_ID),
        (VS_CODE_ID, VS_CODE_ID + "/"),
    ],
    ids=["explicit-default-port", "upper-case-host", "trailing-slash-in-document"],
)
async def test_a_client_id_differing_from_the_document_only_by_normalisation_is_refused(
    lab: Lab, sent: str, in_document: str
) -> None:
    # CIMD -02 §4: the document's client_id MUST match the URL the AS fetched, by simple string
    # comparison (RFC 3986 §6.2.1): no case, port or slash normalisation.
    host(lab, sent, HostedResponse(encoded({**VS_CODE, "client_id": in_document}), 200, {"content-type": JSON_UTF8}))
    assert "is not exactly the URL it was fetched from" in await refusal(lab, sent, VS_CODE_REDIRECT)


async def test_a_client_id_with_a_query_is_refused_by_the_hardened_policy_which_says_so(lab: Lab) -> None:
    # CIMD -02 §3: the URL "SHOULD NOT" contain a query; a document chosen by its query could be
    # configured at request time (oauth-wg/draft-ietf-oauth-client-id-metadata-document#89,
    # 2026-07-10). No real client's client_id found has one.
    client_id = VS_CODE_ID + "?v=2"
    host(lab, client_id, HostedResponse(encoded({**VS_CODE, "client_id": client_id}), 200, {"content-type": JSON_UTF8}))
    assert names("SHOULD NOT contain a query (§3); the hardened policy refuses it",
                 await refusal(lab, client_id, VS_CODE_REDIRECT))  # fmt: skip
