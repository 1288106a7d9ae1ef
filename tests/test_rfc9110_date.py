"""RFC 9110 §6.6.1 Date: "An origin server with a clock ... MUST generate a Date header field in
all 2xx (Successful), 3xx (Redirection), and 4xx (Client Error) responses". Served, uvicorn adds
it; in process, the lab network adds it as uvicorn would, from the lab's clock (`LabClock`), so a
scenario's bytes still repeat run to run. The apps themselves write none, so that served answers
do not carry two."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab_servers import Lab, default_client_metadata
from lab_servers.metadata_host import HostedResponse
from lab_servers.network.asgi import DateField
from lab_servers.rfc9110 import http_date, imf_fixdate

from .emitted_http import IMF_FIXDATE, date_problems

pytestmark = pytest.mark.anyio
JANUARY_FIRST = "Thu, 01 Jan 2026 00:00:00 GMT"  # the lab clock's start (determinism.DEFAULT_START)


def dates(headers: Any) -> list[str]:
    return [value for name, value in headers if name.lower() == "date"]


async def test_every_answer_of_a_handshake_carries_one_date_from_the_lab_clock(lab: Lab) -> None:
    await lab.connect("dcr")
    lab.clock.advance(3600)
    await lab.connect("cimd")
    classes = {(e.status or 0) // 100 for e in lab.trace.exchanges}
    assert {2, 3, 4} <= classes  # 2xx, 3xx and 4xx, each of which MUST carry one
    for exchange in lab.trace.exchanges:
        assert date_problems(exchange, exchange.at) == [], exchange.summary()
    assert dates(lab.trace.exchanges[0].response_headers) == [JANUARY_FIRST]
    assert dates(lab.trace.exchanges[-1].response_headers) == ["Thu, 01 Jan 2026 01:00:00 GMT"]


async def test_the_date_is_an_imf_fixdate_that_reads_back_as_the_same_second() -> None:
    # RFC 9110 §5.6.7: "a sender MUST generate" the IMF-fixdate form (§5.6.7's own example).
    assert imf_fixdate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    for second in (0, 1_767_225_600, 1_767_225_600 + 86_399, 4_102_444_800):
        assert IMF_FIXDATE.fullmatch(imf_fixdate(second)) and http_date(imf_fixdate(second), second) == second


def test_the_date_is_written_once_per_clock_second() -> None:
    now = [1_767_225_600]
    date = DateField(lambda: now[0])
    first = date()
    assert date() is first  # the same second: the same text, not written again
    now[0] += 1
    assert date() == "Thu, 01 Jan 2026 00:00:01 GMT"


async def test_an_app_that_sends_its_own_date_keeps_it_and_only_it(lab: Lab) -> None:
    # One Date, the app's: a second one would make the field a list, which it is not (§6.6.1).
    host = lab.add_metadata_host("dated.example", "93.184.216.8")
    own = "Wed, 31 Dec 2025 23:59:00 GMT"
    host.publish_response("/a", HostedResponse(b"{}", 200, {"Date": own}))
    async with lab.httpx_client("client") as http:
        answer = await http.get("https://dated.example/a")
    assert answer.headers.get_list("date") == [own]


async def test_a_server_error_carries_a_date_too(lab: Lab) -> None:
    # §6.6.1 lets a server with a clock send one on a 5xx ("MAY"); uvicorn does, and so does the lab.
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a bug in the app")

    lab.network.add_host("broken.example", "93.184.216.9", failing)
    async with lab.httpx_client("client") as http:
        answer = await http.get("https://broken.example/")
    assert answer.status_code == 500 and answer.headers.get_list("date") == [JANUARY_FIRST]


async def test_a_documents_lifetime_from_expires_is_the_same_with_the_hosts_date(lab: Lab) -> None:
    # RFC 9111 §4.2.1: Expires − Date. The document host's Date is the lab clock's now, which
    # stood in for a missing Date before: the AS reuses the document for exactly as long.
    url = "https://app.example/expiring.json"
    expires = imf_fixdate(lab.clock.now() + 120)
    document = default_client_metadata(url)
    headers = {"content-type": "application/json", "expires": expires}  # no Cache-Control
    lab.metadata_hosts["app.example"].publish_response(
        "/expiring.json", HostedResponse(json.dumps(document).encode(), 200, headers)
    )
    await lab.auth_server.cimd.resolve(url)
    fetch = lab.trace.exchanges[-1]
    assert dates(fetch.response_headers) == [JANUARY_FIRST]
    cached = lab.cimd_cache[url]
    assert cached.expires_at - cached.fetched_at == 120
