"""The stepper's HTML: its pills say which steps ran, in the order they ran, and its status line
shows what a server or an exception said as text, never as markup or as terminal controls."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import pytest

from lab_servers import ASCapabilities, Lab
from lab_servers.client import StepError, StepRecord
from lab_servers.views.step import ERROR_LIMIT
from lab_servers.widgets import HandshakeStepper
from lab_servers.widgets.stepper_html import status_html
from tests.test_stepper_slips import show_consent_page
from tests.test_widgets import complete_handshake, run_to_consent

# Markup, a quote to leave an attribute, a line separator, a bidi override, an ESC sequence.
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>\u2028\u202e\x1b[31m&amp;"


def pills(html: str) -> list[str]:
    """The pills' text, in order: "✓ 1 challenge", "▶ 2 resource-metadata", "3 as-metadata"…"""
    return [re.sub(r"<[^>]*>", "", pill) for pill in re.findall(r"<span[^>]*>.*?</span>", html)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("choice", "after"),
    [
        ("approve", ["✓ 10 step-up", "✓ 5 authorize", "✓ 6 token", "✓ 8 call"]),
        ("deny", ["✓ 10 step-up", "✕ 5 authorize", "✕ 8 call"]),
    ],
)
async def test_the_pills_after_the_handshake_show_every_step_a_step_up_ran(
    lab: Lab, choice: str, after: list[str]
) -> None:
    # A step-up asks the user again and exchanges a new code (steps 5 and 6 once more, MCP
    # 2026-07-28 §11.1.2): its pills follow the handshake's seven in the order the steps ran,
    # and a refused consent is a failed pill there, while the handshake's step 5 stays done.
    stepper = HandshakeStepper(lab)
    try:
        await complete_handshake(stepper)
        waiting = await show_consent_page(stepper, "step_up_button")
        getattr(stepper, f"{choice}_button").click()
        await waiting
        shown = pills(stepper.progress.value)
        assert shown[:7] == [f"✓ {n} {name}" for n, name in enumerate(
            ["challenge", "resource-metadata", "as-metadata", "client-id", "authorize", "token", "mcp"], 1
        )]  # fmt: skip
        assert shown[7:] == after
    finally:
        await stepper.aclose()


def status_of(**state: Any) -> str:
    """The status line of a stepper in this state (the fields `status_html` reads)."""
    fields: dict[str, Any] = dict(busy=False, error=None, client=None, last_call=None, last_result=None, method="dcr")
    fields |= dict(at_consent=False, awaiting_decision=False, done=False, next_step_number=1) | state
    return status_html(SimpleNamespace(**fields))


def shows_as_text(html: str) -> bool:
    raw = ["<script", "<img", "\"'>", "\u2028", "\u202e", "\x1b"]
    return not any(piece in html for piece in raw) and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "error", [StepError(5, "authorize", HOSTILE), KeyError(HOSTILE), RuntimeError(HOSTILE)], ids=type
)
def test_an_error_is_shown_as_text(error: BaseException) -> None:
    # Any exception a step raised, not only a StepError (whose reason is made printable when it is
    # made): markup escaped, ESC, U+2028 and bidi overrides written as escapes (RFC 6749 §5.2
    # allows none of them in an error_description).
    html = status_of(error=error)
    assert shows_as_text(html) and "\\x1b[31m" in html and "\\u202e" in html


def test_what_a_server_named_is_shown_as_text() -> None:
    # The scope a step-up asks for, and the client_id the MCP server reports, come from servers.
    client = SimpleNamespace(state=SimpleNamespace(scope=HOSTILE, whoami={"client_id": HOSTILE}), records=[])
    assert shows_as_text(status_of(done=True, awaiting_decision=True, client=client))
    assert shows_as_text(status_of(done=True, client=client, last_call=HOSTILE))
    failed = {"isError": True, "content": [{"type": "text", "text": HOSTILE}]}  # what the tool said
    assert shows_as_text(status_of(done=True, client=client, last_call="add_note", last_result=failed))


def test_the_status_line_shows_at_most_error_limit_characters_of_a_failure() -> None:
    # As the step card does (views.step.ERROR_LIMIT): a 600 kB reason filled the line whole.
    html = status_of(error=RuntimeError("x" * 600_000 + " (the rule, §1)"))
    assert "x [...] x" in html and "(the rule, §1)</b>" in html and len(html) < ERROR_LIMIT + 1000


def _ran(*steps: tuple[int, str]) -> list[StepRecord]:
    """Records of steps that went through, step 3's naming the issuer it found; "denied": one that failed."""
    names = {5: "authorize", 8: "call"}
    return [
        StepRecord(
            n,
            names.get(n, ""),
            "",
            [],
            {"issuer": said} if n == 3 else {"error": said} if said == "denied" else {},
            "",
            "",
        )
        for n, said in steps
    ]


HANDSHAKE = [(n, "https://auth.example.com") for n in range(1, 8)]
ASKED_AGAIN = {
    "step-up": ([*HANDSHAKE, (10, "")], "step-up. The tool needs more scope, so the user is asked again, for"),
    "moved": ([*HANDSHAKE, (9, ""), (2, ""), (3, "https://auth2.example.com"), (4, "")],
              "the resource moved to another authorization server, https://auth2.example.com (it named "
              "https://auth.example.com), so the client asks the user for a new authorization there"),
    "same-as": ([*HANDSHAKE, (2, ""), (3, "https://auth.example.com"), (4, "")],
                "the MCP server refused the token (401), so the client discovered again and asks the user for a new "
                "authorization at https://auth.example.com, for notes:read"),
    "step-up-after-a-move": ([*HANDSHAKE, (2, ""), (3, "https://auth2.example.com"), (4, ""), (5, ""), (6, ""), (8, ""),
                              (10, "")], "step-up. The tool needs more scope"),
}  # fmt: skip


@pytest.mark.parametrize(("records", "said"), ASKED_AGAIN.values(), ids=ASKED_AGAIN.keys())
def test_consent_asked_after_the_handshake_is_explained_by_why_it_is_asked(records: list[Any], said: str) -> None:
    # Consent after the handshake is a step-up for more scope (MCP §10.1) or, after a 401 sent the
    # client to discover again, a new authorization: at the AS the resource moved to (SEP-2352),
    # or at the same one. Every one of them was called a step-up for more scope.
    client = SimpleNamespace(state=SimpleNamespace(scope="notes:read"), records=_ran(*records))
    assert said in re.sub(r"<[^>]*>", "", status_of(done=True, awaiting_decision=True, client=client))


async def consent_at_the_as_the_resource_moved_to(lab: Lab, stepper: HandshakeStepper) -> Any:
    """The handshake done, the MCP server moved to auth2 (SEP-2352), and Expire pressed: the refresh
    fails there and auth2's consent page waits. The click's call, still running."""
    await complete_handshake(stepper)
    lab.add_authorization_server("auth2.example.com", "10.0.0.77")
    lab.use_authorization_server("https://auth2.example.com")
    return await show_consent_page(stepper, "expire_button")


def plain(stepper: HandshakeStepper) -> str:
    return re.sub(r"<[^>]*>", "", stepper.status.value).replace("&#x27;", "'")


@pytest.mark.anyio
async def test_a_refresh_at_a_moved_resource_shows_its_consent_page_as_a_new_authorization_at_the_new_as(
    lab: Lab,
) -> None:
    stepper = HandshakeStepper(lab, method="cimd")
    try:
        waiting = await consent_at_the_as_the_resource_moved_to(lab, stepper)
        status = plain(stepper)
        assert "step-up" not in status
        assert (
            "moved to another authorization server, https://auth2.example.com (it named https://auth.example.com)"
            in status
        )
        stepper.approve_button.click()
        await waiting
        assert stepper.error is None
    finally:
        await stepper.aclose()


async def clicked_asking_no_one(stepper: HandshakeStepper, button: str) -> None:
    """Click `button` and wait for its call, which must show no consent page."""
    getattr(stepper, button).click()
    while stepper.pending is not None and not stepper.pending.done():
        assert not stepper.awaiting_decision
        await asyncio.sleep(0)


NO_TOKEN_HELD = "No token is held, so every call fails until the handshake runs again: Reset starts over."


@pytest.mark.anyio
@pytest.mark.parametrize("button", ["expire_button", "step_up_button"])
async def test_after_the_user_denied_the_new_authorization_at_the_moved_resource_a_call_says_no_token_is_held(
    lab: Lab, button: str
) -> None:
    # The move dropped the old AS's tokens (RFC 6749 §10.4) and the user denied the new
    # authorization: no token is held. Expire read the expiry of the token it did not hold ("✕
    # TypeError: 'NoneType' object is not subscriptable"), a call said "run the steps in order", and
    # then a call asked the user again at the AS it last knew without reading the resource's
    # metadata; the status line promised that it would.
    stepper = HandshakeStepper(lab, method="cimd")
    try:
        waiting = await consent_at_the_as_the_resource_moved_to(lab, stepper)
        stepper.deny_button.click()
        await waiting
        assert "access_denied" in plain(stepper) and plain(stepper).endswith(NO_TOKEN_HELD)
        now = lab.clock.now()
        await clicked_asking_no_one(stepper, button)
        assert plain(stepper).startswith(
            "✕ step 8 (call): no access token is held: the tokens of 'https://auth.example.com' were dropped when "
            "the resource moved to 'https://auth2.example.com'"
        )
        assert plain(stepper).endswith(NO_TOKEN_HELD) and "asks the user" not in plain(stepper)
        assert lab.clock.now() == now and stepper.last_call is not None and stepper.last_call.endswith(": 8 call")
    finally:
        await stepper.aclose()


@pytest.mark.anyio
async def test_a_move_to_an_as_that_cannot_register_the_client_promises_no_consent(lab: Lab) -> None:
    # Step 4 fails at the new AS (no registration endpoint): the status line said "a tool call
    # (either button) asks the user again", and the call asked no one.
    lab.add_authorization_server(
        "auth2.example.com", "10.0.0.77", capabilities=ASCapabilities(cimd=False, dcr="removed")
    )
    stepper = HandshakeStepper(lab, method="dcr")
    try:
        await complete_handshake(stepper)
        lab.use_authorization_server("https://auth2.example.com")
        lab.auth_server.refresh_tokens.clear()
        await clicked_asking_no_one(stepper, "expire_button")
        assert plain(stepper).startswith("✕ step 4 (client-id)") and plain(stepper).endswith(NO_TOKEN_HELD)
        await clicked_asking_no_one(stepper, "step_up_button")
        assert "did not complete (step 4 (client-id) failed: registration method 'dcr'" in plain(stepper)
    finally:
        await stepper.aclose()


@pytest.mark.anyio
async def test_a_consent_page_step_7_leads_to_waits_for_approve_or_deny(lab: Lab) -> None:
    # At consent "the step then waits for the person to press Approve or Deny": step 7 finding the
    # resource moved (its refresh refused, discovery names another AS) authorizes there, and Next
    # step consented for the person with the client's own "approve", the page never shown.
    lab.add_authorization_server("auth2.example.com", "10.0.0.77")
    stepper = HandshakeStepper(lab, method="cimd")
    try:
        await run_to_consent(stepper)
        await stepper.advance("approve")
        await stepper.advance()  # step 6
        lab.use_authorization_server("https://auth2.example.com")
        lab.auth_server.refresh_tokens.clear()
        waiting = await show_consent_page(stepper)
        assert (
            "the resource moved to another authorization server, https://auth2.example.com (it named "
            "https://auth.example.com), so the client asks the user for a new authorization there" in plain(stepper)
        )
        stepper.deny_button.click()
        await waiting
        assert plain(stepper).startswith("✕ step 5 (authorize): the AS answered access_denied")
        assert stepper.client.state.access_token is None and not stepper.done
    finally:
        await stepper.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "label"), [("dcr", "DCR"), ("cimd", "CIMD"), ("auto", "auto")])
async def test_the_pills_and_the_status_follow_the_handshake(lab: Lab, method: str, label: str) -> None:
    stepper = HandshakeStepper(lab, method=method)
    names = ["challenge", "resource-metadata", "as-metadata", "client-id", "authorize", "token", "mcp"]
    try:
        later = [f"{n} {name}" for n, name in enumerate(names, 1)][1:]
        assert pills(stepper.progress.value) == ["▶ 1 challenge", *later]
        assert f"<b>{label}</b>: next is step 1 of 7, Request without a token → 401." in stepper.status.value
        for _ in range(4):
            await stepper.advance()
        assert pills(stepper.progress.value)[3:] == ["✓ 4 client-id", "▶ 5 authorize", "6 token", "7 mcp"]
        assert "next is step 5 of 7" in stepper.status.value and "you decide" in stepper.status.value
        await stepper.advance("deny")  # failed, not next: the pill says what happened
        assert pills(stepper.progress.value)[3:] == ["✓ 4 client-id", "✕ 5 authorize", "6 token", "7 mcp"]
        await stepper.advance("approve")
        assert pills(stepper.progress.value)[4:] == ["✓ 5 authorize", "▶ 6 token", "7 mcp"]
        assert "next is step 6 of 7" in stepper.status.value and "you decide" not in stepper.status.value
        assert "Allow access to your account?" in stepper.consent_html.value  # the page step 5 showed
        await stepper.advance()
        assert stepper.consent_html.value == ""  # step 6 is the token: the page is gone
        assert '<svg style="max-width:100%;height:auto" ' in stepper.diagram_html.value  # scaled to the output
    finally:
        await stepper.aclose()


@pytest.mark.anyio
async def test_consent_asked_again_shows_the_page_that_waits_not_the_denial_before_it(
    stepper: HandshakeStepper,
) -> None:
    # Next step after a Deny asks again (OAuth 2.1 §4.1.2.1: access_denied ends that request,
    # not the client's chance to make another): while the new page waits, the status says what
    # to do with it, and step 5 is under way again, not failed; the denial is over.
    await run_to_consent(stepper)
    waiting = await show_consent_page(stepper)
    stepper.deny_button.click()
    await waiting
    assert pills(stepper.progress.value)[4] == "✕ 5 authorize" and "✕" in stepper.status.value
    waiting = await show_consent_page(stepper)
    assert "step 5, the consent page below is what the user sees. Approve or Deny?" in stepper.status.value
    assert "✕" not in stepper.status.value and stepper.error is None
    assert pills(stepper.progress.value)[4] == "▶ 5 authorize"
    assert "failed" not in stepper.step_html.value and "Step 4" in stepper.step_html.value  # as at the first ask
    assert "Allow access to your account?" in stepper.consent_html.value
    stepper.approve_button.click()
    await waiting
    assert pills(stepper.progress.value)[4:6] == ["✓ 5 authorize", "▶ 6 token"] and stepper.error is None


@pytest.mark.anyio
async def test_a_step_up_asked_again_shows_its_page_not_the_denial_before_it(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    for choice in ("deny", "approve"):
        waiting = await show_consent_page(stepper, "step_up_button")
        assert "step-up. The tool needs more scope" in stepper.status.value and "✕" not in stepper.status.value
        getattr(stepper, f"{choice}_button").click()
        await waiting
    assert stepper.error is None and "Last call add_note" in stepper.status.value
