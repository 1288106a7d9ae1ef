"""How the MCP server reads the AS's token-exchange answer and the downstream API's (downstream.py):
each failure is a DownstreamError naming the hop and the rule, never a refusal taken for a token
or a success taken for a refusal. The AS and the API are stand-ins (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from lab_servers.determinism import LabClock, SeededIds
from lab_servers.resource_server.downstream import DownstreamCaller, DownstreamError

pytestmark = pytest.mark.anyio
ISSUER = "https://auth.example"
TOKEN_ENDPOINT = f"{ISSUER}/token"
API = "https://api.example"


def caller(token_answer: httpx.Response, api_answer: httpx.Response | None = None) -> DownstreamCaller:
    def answer(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_ENDPOINT:
            return token_answer
        return api_answer or httpx.Response(200, json={"contacts": []})

    return caller_answering(answer)


def caller_answering(answer: Callable[[httpx.Request], httpx.Response]) -> DownstreamCaller:
    """A caller whose AS and API, both stand-ins, answer each request with `answer(request)`."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return DownstreamCaller("mcp-server", TOKEN_ENDPOINT, ISSUER, API, http, LabClock(), SeededIds(0))


async def raised(call: Callable[[], object]) -> str:
    with pytest.raises(DownstreamError) as error:
        await call()  # type: ignore[misc]
    return str(error.value)


async def test_a_refused_exchange_is_reported_with_the_as_s_error_not_taken_for_a_token() -> None:
    # RFC 8693 §2.2.2: a failed exchange is an RFC 6749 §5.2 error response.
    refusal = {"error": "invalid_grant", "error_description": "the subject token expired"}
    downstream = caller(httpx.Response(400, json=refusal))
    message = await raised(lambda: downstream.exchange("user-token"))
    assert message == "token exchange refused: 400 invalid_grant: the subject token expired"
    assert downstream.last_exchange == refusal


async def test_a_successful_exchange_whose_body_is_no_json_is_not_called_a_refusal() -> None:
    # A 200 is the AS's success (RFC 8693 §2.2.1); a body that cannot be read is the AS's fault,
    # named as such, not "token exchange refused".
    downstream = caller(httpx.Response(200, text="<html>oops</html>"))
    message = await raised(lambda: downstream.exchange("user-token"))
    assert "the AS's token-exchange answer" in message and "refused" not in message


async def test_a_refusal_from_a_gateway_without_json_still_says_its_status() -> None:
    downstream = caller(httpx.Response(502, text="<html>Bad Gateway</html>"))
    message = await raised(lambda: downstream.exchange("user-token"))
    assert message.startswith("token exchange refused: 502: the AS's token-exchange answer")


@pytest.mark.parametrize("body", [[1, 2], "token", 7])
async def test_an_answer_that_is_json_but_not_an_object_is_a_downstream_error(body: object) -> None:
    # RFC 8693 §2.2.1 (RFC 6749 §5.1): the token response is a JSON object; so is the lab API's.
    downstream = caller(httpx.Response(200, json=body))
    assert (
        await raised(lambda: downstream.exchange("user-token")) == "the AS's token-exchange answer is not a JSON object"
    )
    downstream = caller(httpx.Response(200, json={"access_token": "t"}), httpx.Response(200, json=body))
    assert await raised(lambda: downstream.get("/contacts", "user-token")) == "the API's answer is not a JSON object"


@pytest.mark.parametrize("failure", [httpx.ConnectError("connection refused"), httpx.ReadTimeout("no answer")])
async def test_an_as_or_api_that_cannot_be_reached_is_a_downstream_error_naming_the_hop(failure: Exception) -> None:
    # Raised inside the tool, the transport's exception became the SDK's bare "Error executing
    # tool list_contacts" (and a traceback in the server's log), the hop and the cause unsaid.
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise failure

    downstream = caller_answering(unreachable)
    named = f"({type(failure).__name__}: {failure})"
    assert (
        await raised(lambda: downstream.exchange("user-token"))
        == f"the AS's token endpoint could not be reached {named}"
    )
    downstream.mode = "passthrough"
    assert await raised(lambda: downstream.get("/contacts", "user-token")) == f"the API could not be reached {named}"
