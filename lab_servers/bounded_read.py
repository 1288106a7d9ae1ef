"""A response body read to a limit chosen beforehand, on the wire and after decoding.

Whoever reads what a stranger's server sends must stop at a size it chose before the first byte:
reading the whole body and then judging its size protects nothing, as a server that streams
without end has already filled memory. Two readers in the lab meet such servers:

- the authorization server, fetching a URL a client chose (a CIMD document, a `logo_uri`; CIMD
  §8.7: "stop reading at the limit and treat the response as an error");
- the lab client, reading every answer of the servers it is pointed at (in served mode and under
  the conformance suite, servers the lab does not run).

The limit holds for the bytes on the wire AND for the decoded bytes. The raw stream is inflated
here, at most `limit + 1` bytes at a time, never by the HTTP library in one unbounded call: a
5 KB gzip body can inflate to 50 MB (a "gzip bomb"). So a reader asks only for the encodings it
can inflate this way (`ACCEPTED_ENCODINGS`, RFC 9110 §12.5.3) and refuses any other.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import httpx

from .rfc9110 import content_codings

__all__ = ["ACCEPTED_ENCODINGS", "BodyRefused", "read_at_most", "unbind"]

ACCEPTED_ENCODINGS = "gzip, deflate"  # what `read_at_most` can inflate under its own bound
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyRefused(ValueError):
    """A body the reader stopped reading, or cannot decode; `rule` says why."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class _Inflater:
    """A gzip or deflate body, inflated at most `room` bytes at a time. RFC 9110 §8.4.1 defines
    gzip by RFC 1952, where a file is "a series of members" (§2.2), each its own deflate stream:
    the body is every member's data in turn. `deflate` is one zlib stream (RFC 1950). Bytes after
    the last stream are no data of the coding (`zlib.error`): read one member and drop the rest,
    and a body whose trailing bytes were not JSON passed as a valid document."""

    def __init__(self, encoding: str) -> None:
        self._encoding, self._stream = encoding, zlib.decompressobj(_WBITS[encoding])

    @property
    def ended(self) -> bool:
        return self._stream.eof

    def inflate(self, data: bytes, room: int) -> bytes:
        out = b""
        while data and len(out) < room:
            if self._stream.eof:  # a stream has ended: only a gzip member may follow it
                if self._encoding == "deflate":
                    raise zlib.error("data after the end of the zlib stream")
                self._stream = zlib.decompressobj(_WBITS[self._encoding])
            out += self._stream.decompress(data, room - len(out))
            # Cut short at `room`, the rest waits in `unconsumed_tail`: the caller refuses the body.
            data = self._stream.unused_data if self._stream.eof else b""
        return out


async def read_at_most(
    response: httpx.Response, limit: int, what: str, *, rule: str, enough: Callable[[bytearray], bool] | None = None
) -> bytes:
    """The decoded body of a `response` opened as a stream, or `BodyRefused` once more than `limit`
    bytes arrive or would be decoded. `rule` names the limit's source in the refusal. With
    `enough`, reading stops as soon as it says the body so far holds what the reader needs (an
    event stream a server keeps open after the one event the reader waits for)."""
    # Every line, read as the one list they make (RFC 9110 §5.3, §8.4): read as one string (httpx
    # joins the lines with ", "), `identity` then `gzip` was refused as a coding "identity, gzip".
    codings = content_codings(response.headers.get_list("content-encoding"))
    if len(codings) > 1:
        raise BodyRefused(
            f"{what} was sent with Content-Encoding {', '.join(codings)!r}: {len(codings)} codings applied in turn "
            f"(RFC 9110 §5.3, §8.4), where this reader decodes one of those the request offered ({ACCEPTED_ENCODINGS})"
        )
    encoding = codings[0] if codings else "identity"
    if encoding != "identity" and encoding not in _WBITS:
        raise BodyRefused(
            f"{what} was sent with Content-Encoding {encoding!r}, which the request's Accept-Encoding "
            f"({ACCEPTED_ENCODINGS}) did not offer (RFC 9110 §8.4, §12.5.3)"
        )
    inflater = _Inflater(encoding) if encoding in _WBITS else None
    body = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            raise BodyRefused(f"{what} is larger than {limit} bytes ({rule}); reading stopped at the limit")
        try:
            body += inflater.inflate(chunk, limit + 1 - len(body)) if inflater else chunk
        except zlib.error:
            raise BodyRefused(f"{what} is not valid {encoding} data (RFC 9110 §8.4.1)") from None
        if len(body) > limit:
            raise BodyRefused(f"{what} inflates to more than {limit} bytes ({rule}); decoding stopped at the limit")
        if enough is not None and enough(body):
            return bytes(body)
    if inflater is not None and not inflater.ended:
        raise BodyRefused(f"{what} ends inside its {encoding} stream (RFC 9110 §8.4.1)")
    return bytes(body)


def unbind(response: httpx.Response, body: bytes) -> None:
    """After `response`'s stream was read and closed: the bytes read take the stream's place.
    httpx binds the stream to its response and the response to the stream (`BoundAsyncStream`),
    a cycle that only the cyclic GC frees, with the request, headers and URLs hanging off it: 200
    of the 254 objects a handshake left for the collector. Unbound, refcounting frees the lot at
    once (issue 12: 1,000 concurrent handshakes made one full collection fewer)."""
    response.stream = httpx.ByteStream(body)
