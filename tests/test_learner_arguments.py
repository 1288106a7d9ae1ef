"""What a learner passes where the lab trusted it is refused at the call, naming the argument.

test_learner_mistakes.py holds the mistakes already refused; these are the arguments that were
still trusted, each of which used to end somewhere else: `Lab(clock=5)` in an AttributeError from
the AS's key generation, `Lab(mcp_url="not a url")` in an IndexError inside the resource server,
`decision="Approve"` in step 5 failing with the AS's invalid_request, `caller=5` in a trace whose
sender was the number 5, `load_trace(5)` in closing file descriptor 5 (in a notebook, the event
loop's own socket), and `lab.connect("cimd", scopes=…)` in "Lab.client() got an unexpected
keyword argument". A wrong type is a TypeError, a wrong value of the right type a ValueError.
"""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab_servers import (
    ISSUER,
    MCP_URL,
    NAIVE,
    Connection,
    Credentials,
    Lab,
    LabClock,
    SeededIds,
    StepRecord,
    load_trace,
)
from lab_servers.lab import default_client_metadata
from lab_servers.notebook_support import check_answer
from lab_servers.security.article_server import add_article_server
from lab_servers.security.flood import run_registration_flood
from lab_servers.security.network_fixtures import add_internal_network
from lab_servers.story import add_downstream_api, connect_service, publish_service_client, use_introspection
from lab_servers.views import compare_identities, show_exchange, show_step

pytestmark = pytest.mark.anyio


def _nested_dicts(depth: int) -> dict[str, object]:
    outer = inner = {}
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    return outer


Mistake = Callable[[Lab], Any]


async def _called(mistake: Mistake, lab: Lab) -> Any:
    outcome = mistake(lab)
    return await outcome if inspect.isawaitable(outcome) else outcome


async def _highlight(lab: Lab, highlight: Any) -> Any:
    await lab.httpx_client("you").get(MCP_URL)
    return show_exchange(lab.trace.exchanges[0], highlight=highlight)


def _decision_set_later(lab: Lab, decision: str) -> Any:
    client = lab.client("cimd")
    client.decision = decision  # as notebook 07 sets it, after the client exists
    return client.authorize()


def _stepper(lab: Lab, **options: Any) -> Any:
    from lab_servers.widgets import HandshakeStepper

    return HandshakeStepper(lab, **options)


CLIENT = "https://app.example/client.json"
SERVICE_KEY = "lab_servers.story.publish_service_client(lab)"

MISTAKES: list[Any] = [
    # Lab(...): each of these reached the servers unchecked.
    pytest.param(lambda lab: Lab(clock=5), TypeError, "Lab(clock=…) takes a LabClock", id="Lab-clock-a-number"),
    pytest.param(lambda lab: Lab(mcp_url="not a url"), ValueError, "Lab(mcp_url=…) takes an http(s) URL", id="Lab-mcp_url-not-a-url"),
    pytest.param(lambda lab: Lab(mcp_url="mcp.example.com/mcp"), ValueError, "such as 'https://mcp.example.com/mcp'", id="Lab-mcp_url-without-a-scheme"),
    pytest.param(lambda lab: Lab(mcp_url="ftp://mcp.example.com/mcp"), ValueError, "an http(s) URL", id="Lab-mcp_url-at-ftp"),
    pytest.param(lambda lab: Lab(mcp_url=None), TypeError, "Lab(mcp_url=…) takes a URL, a string", id="Lab-mcp_url-None"),
    # Clients remove dot segments before they send (RFC 3986 §5.2.4): a server at /./mcp got /mcp, 404 for every client.
    pytest.param(lambda lab: Lab(mcp_url="https://mcp.example.com/./mcp"), ValueError, "without '.' or '..' path segments", id="Lab-mcp_url-dot-segment"),
    pytest.param(lambda lab: Lab(issuer="https://auth.example.com/t/%2E%2E/t1"), ValueError, "(RFC 3986 §6.2.2.3)", id="Lab-issuer-encoded-dot-segment"),
    pytest.param(lambda lab: Lab(issuer="auth.example.com"), ValueError, "Lab(issuer=…) takes an http(s) URL", id="Lab-issuer-a-hostname"),
    pytest.param(lambda lab: Lab(issuer=ISSUER + "/"), ValueError, "without a trailing '/', such as 'https://auth.example.com'", id="Lab-issuer-with-a-trailing-slash"),
    pytest.param(lambda lab: Lab(issuer=ISSUER + "?tenant=a"), ValueError, "an issuer with no query (RFC 8414 §2)", id="Lab-issuer-with-a-query"),
    pytest.param(lambda lab: Lab(accept_legacy="no"), TypeError, "Lab(accept_legacy=…) takes True or False; got str 'no'", id="Lab-accept_legacy-a-string"),
    pytest.param(lambda lab: Lab(ids=7), TypeError, "for a seed, pass Lab(seed=7)", id="Lab-ids-a-seed"),
    # The clock and the ids: int() read a string, and a clock past year 9999 broke every view.
    pytest.param(lambda lab: LabClock("2026-01-01"), TypeError, "LabClock takes a number of seconds", id="LabClock-a-date-string"),
    pytest.param(lambda lab: LabClock(math.nan), ValueError, "counts whole seconds; LabClock(nan)", id="LabClock-nan"),
    pytest.param(lambda lab: lab.clock.advance(1e300), ValueError, "within the years 1 to 9999", id="clock-advanced-past-year-9999"),
    pytest.param(lambda lab: SeededIds(None), TypeError, "SeededIds takes a seed, an int or a str", id="SeededIds-None"),
    # lab.connect(...) and lab.client(...)
    pytest.param(lambda lab: lab.connect("cimd", scopes="notes:read"), TypeError,
                 "lab.connect has no option 'scopes' (the client asks for the scope the server names", id="connect-scopes"),
    pytest.param(lambda lab: lab.connect("cimd", client_metadata_ur=CLIENT), TypeError,
                 "(did you mean 'client_metadata_url'?)", id="connect-option-misspelt"),
    pytest.param(lambda lab: lab.client("cimd", client_metadata_url=5), TypeError, "client_metadata_url takes the CIMD document's URL",
                 id="client-client_metadata_url-a-number"),
    pytest.param(lambda lab: lab.client("cimd", decision="Approve"), ValueError, "unknown decision 'Approve' (did you mean 'approve'?)",
                 id="client-decision-in-capitals"),
    pytest.param(lambda lab: lab.client("cimd", decision=None), TypeError, "decision takes 'approve' or 'deny'", id="client-decision-None"),
    pytest.param(lambda lab: lab.client("cimd", caller=5), TypeError, "the caller is the name the trace shows", id="client-caller-a-number"),
    pytest.param(lambda lab: lab.httpx_client(""), ValueError, "it cannot be blank", id="httpx_client-caller-empty"),
    pytest.param(lambda lab: lab.client("preregistered", preregistered={ISSUER: "my-agent"}), TypeError,
                 "preregistered maps each AS issuer to the client's credentials", id="client-preregistered-a-client_id"),
    pytest.param(lambda lab: lab.client("preregistered", preregistered={"auth.example.com": Credentials("my-agent")}), ValueError,
                 "keyed by the AS's issuer, a URL such as 'https://auth.example.com'; got 'auth.example.com' (did you mean",
                 id="client-preregistered-keyed-by-hostname"),
    pytest.param(lambda lab: lab.client("stored", credential_store=[]), TypeError, "credential_store maps each AS issuer",
                 id="client-credential_store-a-list"),
    pytest.param(lambda lab: lab.client("preregistered", preregistered={ISSUER: Credentials(5)}), TypeError,
                 "preregistered: Credentials' client_id is the AS's id for the client, such as 'my-agent'; got int 5",
                 id="client-credentials-client_id-a-number"),
    pytest.param(lambda lab: lab.client("stored", credential_store={ISSUER: Credentials("my-agent", 1234)}), TypeError,
                 "credential_store: Credentials' client_secret is a string", id="client-credentials-secret-a-number"),
    pytest.param(lambda lab: lab.client("preregistered", preregistered={ISSUER: Credentials("my-agent", "s", "basic")}), ValueError,
                 "unknown token endpoint auth method 'basic'", id="client-credentials-method-unknown"),
    # An administrator's clients, checked where they are added: a secret of 5 or redirect_uris of
    # 5 was a 500 at the AS at the client's first request; a client_id of 5 a record no one reaches.
    pytest.param(lambda lab: lab.add_authorization_server("auth3.example.com", "93.184.215.22", preregistered={"x": {"client_secret": 5}}),
                 TypeError, "preregistered=…): client 'x': client_secret is a string (RFC 7591 §2); got int 5", id="preregistered-secret-a-number"),
    pytest.param(lambda lab: lab.add_authorization_server("auth3.example.com", "93.184.215.22", preregistered={"y": {"redirect_uris": 5}}),
                 TypeError, "client 'y': redirect_uris is a list of URL strings", id="preregistered-redirect_uris-a-number"),
    pytest.param(lambda lab: lab.add_authorization_server("auth3.example.com", "93.184.215.22", preregistered={5: {}}),
                 TypeError, "each client_id is a string", id="preregistered-client_id-a-number"),
    # Past 4,300 digits Python refuses to write an int: the lab's own message raised instead.
    pytest.param(lambda lab: Lab(seed=10**5000), ValueError, "a seed of at most about 3,900 digits; got a number of about 5,000 digits",
                 id="seed-of-5000-digits"),
    pytest.param(lambda lab: lab.clock.advance(10**5000), ValueError, "within the years 1 to 9999; a number of about 5,000 digits is not",
                 id="clock-advanced-5000-digits"),
    # A document nested past Python's recursion (copied before the JSON check): a RecursionError.
    pytest.param(lambda lab: lab.publish_client_document("https://app.example/d.json", _nested_dicts(100_000)), ValueError,
                 "nested deeper than any parser reads (RFC 8259 §9)", id="document-nested-100000"),
    pytest.param(lambda lab: lab.client("dcr", initial_access_token=5), TypeError, "initial_access_token takes the token",
                 id="client-initial_access_token-a-number"),
    pytest.param(lambda lab: lab.client("ask-user", ask_user="alice"), TypeError, "ask_user takes an async function",
                 id="client-ask_user-a-name"),
    # The token and the metadata the lab client reads itself: each failed inside step 4 or 5 as an
    # "unexpected response" blamed on the server, or as a bare AttributeError (a nested list).
    pytest.param(lambda lab: lab.client("dcr", initial_access_token="caf\u00e9"), ValueError,
                 "initial_access_token is sent as Authorization: Bearer <token>, so it is a b64token", id="client-initial_access_token-not-ascii"),
    pytest.param(lambda lab: lab.client("dcr", initial_access_token="iat\r\nX-Injected: 1"), ValueError,
                 "(RFC 6750 §2.1); got 'iat\\r\\nX-Injected: 1'", id="client-initial_access_token-with-a-line-break"),
    pytest.param(lambda lab: lab.client("dcr", client_metadata={"redirect_uris": [["https://app.example/cb"]]}), TypeError,
                 "client_metadata['redirect_uris'] is a non-empty list of URL strings", id="client-metadata-redirect_uris-nested"),
    pytest.param(lambda lab: lab.client("cimd", client_metadata={"client_name": "Agent"}), TypeError,
                 "client_metadata['redirect_uris'] is a non-empty list of URL strings, such as ['https://app.example/callback']; got None",
                 id="client-metadata-without-redirect_uris"),
    pytest.param(lambda lab: lab.client("dcr", client_metadata={**default_client_metadata(), "grant_types": "refresh_token"}), TypeError,
                 "client_metadata['grant_types'] is a list of strings", id="client-metadata-grant_types-a-string"),
    pytest.param(lambda lab: lab.client("dcr", client_metadata={**default_client_metadata(), "grant_types": None}), TypeError,
                 "client_metadata['grant_types'] is a list of strings, such as ['authorization_code', 'refresh_token']; got None",
                 id="client-metadata-grant_types-None"),
    pytest.param(lambda lab: lab.client("dcr", client_metadata={**default_client_metadata(), "client_name": 5}), TypeError,
                 "client_metadata['client_name'] is a string", id="client-metadata-client_name-a-number"),
    pytest.param(lambda lab: lab.client("dcr", client_metadata={**default_client_metadata(), "logo_uri": b"x"}), TypeError,
                 "client_metadata is sent as JSON (RFC 7591 §3.1; CIMD §4), and this cannot be (Object of type bytes", id="client-metadata-bytes"),
    pytest.param(lambda lab: lab.client("auto", client_metadata={**default_client_metadata(), "x": math.inf}), TypeError,
                 "(not NaN or Infinity)", id="client-metadata-infinity"),
    # Step 5's arguments, checked before the step: inside it, a slip read as the server's fault.
    pytest.param(lambda lab: lab.client("cimd").authorize(scope=["notes:read"]), TypeError,
                 "authorize(scope=…) takes the scopes as one string", id="authorize-scope-a-list"),
    pytest.param(lambda lab: lab.client("cimd").authorize(decision="yes"), ValueError, "choose one of 'approve', 'deny'",
                 id="authorize-decision-yes"),
    pytest.param(lambda lab: _decision_set_later(lab, "Deny"), ValueError, "(did you mean 'deny'?)", id="client.decision-set-in-capitals"),
    pytest.param(lambda lab: _stepper(lab).advance("Approve"), ValueError, "(did you mean 'approve'?)", id="stepper-advance-in-capitals"),
    # A choice given as no string at all is the wrong kind of thing: a TypeError, not "unknown method 5".
    pytest.param(lambda lab: lab.connect(5), TypeError, "the registration method is a string, one of 'auto'", id="connect-method-a-number"),
    pytest.param(lambda lab: Lab(revision=2025), TypeError, "an MCP revision is a string, one of '2025-03-26'", id="Lab-revision-a-number"),
    # Documents: a misspelt option named by publish_client_document, and no NaN served as JSON.
    pytest.param(lambda lab: lab.publish_client_document(CLIENT, {}, cache_contol="no-store"), TypeError,
                 "publish_client_document has no option 'cache_contol' (did you mean 'cache_control'?)", id="publish-option-misspelt"),
    pytest.param(lambda lab: lab.publish_client_document(CLIENT, {**default_client_metadata(), "x": math.nan}), TypeError,
                 "(not NaN or Infinity, RFC 8259 §6)", id="publish-a-NaN"),
    pytest.param(lambda lab: lab.metadata_hosts["app.example"].publish("client.json", {}), ValueError,
                 "publishes at a path starting with '/', such as '/client.json'", id="host-publish-a-path-without-its-slash"),
    pytest.param(lambda lab: lab.publish_client_document("https://app.example", {}), ValueError,
                 "'https://app.example' is not a URL such as 'https://app.example/agent.json'", id="publish-at-a-url-without-a-path"),
    # A fragment is cut off before a request is sent (RFC 3986 §3.5): the document was published at
    # the URL without it, and another at that URL replaced silently.
    pytest.param(lambda lab: lab.publish_client_document("https://app.example/agent.json#a", {}), ValueError,
                 "cannot publish at '/agent.json#a': a fragment is never sent to a host (RFC 3986 §3.5); publish at "
                 "'/agent.json'", id="publish-at-a-url-with-a-fragment"),
    pytest.param(lambda lab: lab.metadata_hosts["app.example"].publish("/agent.json#a", {}), ValueError,
                 "which CIMD §3 forbids", id="host-publish-at-a-path-with-a-fragment"),
    # A tool call's arguments that cannot be JSON: the step failed with "unexpected response".
    pytest.param(lambda lab: lab.client("cimd").call_tool("add_note", {"text": object()}), TypeError,
                 "call_tool's arguments are sent as JSON", id="call_tool-arguments-not-json"),
    pytest.param(lambda lab: lab.client("cimd").call_tool("add_note", {"text": math.nan}), TypeError,
                 "(not NaN or Infinity, RFC 8259 §6)", id="call_tool-arguments-nan"),
    # Hosts and the AS switch
    pytest.param(lambda lab: lab.use_authorization_server(ISSUER, keep_previous="no"), TypeError,
                 "use_authorization_server(keep_previous=…) takes True or False", id="use_authorization_server-keep_previous-a-string"),
    pytest.param(lambda lab: lab.add_metadata_host("legacy.example", "not an ip"), ValueError,
                 "add_metadata_host takes an IP address second, such as", id="add_metadata_host-address-not-an-ip"),
    pytest.param(lambda lab: lab.add_metadata_host("my host", "93.184.215.77"), ValueError, "(RFC 1123 §2.1)",
                 id="add_metadata_host-name-with-a-space"),
    # Views
    pytest.param(lambda lab: _highlight(lab, 5), TypeError, "show_exchange(highlight=…) takes a field name", id="show_exchange-highlight-a-number"),
    pytest.param(lambda lab: show_step(StepRecord(1, "challenge", "", [], {}, "", ""), collapsed="yes"), TypeError,
                 "show_step(collapsed=…) takes True or False", id="show_step-collapsed-a-string"),
    pytest.param(lambda lab: _stepper(lab, seed=5), ValueError, "seed the lab you pass: Lab(seed=…)", id="stepper-seed-beside-a-lab"),
    pytest.param(lambda lab: check_answer("01-prm-url", MCP_URL, Connection(lab.client(), [])), TypeError, "pass the lab too",
                 id="check_answer-a-connection-for-the-lab"),
    pytest.param(lambda lab: check_answer(1, "x"), TypeError, "check_answer takes the exercise's id first, a string",
                 id="check_answer-exercise-a-number"),
    pytest.param(lambda lab: _stepper(lab, static_view="diagram"), TypeError, "static_view takes a diagram",
                 id="stepper-static_view-a-string"),
    pytest.param(lambda lab: compare_identities(Connection(lab.client(), []), Connection(lab.client(), []), labels="DCR"),
                 TypeError, "compare_identities(labels=…) takes two column titles", id="compare_identities-labels-one-string"),
    # The notebooks' helpers, each given something other than the lab first
    pytest.param(lambda lab: add_downstream_api(None), TypeError, "add_downstream_api takes the lab first", id="add_downstream_api-None"),
    pytest.param(lambda lab: use_introspection(lab, lab), TypeError, "takes an MCP server second, such as lab.resource_server",
                 id="use_introspection-the-lab-as-the-server"),
    pytest.param(lambda lab: publish_service_client(lab, with_keys="no"), TypeError, "with_keys=…) takes True or False",
                 id="publish_service_client-with_keys-a-string"),
    pytest.param(lambda lab: connect_service(lab, SERVICE_KEY), TypeError, "connect_service takes the job's key second",
                 id="connect_service-key-a-string"),
    pytest.param(lambda lab: add_article_server(lab, prm_resource=None), TypeError, "prm_resource=…) takes a URL string",
                 id="add_article_server-prm_resource-None"),
    pytest.param(lambda lab: add_internal_network(lab.network), TypeError, "add_internal_network takes the lab",
                 id="add_internal_network-the-network"),
    pytest.param(lambda lab: run_registration_flood(NAIVE, burst=-1), TypeError, "burst is a whole number of at least 1",
                 id="run_registration_flood-burst-negative"),
]  # fmt: skip


@pytest.mark.parametrize(("mistake", "error", "phrase"), MISTAKES)
async def test_a_slip_is_refused_at_the_call_naming_the_argument(
    lab: Lab, mistake: Mistake, error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match=re.escape(phrase)):
        await _called(mistake, lab)


def test_load_trace_refuses_a_number_and_leaves_that_file_descriptor_open(tmp_path: Path) -> None:
    # open() takes an int as a file descriptor, reads it and closes it.
    path = tmp_path / "other.txt"
    path.write_text("not a trace\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match=re.escape("load_trace takes the trace file's path")):
            load_trace(fd)  # type: ignore[arg-type]
        os.fstat(fd)  # still open
    finally:
        os.close(fd)


@pytest.mark.parametrize(("max_bytes", "error"), [("1MB", TypeError), (0, ValueError)], ids=["a-string", "zero"])
def test_load_trace_refuses_a_size_that_is_no_number_of_bytes(
    tmp_path: Path, max_bytes: Any, error: type[Exception]
) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text("")
    with pytest.raises(error, match=re.escape("load_trace(max_bytes=…) takes")):
        load_trace(path, max_bytes=max_bytes)


async def test_what_was_right_before_still_is(lab: Lab) -> None:
    """The checks refuse only slips: what the notebooks, serve and the tests pass still works."""
    Lab(mcp_url="http://127.0.0.1:9/mcp", issuer="http://127.0.0.1:8", accept_legacy=False)  # serve's loopback URLs
    assert Lab(clock=LabClock(1_800_000_000.0)).clock.now() == 1_800_000_000  # a whole float, as before
    assert Lab(ids=SeededIds("x")).ids.seed == "x"

    async def decide(page: Any) -> str:
        return "approve"

    client = lab.client("cimd", decision=decide, caller="agent", preregistered={}, credential_store={})
    assert client.decision is decide
    lab.use_authorization_server(ISSUER, keep_previous=True)
    lab.add_metadata_host("legacy-2.example", "2001:db8::1")
    assert default_client_metadata(CLIENT)["client_id"] == CLIENT
    show = await _highlight(lab, ["client_id", "resource"])
    assert show.highlight == ("client_id", "resource")
    assert compare_identities(Connection(lab.client(), []), Connection(lab.client(), []), labels=["A", "B"]).labels == (
        "A",
        "B",
    )
