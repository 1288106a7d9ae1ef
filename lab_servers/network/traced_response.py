"""A response streaming back over the lab network, as its client reads it: closing it files the
exchange in the trace, with what the trace keeps of each body (`BodyTap`), whether the body was
read to its end or not, and why the connection ended early, if it did."""

from __future__ import annotations

from typing import Any

from ..trace import BodyTap, Trace
from .asgi import StreamedResponse
from .http1 import ServerDisconnected


class TracedResponse:
    """A response streaming back over the lab network; closing it files the exchange in the trace
    with what the trace keeps of each body (`BodyTap`)."""

    def __init__(
        self, trace: Trace, common: dict[str, Any], address: str, request: BodyTap, response: StreamedResponse
    ) -> None:
        self.status, self.headers = response.status, response.headers
        self._trace, self._common, self._address = trace, common, address
        self._request, self._response = request, response
        self._body = BodyTap()
        self._closed = False
        self._error: str | None = None

    # What a reader is raised when the connection ends before the body does (`ServerDisconnected`):
    # the transports set their client's own class, as it reads a body cut short off a socket.
    disconnected: type[Exception] = ServerDisconnected

    def __aiter__(self) -> TracedResponse:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._response.__anext__()
        except ServerDisconnected as exc:
            self._error = str(exc)
            raise self.disconnected(self._error) from None
        self._body.add(chunk)
        return chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._response.aclose()
        finally:  # filed even if the caller is cancelled while the app ends: the answer came
            if not self._response.complete:
                self._body.stopped_early()
            self._trace.record(
                **self._common,
                request_body=self._request.text(),
                address=self._address,
                status=self.status,
                response_headers=self.headers,
                response_body=self._body.text(),
                error=self._error,
            )
