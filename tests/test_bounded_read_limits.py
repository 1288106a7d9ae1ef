"""read_at_most at its edges: a body of exactly the limit is read whole, on the wire and inflated,
one byte more is refused (CIMD -02 §8.7: "stop reading at the limit and treat the response as an
error"), and a body with more than one content coding is refused by name (RFC 9110 §8.4: codings
are applied in turn; the reader decodes one of those it offered)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from lab_servers.bounded_read import BodyRefused, read_at_most

pytestmark = pytest.mark.anyio
LIMIT = 64


class Chunks(httpx.AsyncByteStream):
    def __init__(self, body: bytes, size: int = 10) -> None:
        self.pieces = [body[i : i + size] for i in range(0, len(body), size)]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


async def read(body: bytes, *codings: str, size: int = 10) -> bytes:
    headers = [("content-encoding", coding) for coding in codings]
    response = httpx.Response(200, headers=headers, stream=Chunks(body, size))
    return await read_at_most(response, LIMIT, "the document", rule="lab limit")


async def test_a_body_of_exactly_the_limit_is_read_whole() -> None:
    assert await read(b"a" * LIMIT) == b"a" * LIMIT


async def test_a_body_one_byte_over_the_limit_is_refused_naming_the_limit() -> None:
    with pytest.raises(BodyRefused, match=f"larger than {LIMIT} bytes \\(lab limit\\)") as refused:
        await read(b"a" * (LIMIT + 1))
    assert str(refused.value) == refused.value.rule  # printable as the rule it names


async def test_a_gzip_body_inflating_to_exactly_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    assert await read(gzip.compress(b"z" * LIMIT), "gzip") == b"z" * LIMIT
    with pytest.raises(BodyRefused, match=f"inflates to more than {LIMIT} bytes"):
        await read(gzip.compress(b"z" * (LIMIT + 1)), "gzip")


@pytest.mark.parametrize("lines", [("gzip, gzip",), ("gzip", "gzip")], ids=["one-line", "two-lines"])
async def test_two_content_codings_are_refused_by_name(lines: tuple[str, ...]) -> None:
    # RFC 9110 §5.3: two field lines are one list, as "gzip, gzip" is.
    with pytest.raises(BodyRefused, match="'gzip, gzip': 2 codings applied in turn"):
        await read(gzip.compress(gzip.compress(b"x")), *lines)


async def test_a_gzip_body_cut_short_is_refused_not_read_as_what_came() -> None:
    # RFC 9110 §8.4.1: gzip is the GZIP file format (RFC 1952), which ends with its trailer; a
    # stream that ends before it is no gzip body, and its first bytes are not the document.
    whole = gzip.compress(b"a complete document")
    with pytest.raises(BodyRefused, match="ends inside its gzip stream"):
        await read(whole[: len(whole) - 4], "gzip")


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_body_labelled_with_a_coding_it_is_not_in_is_refused_as_such(coding: str) -> None:
    # RFC 9110 §8.4.1: the label says how the bytes were coded; plain text under it is no body
    # of that coding, refused for what it is rather than for ending early.
    with pytest.raises(BodyRefused, match=f"is not valid {coding} data"):
        await read(b"plain text, not coded", coding)


@pytest.mark.parametrize("size", [10, len(gzip.compress(b'{"a": 1}'))], ids=["mid-member", "member-per-chunk"])
async def test_a_gzip_body_is_every_member_in_turn(size: int) -> None:
    # RFC 1952 §2.2: "A gzip file consists of a series of members". Reading only the first, a
    # document followed by a member holding `"x"` passed as the document, and was cached.
    body = gzip.compress(b'{"a": 1}') + gzip.compress(b'"x"')
    assert await read(body, "gzip", size=size) == b'{"a": 1}"x"'
    with pytest.raises(BodyRefused, match=f"inflates to more than {LIMIT} bytes"):
        await read(gzip.compress(b"z" * 40) + gzip.compress(b"z" * 25), "gzip")


@pytest.mark.parametrize(("coding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
async def test_bytes_after_the_coded_stream_are_refused_not_dropped(
    coding: str, compress: Callable[[bytes], bytes]
) -> None:
    # RFC 1952 §2.3.1.2: a decompressor must report an error where a member's ID1, ID2 or CM
    # is wrong; deflate (RFC 1950) is one stream with nothing after it.
    with pytest.raises(BodyRefused, match=f"is not valid {coding} data"):
        await read(compress(b'{"a": 1}') + b"GARBAGE-NOT-CODED", coding)
