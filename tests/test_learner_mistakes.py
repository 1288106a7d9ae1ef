"""What a learner types by mistake gets an error naming the rule or the choices, at the call.

Each case is one mistake seen (or easily made) in a workshop: a typo'd choice, the wrong case,
the wrong object of the lab's (a client where a connection goes), None before a step has run, a
coroutine without its `await`, a step out of order. Before, each one ended in an AttributeError
or KeyError from deep inside, in a 400 from the server, or in nothing at all (a silently
truncated clock advance, a misspelt downstream mode that quietly exchanged tokens anyway).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab_servers import Lab, StepError, load_trace
from lab_servers.determinism import SeededIds
from lab_servers.lab import CLIENT_METADATA_URL, default_client_metadata
from lab_servers.notebook_support import check_answer, expect_failure
from lab_servers.story import add_downstream_api
from lab_servers.views import (
    compare_identities,
    sequence_diagram,
    show_as_state,
    show_consent,
    show_exchange,
    show_step,
    show_token,
)

pytestmark = pytest.mark.anyio

PRM_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
DOCUMENT = default_client_metadata("https://app.example/agent.json")


async def _connection(lab: Lab) -> Any:
    return await lab.connect("cimd")


async def _show_token_of_connection(lab: Lab) -> Any:
    return show_token(await _connection(lab))


async def _show_token_of_token_response(lab: Lab) -> Any:
    return show_token((await _connection(lab)).client.state.tokens)


async def _call_tool(lab: Lab, *args: Any) -> Any:
    return await (await _connection(lab)).client.call_tool(*args)


async def _show_step_of_records(lab: Lab) -> Any:
    return show_step((await _connection(lab)).records)


async def _show_exchange_of_record(lab: Lab) -> Any:
    return show_exchange((await _connection(lab)).records[0])


async def _diagram_of_one_record(lab: Lab) -> Any:
    return sequence_diagram((await _connection(lab)).records[0])


async def _diagram_of_connections(lab: Lab) -> Any:
    connection = await _connection(lab)
    return sequence_diagram([connection, connection])


async def _diagram_of_a_list_of_one_connection(lab: Lab) -> Any:
    return sequence_diagram([await _connection(lab)])


async def _diagram_of_exchanges_and_records(lab: Lab) -> Any:
    connection = await _connection(lab)
    return sequence_diagram([*connection.records[0].exchanges, connection.records[1]])


async def _diagram_after_a_handshake(lab: Lab, **options: Any) -> Any:
    await lab.connect("dcr")
    return sequence_diagram(lab.trace, **options)


async def _compare_clients(lab: Lab) -> Any:
    connection = await _connection(lab)
    return compare_identities(connection.client, connection.client)


async def _downstream_mode_typo(lab: Lab) -> None:
    add_downstream_api(lab)
    assert lab.resource_server.downstream is not None
    lab.resource_server.downstream.mode = "pass-through"


def _set_policy(lab: Lab, policy: Any) -> None:
    lab.policy = policy


def _stepper(*args: Any, **kwargs: Any) -> Any:
    from lab_servers.widgets import HandshakeStepper

    return HandshakeStepper(*args, **kwargs)


def _trace_file(tmp: Path, text: str) -> Path:
    path = tmp / "trace.jsonl"
    path.write_text(text)
    return path


Mistake = Callable[[Lab], Any]


async def _called(mistake: Mistake, lab: Lab) -> Any:
    """The mistake made: called, and awaited when it is a coroutine (a step, `lab.connect`)."""
    outcome = mistake(lab)
    return await outcome if inspect.isawaitable(outcome) else outcome


MISTAKES: list[Any] = [
    # The lab and its clients
    pytest.param(lambda lab: lab.connect("cimdd"), ValueError, "(did you mean 'cimd'?)", id="connect-typo'd-method"),
    pytest.param(lambda lab: lab.client("DCR"), ValueError, "choose one of 'auto', 'preregistered'", id="client-method-in-capitals"),
    pytest.param(lambda lab: Lab(seed=None), TypeError, "takes an int or a str", id="Lab-seed-None"),
    pytest.param(lambda lab: Lab(policy="naive"), TypeError, "an ASPolicy, such as HARDENED or NAIVE", id="Lab-policy-as-a-string"),
    pytest.param(lambda lab: _set_policy(lab, "naive"), TypeError, "an ASPolicy, such as HARDENED or NAIVE", id="lab.policy-set-to-a-string"),
    pytest.param(lambda lab: Lab(capabilities={"cimd": False}), TypeError, "ASCapabilities(cimd=False)", id="Lab-capabilities-as-a-dict"),
    pytest.param(lambda lab: lab.client("cimd", client_metadata="https://app.example/agent.json"), TypeError,
                 "pass client_metadata_url=", id="client_metadata-given-a-url"),
    pytest.param(lambda lab: lab.publish_client_document("not a url", DOCUMENT), ValueError,
                 "'not a url' is not a URL such as", id="publish-not-a-url"),
    pytest.param(lambda lab: lab.publish_client_document("ftp://app.example/agent.json", DOCUMENT), ValueError,
                 "'ftp://app.example/agent.json' is not a URL such as", id="publish-at-an-ftp-url"),
    pytest.param(lambda lab: lab.publish_client_document(DOCUMENT, "https://app.example/agent.json"), TypeError,
                 "the document's URL comes first", id="publish-arguments-swapped"),
    pytest.param(lambda lab: lab.publish_client_document("https://evil.example/agent.json", DOCUMENT), ValueError,
                 "no metadata host named 'evil.example' (the lab's: app.example)", id="publish-on-an-unknown-host"),
    # Each of these was published, then answered 500 by the host when the AS fetched it.
    pytest.param(lambda lab: lab.publish_client_document(CLIENT_METADATA_URL, DOCUMENT, cache_control=300), TypeError,
                 "cache_control is a header field value, such as 'max-age=300'", id="publish-cache_control-a-number"),
    pytest.param(lambda lab: lab.publish_client_document(CLIENT_METADATA_URL, DOCUMENT, content_type="json\r\nX: y"),
                 TypeError, "without CR, LF or NUL (RFC 9110 §5.5)", id="publish-content_type-with-a-newline"),
    pytest.param(lambda lab: lab.publish_client_document(CLIENT_METADATA_URL, DOCUMENT, cache_control="max-age=300 "),
                 TypeError, "nor whitespace at either end", id="publish-cache_control-with-a-trailing-space"),
    pytest.param(lambda lab: lab.publish_client_document(CLIENT_METADATA_URL, {**DOCUMENT, "redirect_uris": {"https://a"}}),
                 TypeError, "the document cannot be written as JSON (Object of type set", id="publish-a-set-in-the-document"),
    # Another host on the lab network: one name, one address each; the AS's issuer is its https URL.
    pytest.param(lambda lab: lab.add_authorization_server("https://legacy.example", "93.184.215.50"), ValueError,
                 "takes a hostname such as 'legacy.example', not a URL", id="add_authorization_server-given-a-url"),
    pytest.param(lambda lab: lab.add_authorization_server("legacy.example", "93.184.215.20"), ValueError,
                 "the address 93.184.215.20 is already 'auth.example.com''s", id="add_authorization_server-at-the-AS's-address"),
    pytest.param(lambda lab: lab.add_authorization_server("auth.example.com", "93.184.215.50"), ValueError,
                 "'auth.example.com' is already on the lab network", id="add_authorization_server-named-like-the-lab's-AS"),
    pytest.param(lambda lab: lab.add_authorization_server("legacy.example", "93.184.215.50", capabilities={"cimd": False}),
                 TypeError, "ASCapabilities(cimd=False)", id="add_authorization_server-capabilities-as-a-dict"),
    pytest.param(lambda lab: lab.add_authorization_server("legacy.example", "93.184.215.50", preregistered={"agent": "s3cret"}),
                 TypeError, "maps each client_id to its metadata", id="add_authorization_server-preregistered-a-secret"),
    pytest.param(lambda lab: lab.add_metadata_host("app.example", "93.184.215.31"), ValueError,
                 "'app.example' is already on the lab network", id="add_metadata_host-over-the-lab's-app-host"),
    pytest.param(lambda lab: lab.add_metadata_host(None, "93.184.215.31"), TypeError,
                 "takes a hostname first", id="add_metadata_host-hostname-None"),
    pytest.param(lambda lab: (lab.add_authorization_server("legacy.example", "93.184.215.50"),
                              lab.use_authorization_server("legacy.example")), KeyError,
                 "(did you mean 'https://legacy.example'?)", id="use_authorization_server-given-the-hostname"),
    pytest.param(lambda lab: lab.clock.advance("10"), TypeError, "takes a number of seconds", id="clock-advance-a-string"),
    pytest.param(lambda lab: lab.clock.advance(0.5), ValueError, "counts whole seconds", id="clock-advance-a-fraction"),
    pytest.param(_downstream_mode_typo, ValueError, "(did you mean 'passthrough'?)", id="downstream-mode-typo"),
    # Tool calls
    pytest.param(lambda lab: _call_tool(lab, "add_note", "buy milk"), TypeError, "a dict of the tool's parameters",
                 id="call_tool-arguments-not-a-dict"),
    pytest.param(lambda lab: _call_tool(lab, None), TypeError, "the tool's name, a string", id="call_tool-name-None"),
    pytest.param(lambda lab: lab.client("cimd").call_tool("whoami"), StepError, "needs an access token from an earlier step",
                 id="call_tool-before-the-handshake"),
    # Views
    pytest.param(lambda lab: show_token(None), ValueError, "no access token yet; run step 6", id="show_token-None"),
    pytest.param(_show_token_of_connection, TypeError, "such as connection.access_token", id="show_token-a-connection"),
    pytest.param(_show_token_of_token_response, ValueError, "a token response", id="show_token-the-token-response"),
    pytest.param(lambda lab: show_step(None), TypeError, "takes one step record", id="show_step-None"),
    pytest.param(_show_step_of_records, TypeError, "takes one step record, such as", id="show_step-a-list"),
    pytest.param(lambda lab: show_step(lab.client("dcr").request_without_token()), TypeError,
                 "did you forget `await`?", id="show_step-without-await"),
    pytest.param(_show_exchange_of_record, TypeError, "takes one exchange, such as step.exchanges[0]", id="show_exchange-a-record"),
    pytest.param(lambda lab: sequence_diagram([]), ValueError, "nothing to draw", id="sequence_diagram-empty"),
    pytest.param(sequence_diagram, TypeError, "pass lab.trace", id="sequence_diagram-the-lab"),
    pytest.param(_diagram_of_one_record, TypeError, "pass a list: [record]", id="sequence_diagram-one-record"),
    pytest.param(_diagram_of_a_list_of_one_connection, TypeError, "must be an exchange or a step record; got a Connection",
                 id="sequence_diagram-a-list-of-one-connection"),
    pytest.param(_diagram_of_exchanges_and_records, TypeError, "this list mixes exchanges and step records",
                 id="sequence_diagram-exchanges-and-records-mixed"),
    pytest.param(lambda lab: sequence_diagram(42), TypeError, "or a connection; got int 42", id="sequence_diagram-a-number"),
    pytest.param(_diagram_of_connections, TypeError, "each item must be an exchange or a step record",
                 id="sequence_diagram-a-list-of-connections"),
    pytest.param(lambda lab: _diagram_after_a_handshake(lab, marks={"3": "here"}), TypeError,
                 "maps an exchange's seq number to a note's text", id="sequence_diagram-a-mark-keyed-by-a-string"),
    pytest.param(lambda lab: _diagram_after_a_handshake(lab, title=5), TypeError, "takes the diagram's title, a string",
                 id="sequence_diagram-a-number-for-a-title"),
    pytest.param(lambda lab: show_consent(None), ValueError, "no consent page yet; run step 5", id="show_consent-None"),
    pytest.param(lambda lab: show_consent(lab.client("dcr")), TypeError, "takes client.state.consent_page", id="show_consent-a-client"),
    pytest.param(lambda lab: show_as_state(lab.client("dcr")), TypeError, "show_as_state(lab)", id="show_as_state-a-client"),
    pytest.param(_compare_clients, TypeError, "takes two connections", id="compare_identities-two-clients"),
    # Exercises
    pytest.param(lambda lab: check_answer("02-unknown-id", 3), ValueError, "unknown exercise '02-unknown-id'", id="check_answer-unknown-id"),
    pytest.param(lambda lab: check_answer("02-Register-Status", 201), ValueError, "(did you mean '02-register-status'?)",
                 id="check_answer-id-in-capitals"),
    pytest.param(lambda lab: check_answer("03-mismatch-error", {"invalid_client"}), TypeError,
                 "the answer to 03-mismatch-error is a string", id="check_answer-a-set-for-a-string"),
    pytest.param(lambda lab: check_answer("04-best-fit", "cimd"), TypeError, "a dict with one answer per letter",
                 id="check_answer-a-string-for-a-dict"),
    pytest.param(lambda lab: check_answer("06-prm-revision", 2025 - 6 - 18), TypeError, "a string, in quotes",
                 id="check_answer-a-date-without-quotes"),
    pytest.param(lambda lab: check_answer("01-prm-url", PRM_URL), TypeError, "pass the lab too", id="check_answer-without-the-lab"),
    pytest.param(lambda lab: check_answer("02-pkce-s256", "abc", lab), ValueError, "run step 5",
                 id="check_answer-pkce-before-step-5"),
    pytest.param(lambda lab: expect_failure(lab.client("dcr").run_all), TypeError, "did you forget the ()?",
                 id="expect_failure-of-an-uncalled-step"),
    # The stepper widget
    pytest.param(lambda lab: _stepper(lab, method="DCR"), ValueError, "choose one of 'dcr', 'cimd', 'auto'", id="stepper-method-in-capitals"),
    pytest.param(lambda lab: _stepper(lab.client("dcr")), TypeError, "HandshakeStepper takes a Lab", id="stepper-given-a-client"),
]  # fmt: skip


@pytest.mark.parametrize(("mistake", "error", "phrase"), MISTAKES)
async def test_a_mistake_gets_an_error_that_names_the_rule(
    lab: Lab, mistake: Mistake, error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match=re.escape(phrase)):
        await _called(mistake, lab)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("not json\n", "is not a lab trace (JSON Lines from `serve --trace-file`"),
        ('{"seq": 1}\n', "not a lab trace line: missing fields"),
        ("[" * 3000 + "\n", "nested deeper than 32 levels (RFC 8259 §9"),
    ],
    ids=["not-json", "a-line-without-the-exchange-fields", "nested-3000-deep"],
)
def test_a_file_that_is_not_a_trace_says_so(tmp_path: Path, text: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=re.escape(phrase)):
        load_trace(_trace_file(tmp_path, text))


async def test_what_was_right_before_still_is(lab: Lab) -> None:
    """The checks refuse only mistakes: every form the lab accepted and meant still works."""
    assert lab.clock.advance(90.0) == lab.clock.now()  # a whole number of seconds, as a float
    assert Lab(seed="pkce").ids.seed == "pkce"
    connection = await lab.connect("cimd")
    assert show_token(connection.client.state.tokens["access_token"]).claims["client_id"] == CLIENT_METADATA_URL
    assert show_token({"sub": "alice"}).claims == {"sub": "alice"}
    assert "exchanges" in repr(sequence_diagram(e for e in lab.trace if e.caller == "client"))
    assert "step bands" in repr(sequence_diagram(connection.client))
    assert show_step(connection.records[3]).record.number == 4  # CIMD's step 4 sent nothing: still a card
    check_answer("03-mismatch-error", None)  # unanswered: the invitation, whatever the type
    check_answer("04-differing-claims", ["client_id", "jti"])  # a list where a set is expected
    check_answer("02-register-status", "201 Created")  # a number as text
    assert await expect_failure(lab.client("dcr", decision="deny").run_all()) is not None


async def test_a_notebook_cell_run_twice_adds_its_host_again(lab: Lab) -> None:
    # The same name at the same address is the same host: running the cell again replaces it,
    # where a name or an address already taken by another host is refused (see MISTAKES).
    first = lab.add_authorization_server("legacy.example", "93.184.215.50")
    again = lab.add_authorization_server("legacy.example", "93.184.215.50")
    assert lab.authorization_servers["https://legacy.example"] is again is not first
    assert lab.network.hosts()["legacy.example"] == "93.184.215.50"


async def test_a_fresh_lab_has_the_ids_this_one_started_with() -> None:
    # What the stepper's Reset builds from: given ids (not a seed), the fresh lab has the same.
    async with Lab(ids=SeededIds(7)) as lab:
        fresh = lab.fresh()
        assert isinstance(fresh.ids, SeededIds) and fresh.ids.seed == 7
        await fresh.aclose()
