"""The exercises accept what a learner means, not only what the check's author typed.

Every answer-matching rule of `lab_servers.answer_reading` has a case here: numbers as digits,
words, with their reason phrase or a status line, "1 of 4"; verdict synonyms; names of registration
methods; error codes with quotes or `error=`; URLs compared exactly, one trailing slash added to a
URL that has none forgiven (with a note that identifiers are exact strings); Python names typed
with spaces; glosses in parentheses, explanations after a comma, and filler words. And the other
direction: a wrong answer stays wrong (a negation or a bound of the answer itself, a hedge, a gloss
offering another answer, a number word the reader does not know, a claim name in the wrong case,
two fields where one is asked for, a part the question does not have).
"""

from __future__ import annotations

import pytest

# Registering notebook 05's and notebook 07's exercises.
import lab_servers.security.exercises
import lab_servers.story_exercises  # noqa: F401
from lab_servers import Lab
from lab_servers.notebook_support import EXERCISES, check_answer, identifier, is_correct, verdicts

TENANT_URLS = EXERCISES["01-tenant-as-urls"].expected(None)


@pytest.mark.parametrize("answer", [201, "201", "201 Created", "HTTP 201", " '201' ", "201 created"])
def test_a_status_code_may_come_with_its_reason_phrase(answer: object) -> None:
    assert is_correct("02-register-status", answer)


@pytest.mark.parametrize("answer", [200, "200 OK", "Created", True])
def test_a_wrong_status_code_is_wrong(answer: object) -> None:
    assert not is_correct("02-register-status", answer)


@pytest.mark.parametrize("answer", [3, "3", "three", "Three", "3 records", "THREE records"])
def test_a_count_may_be_a_word(answer: object) -> None:
    assert is_correct("02-records-after-three", answer)


@pytest.mark.parametrize("answer", [0, "0", "zero", "none at all: 0", "no requests, zero"])
def test_zero_may_be_written_out(answer: object) -> None:
    assert is_correct("03-register-requests", answer)


@pytest.mark.parametrize("answer", [2, "one", "1 request"])
def test_a_wrong_count_is_wrong(answer: object) -> None:
    assert not is_correct("02-records-after-three", answer) and not is_correct("03-register-requests", answer)


@pytest.mark.parametrize(
    "answer", ["invalid_client", "INVALID_CLIENT", 'error="invalid_client"', "invalid client", "invalid-client"]
)
def test_an_error_code_may_be_quoted_or_spelled_loosely(answer: str) -> None:
    assert is_correct("03-mismatch-error", answer)


def test_invalid_request_is_also_right_for_an_invalid_cimd_document(capsys: pytest.CaptureFixture[str]) -> None:
    """MCP §5.1.3 allows invalid_request for an invalid client metadata document."""
    assert is_correct("03-mismatch-error", "invalid_request")
    check_answer("03-mismatch-error", "invalid_request")
    out = capsys.readouterr().out
    assert out.startswith("✅ Right: invalid_request.") and "MCP §5.1.3" in out


@pytest.mark.parametrize("answer", ["access_denied", "it works", "unauthorized_client", "invalid"])
def test_other_error_codes_are_wrong(answer: str) -> None:
    assert not is_correct("03-mismatch-error", answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("03-mismatch-error", "`invalid_client`"),  # Markdown's code marks, as the solutions write it
        ("07-refresh-reuse", "invalid_grant."),  # a sentence's full stop
        ("07-id-jag-replay", "'invalid_grant'."),
        ("07-exchange-error", "error=`invalid_target`!"),
        ("07-passthrough-claim", "the `aud` claim."),
    ],
)
def test_backticks_and_a_full_stop_around_a_right_code_or_claim_leave_it_right(exercise: str, answer: str) -> None:
    assert is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("07-refresh-reuse", "invalid_grant?"),
        ("07-refresh-reuse", "`invalid_request`."),
        ("07-passthrough-claim", "`iss`."),
    ],
)
def test_a_question_mark_still_asks_and_marks_make_no_wrong_code_right(exercise: str, answer: str) -> None:
    assert not is_correct(exercise, answer)


def test_urls_may_end_with_a_slash_and_the_check_says_identifiers_are_exact(capsys: pytest.CaptureFixture[str]) -> None:
    assert is_correct("01-tenant-as-urls", [url + "/" for url in TENANT_URLS])
    assert is_correct("01-tenant-as-urls", ", ".join(TENANT_URLS))  # one string, comma separated
    assert is_correct("01-tenant-as-urls", "\n".join(f"'{u}'" for u in TENANT_URLS))
    check_answer("01-tenant-as-urls", [TENANT_URLS[0] + "/", *TENANT_URLS[1:]])
    assert "trailing slash" in capsys.readouterr().out
    check_answer("01-tenant-as-urls", TENANT_URLS)
    assert "trailing slash" not in capsys.readouterr().out


def test_the_order_of_urls_matters() -> None:
    assert not is_correct("01-tenant-as-urls", list(reversed(TENANT_URLS)))
    assert not is_correct("01-tenant-as-urls", TENANT_URLS[:2])


@pytest.mark.anyio
async def test_the_prm_url_is_the_one_the_client_fetched() -> None:
    lab = Lab(seed=0)
    client = lab.client("cimd")
    await client.request_without_token()
    await client.discover_resource_metadata()
    fetched = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    assert is_correct("01-prm-url", fetched, lab) and is_correct("01-prm-url", fetched + "/", lab)
    assert not is_correct("01-prm-url", "https://mcp.example.com/mcp/.well-known/oauth-protected-resource", lab)


@pytest.mark.parametrize("answer", [["client_id", "jti"], "jti, client_id", {"jti", "client_id"}, "client_id jti"])
def test_claim_names_in_any_order_and_form(answer: object) -> None:
    assert is_correct("04-differing-claims", answer)


def test_a_missing_or_extra_claim_is_wrong() -> None:
    assert not is_correct("04-differing-claims", ["client_id"]) and not is_correct(
        "04-differing-claims", "client_id jti sub"
    )


@pytest.mark.parametrize("c", ["preregistered", "pre-registered", "Pre registered", "pre-registration", "static"])
@pytest.mark.parametrize("b", ["dcr", "DCR", "Dynamic Client Registration", "RFC 7591"])
def test_registration_methods_by_any_of_their_names(b: str, c: str) -> None:
    assert is_correct("04-best-fit", {"a": "CIMD", "b": b, "c": c})


def test_one_wrong_choice_makes_the_whole_answer_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    check_answer("04-best-fit", {"a": "dcr", "b": "dcr", "c": "preregistered"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["❌ (a) dcr", "✅ (b) dcr", "✅ (c) preregistered"] and lines[3].startswith(
        "❌ Not quite. Hint:"
    )


@pytest.mark.parametrize(("word", "meant"), [("refused", "refused"), ("Rejected", "refused"), ("denied", "refused"),
                                             ("blocked", "refused"), ("accepted", "accepted"), ("Allowed", "accepted"),
                                             ("passes", "accepted"), ("it works", "accepted"),  # "it": a filler
                                             ("it depends", "it depends")])  # fmt: skip
def test_verdict_synonyms(word: str, meant: str) -> None:
    assert verdicts({"A": word}) == {"a": meant}


def test_which_refused_accepts_synonyms() -> None:
    assert is_correct("05-which-refused", {"a": "rejected", "b": "allowed", "c": "Refused", "d": "accepted"})
    assert not is_correct("05-which-refused", {"a": "accepted", "b": "allowed", "c": "Refused", "d": "accepted"})


@pytest.mark.parametrize(
    "answer", ["pin_vetted_address", "pin vetted address", "'pin-vetted-address'", "pin_vetted_address=False"]
)
def test_a_policy_field_name_typed_loosely(answer: str) -> None:
    assert identifier(answer) == "pin_vetted_address" and is_correct("05-rebinding-rule", answer)


def test_unanswered_exercises_invite_an_answer(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("02-register-status", "04-best-fit"):
        check_answer(name, None if name != "04-best-fit" else {"a": None, "b": None, "c": None})
    assert [line[:2] for line in capsys.readouterr().out.splitlines()] == ["✏️", "✏️"]


def test_hints_do_not_state_the_answer() -> None:
    """A hint guides; it never contains the expected answer itself."""
    for name, exercise in EXERCISES.items():
        if name in ("01-prm-url", "02-pkce-s256"):
            continue  # their answers depend on a lab run
        expected = exercise.normalise(exercise.expected(None))
        values = (
            expected.values()
            if isinstance(expected, dict)
            else expected
            if isinstance(expected, list | set)
            else [expected]
        )
        for value in values:
            if isinstance(value, str) and len(value) > 4:
                assert value not in exercise.hint.lower(), f"{name}'s hint gives away {value!r}"


@pytest.mark.anyio
async def test_pkce_s256_is_computed_from_the_verifier() -> None:
    import base64
    import hashlib

    lab = Lab(seed=0)
    client = lab.client("dcr")
    for step in (client.request_without_token, client.discover_resource_metadata, client.discover_authorization_server,
                 client.get_client_id, client.authorize):  # fmt: skip
        await step()
    verifier = client.state.code_verifier
    assert verifier is not None
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode()
    assert is_correct("02-pkce-s256", digest.rstrip("="), lab)
    assert not is_correct("02-pkce-s256", digest, lab) or not digest.endswith("="), "padding is not S256"
    assert not is_correct("02-pkce-s256", verifier, lab), (
        "the verifier itself is not the challenge (that would be 'plain')"
    )


@pytest.mark.parametrize("answer", ["1 or 2", "one or two", "2 (or 1)"])
def test_a_hedged_count_naming_two_numbers_is_wrong(answer: str) -> None:
    assert not is_correct("06-mixup-stopped", answer)


@pytest.mark.parametrize("answer", [1, "1", "one", "1 run", "just one: 1"])
def test_one_count_however_written_is_right(answer: object) -> None:
    assert is_correct("06-mixup-stopped", answer)


@pytest.mark.parametrize("answer", ["dcr", "DCR", "Dynamic Client Registration", "RFC 7591", "dynamic registration"])
def test_the_fallback_method_may_be_named_as_in_notebook_04(answer: str) -> None:
    assert is_correct("06-fallback-method", answer)


@pytest.mark.parametrize("answer", ["2025-06-18", "MCP 2025-06-18", "the 2025-06-18 revision", " '2025-06-18' "])
def test_a_revision_may_be_named_with_its_context(answer: str) -> None:
    assert is_correct("06-prm-revision", answer)


@pytest.mark.parametrize("answer", ["2025-11-25", "2025-06-18 or 2025-11-25", "June 2025", "cimd"])
def test_a_wrong_or_hedged_revision_or_method_is_wrong(answer: str) -> None:
    assert not is_correct("06-prm-revision", answer) and not is_correct("06-fallback-method", answer)


def test_a_policy_field_reached_through_its_policy_is_the_field() -> None:
    # HARDENED.pin_vetted_address and HARDENED.but(pin_vetted_address=False) name the same field.
    for answer in (
        "HARDENED.pin_vetted_address",
        "HARDENED.but(pin_vetted_address=False)",
        "pin_vetted_address: False",
    ):
        assert is_correct("05-rebinding-rule", answer), answer
    assert not is_correct("05-rebinding-rule", "HARDENED.block_special_use_addresses")


@pytest.mark.parametrize(("word", "meant"), [("accepts", "accepted"), ("allows", "accepted"), ("refuses", "refused"),
                                             ("rejects", "refused"), ("Denies", "refused"), ("blocks", "refused")])  # fmt: skip
def test_a_verdict_in_the_questions_own_tense(word: str, meant: str) -> None:
    # "Does (a) … accept it?" is answered "accepts" as often as "accepted".
    assert verdicts({"a": word}) == {"a": meant}


@pytest.mark.parametrize(
    "answer",
    [{"notes:read", "notes:write", "notes:export"}, "notes:export, notes:read, notes:write",
     "scope=notes:read notes:write notes:export", "'notes:read notes:write notes:export'"],
)  # fmt: skip
def test_the_step_up_scopes_in_any_order_and_as_a_scope_parameter(answer: object) -> None:
    assert is_correct("07-step-up-union", answer)


@pytest.mark.parametrize("answer", ["NOTES:READ NOTES:WRITE NOTES:EXPORT", "notes:read notes:write", "notes:write"])
def test_step_up_scopes_are_case_sensitive_and_the_union_is_all_of_them(answer: str) -> None:
    # RFC 6749 §3.3: scope values are case-sensitive strings, so NOTES:READ is another scope;
    # SEP-2350: the challenge's scopes alone drop notes:export.
    assert not is_correct("07-step-up-union", answer)


@pytest.mark.parametrize("answer", ["aud", "audience", "Audience", "the aud claim", "'aud' claim"])
def test_the_passthrough_claim_may_be_named_as_a_claim(answer: str) -> None:
    assert is_correct("07-passthrough-claim", answer)


@pytest.mark.parametrize("answer", ["iss", "exp", "the iss claim", "sub"])
def test_another_claim_is_not_the_audience(answer: str) -> None:
    assert not is_correct("07-passthrough-claim", answer)


@pytest.mark.parametrize(
    ("exercise", "right", "wrong"),
    [
        ("07-refresh-reuse", "invalid_grant", "invalid_request"),  # RFC 6749 §5.2: the grant is revoked
        ("07-exchange-error", "error=invalid_target", "invalid_request"),  # RFC 8693 §2.2.2
        ("07-id-jag-replay", "Invalid Grant", "invalid_client"),  # RFC 7523 §3.1: an assertion refused
        ("07-client-credentials-public", "'invalid_client'", "unauthorized_client"),  # RFC 6749 §5.2
        ("07-revoked-jwt", {"a": "accepts", "b": "refuses"}, {"a": "refused", "b": "refused"}),  # RFC 7662 §1
    ],
)
def test_notebook_07s_answer_keys_are_the_specs_and_nothing_else(exercise: str, right: object, wrong: object) -> None:
    assert is_correct(exercise, right) and not is_correct(exercise, wrong)


@pytest.mark.parametrize("exercise", ["01-tenant-as-urls", "07-step-up-union"])
def test_an_answer_nested_past_any_answer_is_refused_by_name_not_a_recursion_error(exercise: str) -> None:
    # str() of a list 100,000 deep raised RecursionError out of check_answer.
    nested: list[object] = []
    inner = nested
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    with pytest.raises(TypeError, match=f"the answer to {exercise} is nested deeper than any answer is"):
        check_answer(exercise, nested)


@pytest.mark.anyio
async def test_the_pkce_challenge_is_judged_against_the_learners_client_among_several() -> None:
    # Notebook 02 run top to bottom: `client`'s handshake, then cell n02-33 connects two more DCR
    # clients in the same lab. Going back to the PKCE exercise, `client`'s challenge is still right.
    import base64
    import hashlib

    def s256(verifier: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")

    lab = Lab(seed=0)
    client = lab.client("dcr")
    await client.run_all()
    others = [(await lab.connect("dcr")).client for _ in range(2)]
    assert client.state.code_verifier and all(o.state.code_verifier for o in others)
    mine, theirs = s256(client.state.code_verifier), s256(others[-1].state.code_verifier or "")
    assert is_correct("02-pkce-s256", mine, lab) and is_correct("02-pkce-s256", mine, client)
    # Given the lab, another client's challenge is an S256 computed right too (the check says whose);
    # given a client, only its own is.
    assert is_correct("02-pkce-s256", theirs, lab) and not is_correct("02-pkce-s256", theirs, client)
    assert is_correct("02-pkce-s256", theirs, others[-1])
    assert not is_correct("02-pkce-s256", client.state.code_verifier, client)  # 'plain' is not S256
    with pytest.raises(ValueError, match="this client has sent no authorization request yet"):
        is_correct("02-pkce-s256", mine, lab.client("dcr"))


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("02-register-status", "HTTP/1.1 201 Created"),  # the status line show_exchange prints next
        ("02-register-status", "HTTP/2 201"),
        ("02-register-status", 201.0),  # the type check takes floats as numbers
        ("02-records-after-three", "3.0"),
        ("03-register-requests", "none"),
        ("03-register-requests", "no requests"),
        ("06-mixup-stopped", "1 of 4"),  # "In how many of the four runs": the four is the question's
        ("06-mixup-stopped", "one of the four"),
        ("06-mixup-stopped", "one out of four"),
        ("06-mixup-stopped", "1/4"),
        ("06-mixup-stopped", "1 (the modern client with the hardened AS)"),
        ("06-mixup-stopped", 1.0),
    ],
)
def test_a_number_is_read_as_the_learner_means_it(exercise: str, answer: object) -> None:
    assert is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("02-register-status", "not 201"),  # a negation names no number
        ("02-register-status", "isn't 201"),
        ("02-register-status", 201.5),
        ("02-records-after-three", "three hundred"),  # number words the reader does not add up
        ("02-records-after-three", "not three"),
        ("06-mixup-stopped", "twenty one"),
        ("06-mixup-stopped", "twenty-one"),
        ("06-mixup-stopped", "one hundred"),
        ("06-mixup-stopped", "1 of 3"),  # not the question's total: two numbers
        ("06-mixup-stopped", "1 (or 2)"),  # a gloss that offers another answer hedges
        ("06-mixup-stopped", "none of the four"),
        ("03-register-requests", "none, or 1"),
        ("02-records-after-three", "1 of 4"),  # no total in this question: two numbers
        # A gloss with numbers of its own offers them: the reader does not add them up.
        ("02-records-after-three", "3 (1 from step 4 + 2 new)"),
        ("06-mixup-stopped", "1 (2026-07-28 client + hardened AS)"),
    ],
)
def test_a_number_that_is_not_the_answer_stays_wrong(exercise: str, answer: object) -> None:
    assert not is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("04-differing-claims", "client_id and jti"),
        ("04-differing-claims", "the jti and client_id claims"),
        ("04-differing-claims", "client_id (the point) and jti (unique per token)"),
        ("07-revoked-jwt", {"a": "still accepted", "b": "refused"}),
        ("07-revoked-jwt", {"a": "accepted (it never asks)", "b": "it is refused"}),
        ("07-passthrough-claim", "aud (audience)"),
        ("07-step-up-union", "notes:read, notes:write and notes:export"),
        ("06-fallback-method", "DCR (RFC 7591)"),
        ("06-fallback-method", "dynamic client registration (RFC 7591)"),
        ("04-best-fit", {"a": "CIMD (a URL)", "b": "by DCR", "c": "pre-registered"}),
        ("06-prm-revision", "2025-06-18 (the first with PRM)"),
        ("03-mismatch-error", "invalid_client (RFC 6749 §5.2)"),
        ("07-refresh-reuse", "invalid_grant (the token was rotated)"),
    ],
)
def test_glosses_and_filler_words_do_not_make_a_right_answer_wrong(exercise: str, answer: object) -> None:
    assert is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("06-prm-revision", "not 2025-06-18"),  # a negation names no revision
        ("07-revoked-jwt", {"a": "not accepted", "b": "refused"}),
        ("07-revoked-jwt", {"a": "accepted", "b": "never refused"}),
        ("06-fallback-method", "not DCR"),
        ("04-differing-claims", "client_id or jti"),
        ("04-differing-claims", "client_id and jti and sub"),
        ("07-revoked-jwt", {"a": "accepted then refused", "b": "refused"}),
    ],
)
def test_a_negated_or_hedged_answer_stays_wrong_with_glosses_and_fillers_read(exercise: str, answer: object) -> None:
    assert not is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("04-differing-claims", {"CLIENT_ID", "JTI"}),
        ("04-differing-claims", "Client_ID, jti"),
        ("07-passthrough-claim", "AUD"),
        ("07-passthrough-claim", "the Aud claim"),
    ],
)
def test_a_claim_name_in_the_wrong_case_is_another_claim_and_the_check_says_so(
    exercise: str, answer: object, capsys: pytest.CaptureFixture[str]
) -> None:
    # RFC 7519 §10.1.1: a claim name is case-sensitive; §7.3: compared as exact strings.
    assert not is_correct(exercise, answer)
    check_answer(exercise, answer)
    out = capsys.readouterr().out
    assert out.startswith("❌ Not quite: right but for the letter case") and "case-sensitive (RFC 7519 §10.1.1)" in out


def test_scopes_in_the_wrong_case_are_told_so(capsys: pytest.CaptureFixture[str]) -> None:
    check_answer("07-step-up-union", "NOTES:READ NOTES:WRITE NOTES:EXPORT")
    assert "case-sensitive strings (RFC 6749 §3.3)" in capsys.readouterr().out
    check_answer("07-step-up-union", "iss")
    assert "Hint: SEP-2350" in capsys.readouterr().out  # a plain wrong answer gets the hint


@pytest.mark.parametrize(
    "answer",
    [
        "HARDENED.but(pin_vetted_address=False, block_special_use_addresses=False)",
        "HARDENED.but(block_special_use_addresses=False, pin_vetted_address=False)",
        "pin_vetted_address and block_special_use_addresses",
        "pin_vetted_address, block_special_use_addresses",
    ],
)
def test_naming_two_policy_fields_in_any_order_is_not_the_single_field(
    answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert identifier(answer) == "block_special_use_addresses and pin_vetted_address"
    check_answer("05-rebinding-rule", answer)
    assert capsys.readouterr().out.startswith("❌ Not quite: name one field.")


@pytest.mark.parametrize(
    "answer", ["HARDENED.but(**{'pin_vetted_address': False})", "pin_vetted_address (the pinning rule)"]
)
def test_a_single_policy_field_in_a_call_or_with_a_gloss_is_the_field(answer: str) -> None:
    assert is_correct("05-rebinding-rule", answer)


def test_a_url_may_end_with_one_slash_but_not_with_more() -> None:
    # One trailing slash is forgiven (with a note); "//" is another path.
    assert not is_correct("01-tenant-as-urls", [url + "//" for url in TENANT_URLS])
    assert not is_correct("01-tenant-as-urls", [url + "///" for url in TENANT_URLS])


@pytest.mark.parametrize(
    "answer", ["client_id, jti, scope", "client_id, jti and the scope claim", "client_id jti scopes"]
)
def test_scope_is_a_claim_both_tokens_carry_not_a_word_between_names(answer: str) -> None:
    # Both tokens carry scope, with the same value: naming it is naming a claim that does not differ.
    assert not is_correct("04-differing-claims", answer)


@pytest.mark.parametrize("answer", ["the client_id and jti claims", "client_id & jti", "claims: client_id, jti"])
def test_words_between_claim_names_that_can_be_no_claim(answer: str) -> None:
    assert is_correct("04-differing-claims", answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("02-register-status", "201 (or 200)"),
        ("02-register-status", "201 (200?)"),
        ("02-register-status", "201 (could be 200)"),
        ("02-register-status", "201 (no, 200)"),
        ("06-mixup-stopped", "1 (or, 2)"),
        ("06-mixup-stopped", "1 (2 maybe)"),
        ("02-records-after-three", "3 (I mean 5)"),
        ("06-prm-revision", "2025-06-18 (2025-11-25?)"),
        ("06-prm-revision", "2025-06-18 (after 2025-03-26)"),
        ("07-passthrough-claim", "aud (I mean iss)"),
        ("07-passthrough-claim", "aud (or iss)"),
        ("06-fallback-method", "DCR (I mean CIMD)"),
        ("04-best-fit", {"a": "CIMD (or DCR)", "b": "dcr", "c": "preregistered"}),
        ("07-refresh-reuse", "invalid_grant (I mean invalid_request)"),
        ("03-mismatch-error", "invalid_client (or invalid request)"),
        ("05-rebinding-rule", "pin_vetted_address (I mean block_special_use_addresses)"),
        ("05-rebinding-rule", "pin_vetted_address (block_special_use_addresses)"),
        ("04-differing-claims", "client_id, jti (and iat)"),
        ("04-differing-claims", "client_id, jti (sub?)"),
        ("07-step-up-union", "notes:read notes:write notes:export (or notes:delete)"),
        ("03-register-requests", "none (1)"),
        ("07-revoked-jwt", {"a": "accepted (I mean refused)", "b": "refused"}),
        ("07-revoked-jwt", {"a": "accepted (no)", "b": "refused"}),
    ],
)
def test_a_gloss_that_offers_another_answer_hedges(exercise: str, answer: object) -> None:
    # A gloss is left out only when it names nothing of the answer's kind but the answer, and hedges not.
    assert not is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("02-register-status", "201 (Created)"),
        ("03-register-requests", "0 (CIMD never registers)"),
        ("03-register-requests", "0 (none)"),
        ("06-fallback-method", "DCR (dynamic client registration)"),
        ("04-best-fit", {"a": "CIMD (a URL)", "b": "dcr", "c": "preregistered"}),
        ("04-differing-claims", "client_id (the point), jti (client_id differs by design, jti per token)"),
        ("07-step-up-union", "notes:read notes:write notes:export (notes:export from before)"),
        ("07-step-up-union", "scopes notes:read notes:write notes:export"),
        ("07-revoked-jwt", {"a": "accepted (it never asks the AS)", "b": "refused (the AS says active: false)"}),
    ],
)
def test_a_gloss_that_names_only_the_answer_itself_is_left_out(exercise: str, answer: object) -> None:
    assert is_correct(exercise, answer)


@pytest.mark.parametrize("answer", ["no idea", "no clue", "I have no idea", "no one", "no 1", "nothing"])
def test_no_is_zero_only_when_it_is_all_the_answer_says(answer: str) -> None:
    assert not is_correct("03-register-requests", answer)


@pytest.mark.parametrize("answer", ["no", "No requests", "none", "none of them", "zero", "0"])
def test_no_and_none_alone_are_zero(answer: str) -> None:
    assert is_correct("03-register-requests", answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("03-register-requests", "0, CIMD never registers"),
        ("03-register-requests", "zero, the client doesn't register"),
        ("02-records-after-three", "3, the AS doesn't forget them"),
        ("02-records-after-three", "3 - the AS does not forget them"),
        ("06-mixup-stopped", "one: the client that never skips the iss check"),
        ("02-register-status", "201, isn't it?"),
        ("06-prm-revision", "2025-06-18, not before"),
    ],
)
def test_a_negation_in_an_explanation_after_the_answer_does_not_negate_it(exercise: str, answer: object) -> None:
    assert is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("02-register-status", "not 201"),
        ("02-register-status", "201? no, 200"),
        ("02-register-status", "201 is not it"),
        ("02-register-status", "I think, not 201"),
        ("02-records-after-three", "never 3"),
        ("02-records-after-three", "maybe 3"),
        ("06-prm-revision", "I'd say, not 2025-06-18"),
    ],
)
def test_a_negation_or_hedge_of_the_answer_itself_stays_wrong(exercise: str, answer: object) -> None:
    assert not is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("06-mixup-stopped", "all but one"),
        ("06-mixup-stopped", "all except one"),
        ("06-mixup-stopped", "more than one"),
        ("06-mixup-stopped", "at least 1"),
        ("06-prm-revision", "before 2025-06-18"),
        ("06-prm-revision", "2025-06-18 or later"),
        ("02-records-after-three", "less than 3"),
        ("02-records-after-three", "up to 3"),
        ("02-records-after-three", "-3"),
    ],
)
def test_a_bound_or_a_remainder_is_not_the_number(exercise: str, answer: object) -> None:
    assert not is_correct(exercise, answer)


@pytest.mark.parametrize(
    "answer",
    [
        "pin_vetted_address, because the connection looks the name up again",
        "pin_vetted_address and nothing else",
        "pin_vetted_address=False, nothing else",
    ],
)
def test_one_policy_field_with_an_explanation_is_the_field(answer: str) -> None:
    assert is_correct("05-rebinding-rule", answer)


@pytest.mark.parametrize(
    "answer",
    [
        "pin_vetted_address and block special use",
        "pin_vetted_address, pin_vetted",
        "pin_vetted_address and x_y",
        "pin_vetted_address, or maybe not",
    ],
)
def test_a_second_name_that_may_be_a_field_is_not_an_explanation(
    answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not is_correct("05-rebinding-rule", answer)


@pytest.mark.anyio
async def test_the_prm_url_is_the_exact_one_fetched_when_it_ends_with_a_slash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A lab whose MCP URL ends in '/': the client fetched .../mcp/, and .../mcp is a 404 there.
    lab = Lab(seed=0, mcp_url="https://mcp.example.com/mcp/")
    client = lab.client("cimd")
    await client.request_without_token()
    await client.discover_resource_metadata()
    fetched = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp/"
    check_answer("01-prm-url", fetched, lab)
    assert capsys.readouterr().out == f"✅ Right: {fetched}\n"  # no note: it is the exact string
    assert not is_correct("01-prm-url", fetched.removesuffix("/"), lab)
    assert not is_correct("01-prm-url", fetched + "/", lab)


@pytest.mark.anyio
async def test_one_slash_added_to_a_url_without_one_is_forgiven_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    lab = Lab(seed=0)
    client = lab.client("cimd")
    await client.request_without_token()
    await client.discover_resource_metadata()
    fetched = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    check_answer("01-prm-url", fetched + "/", lab)
    assert "Note: without the trailing slash" in capsys.readouterr().out
    assert not is_correct("01-prm-url", fetched + "//", lab)


def test_a_part_the_question_does_not_have_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert not is_correct("07-revoked-jwt", {"a": "accepted", "b": "refused", "c": "refused"})
    check_answer("07-revoked-jwt", {"a": "accepted", "b": "refused", "c": "refused"})
    assert capsys.readouterr().out.splitlines() == [
        "✅ (a) accepted",
        "✅ (b) refused",
        "❌ (c) refused: the question has no (c)",
        "❌ Not quite: answer only the question's parts, (a), (b).",
    ]


@pytest.mark.parametrize(
    ("exercise", "meant", "typed"),
    [
        # "Which does the hardened AS refuse?": yes, (a) is refused.
        ("05-which-refused", {"a": "refused", "b": "accepted", "c": "refused", "d": "accepted"},
         {"a": "yes", "b": "no", "c": "Yes", "d": "No."}),
        ("05-which-refused", {"a": "refused", "b": "accepted", "c": "refused", "d": "accepted"},
         {"a": True, "b": False, "c": True, "d": False}),
        # "Does (a) … and (b) … accept it?": yes, (a) accepts it.
        ("07-revoked-jwt", {"a": "accepted", "b": "refused"}, {"a": "yes", "b": "no"}),
        ("07-revoked-jwt", {"a": "accepted", "b": "refused"}, {"a": True, "b": False}),
    ],
)  # fmt: skip
def test_yes_and_no_answer_the_question_asked(
    exercise: str, meant: dict[str, str], typed: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    # A yes to "which does it refuse?" is a refusal; a yes to "does it accept it?" an acceptance.
    assert is_correct(exercise, typed)
    flipped = {k: (not v if isinstance(v, bool) else {"yes": "no", "no": "yes"}[str(v).lower().rstrip(".")])
               for k, v in typed.items()}  # fmt: skip
    assert not is_correct(exercise, flipped)
    check_answer(exercise, flipped)
    shown = capsys.readouterr().out.splitlines()[: len(meant)]
    opposite = {"refused": "accepted", "accepted": "refused"}
    assert shown == [f"❌ ({k}) {opposite[v]}" for k, v in meant.items()], "the verdict the yes or no was read as"


def test_a_policy_call_typed_over_several_lines_names_its_field() -> None:
    # A learner's own cell, pasted as a triple-quoted string: the keywords are on their own lines.
    assert is_correct("05-rebinding-rule", "HARDENED.but(\n    pin_vetted_address=False,\n)")


@pytest.mark.parametrize(
    "answer",
    [
        "not HARDENED.but(pin_vetted_address=False)",
        "maybe HARDENED.but(pin_vetted_address=False)",
        "HARDENED.but(pin_vetted_address=False) (I mean block_special_use_addresses)",
        "block_special_use_addresses, or HARDENED.but(pin_vetted_address=False)?",
        "block_special_use_addresses (not HARDENED.but(pin_vetted_address=False))",
        "block_special_use_addresses; HARDENED.but(pin_vetted_address=False) does nothing",
        "not(pin_vetted_address)",  # a bare callee is a word of the answer
        "HARDENED.but(not pin_vetted_address)",
        # Two fields, whatever their order and however the second is given: no one field.
        "HARDENED.but(pin_vetted_address=False)\nHARDENED.but(block_special_use_addresses=False)",
        "HARDENED.but(pin_vetted_address=False) (block_special_use_addresses)",
        "HARDENED.but(pin_vetted_address=False), block_special_use_addresses()",
        "block_special_use_addresses.but(pin_vetted_address=False)",
        "HARDENED.but(pin_vetted_address=False), block_special_use_addresses(False)",
        "HARDENED.but(pin_vetted_address=False) and block_special_use_addresses (both)",
        "block_special_use_addresses (with HARDENED.but(pin_vetted_address=False) too)",
        # An apostrophe is no string: what lies between two of them is read, negation, hedge and "?".
        "HARDENED.but(pin_vetted_address=False) isn't enough, you'd need both",
        "HARDENED.but(pin_vetted_address=False), I'd guess, though it's unclear",
        "HARDENED.but(pin_vetted_address=False), isn't it? I'd think so",
        "HARDENED.but(pin_vetted_address=False) has no effect",
        "HARDENED.but(pin_vetted_address=False) changes nothing",
    ],
)
def test_words_around_a_policy_call_that_hedge_negate_or_name_another_field_make_it_no_answer(answer: str) -> None:
    # The module's promise: a hedge anywhere, or a negation in the answer's own clause, is read as
    # text. Read from inside the call's parentheses alone, each of these was "✅ Right".
    assert not is_correct("05-rebinding-rule", answer)


@pytest.mark.parametrize(
    "answer",
    [
        "policy = HARDENED.but(pin_vetted_address=False)",
        "HARDENED.but(pin_vetted_address=False).",
        "pin_vetted_address, i.e. HARDENED.but(pin_vetted_address=False)",  # the call's own name, repeated
        "HARDENED.but(pin_vetted_address=False) switches off pin_vetted_address",
        "`pin_vetted_address`: HARDENED.but(pin_vetted_address=False)",
        "await run_dns_rebinding(HARDENED.but(pin_vetted_address=False))",  # notebook 05's solution: it runs
        "HARDENED.but(**{'pin_vetted_address': False})",
        'HARDENED.but(name="hardened, not pinned", pin_vetted_address=False)',  # notebook 05, cell 21: name is a label
        "await run_dns_rebinding(policy=HARDENED.but(pin_vetted_address=False))",
        "HARDENED.but(pin_vetted_address=False), because the AS would not connect to the vetted address",
        "HARDENED.but(pin_vetted_address=False)  # the client_id host is looked up again",
        "It's HARDENED.but(pin_vetted_address=False), the name's looked up again",
        "HARDENED.but(pin_vetted_address=False) (the check still runs, but the address is not pinned)",
        "HARDENED.but(pin_vetted_address=False) — the AS doesn't connect to the vetted address",  # as cell 44 writes
        "HARDENED.but(pin_vetted_address=False) -- the AS doesn't connect to the vetted address",
    ],
)
def test_a_policy_call_assigned_explained_or_ending_a_sentence_still_names_its_field(answer: str) -> None:
    assert is_correct("05-rebinding-rule", answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("06-fallback-method", "`dcr`."),  # notebook 06's solution, as it opens
        ("04-best-fit", {"a": "**cimd**", "b": "**DCR**", "c": "`pre-registered`."}),  # notebook 04's bold
        ("05-which-refused", {"a": "`refused`.", "b": "**accepted**", "c": "refused.", "d": "`accepted`"}),
        ("07-revoked-jwt", {"a": "**accepted**", "b": "**refused**"}),  # notebooks 05 and 07 write them so
    ],
)
def test_a_method_or_verdict_written_as_the_solutions_write_it_is_right(exercise: str, answer: object) -> None:
    assert is_correct(exercise, answer)


@pytest.mark.parametrize(
    "exercise", ["07-refresh-reuse", "04-differing-claims", "05-rebinding-rule", "06-fallback-method"]
)
@pytest.mark.parametrize("mark", [".", "!"])
def test_a_huge_run_of_full_stops_is_judged_at_once(exercise: str, mark: str) -> None:
    # A regex anchored at the end retried from every "." of a run: 200 kB of them took 506 s.
    import time

    started = time.monotonic()
    assert not is_correct(exercise, mark * 200_000 + "x")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("answer", ["x(" * 30_000, "pin_vetted_address(" * 5_000])
def test_a_huge_answer_full_of_parentheses_is_judged_at_once(answer: str) -> None:
    # The lab's rule for hostile input: never a hang. A regex's ".*" tried from every "(" made
    # 60 kB of "x(" take 50 s, 20 kB 6 s.
    import time

    started = time.monotonic()
    assert not is_correct("05-rebinding-rule", answer)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("03-mismatch-error", "invalid_client."),
        ("03-mismatch-error", "`invalid_client`"),  # a Markdown habit
        ("07-refresh-reuse", "Invalid grant."),
        ("07-refresh-reuse", "invalid_grant (the token was rotated)."),
        ("07-exchange-error", "error=invalid_target."),
        ("07-id-jag-replay", "invalid_grant!"),
        ("07-client-credentials-public", "invalid_client."),
        ("04-differing-claims", "client_id and jti."),
        ("04-differing-claims", '"client_id", "jti"'),
        ("04-differing-claims", "`client_id`, `jti`"),
        ("07-passthrough-claim", "aud."),
        ("07-passthrough-claim", "aud (audience)."),
        ("07-step-up-union", "notes:read, notes:write and notes:export."),
        ("05-rebinding-rule", "pin_vetted_address."),
        ("05-rebinding-rule", "HARDENED.pin_vetted_address."),
        ("05-rebinding-rule", "`pin_vetted_address`"),
    ],
)
def test_a_name_ending_a_sentence_or_quoted_in_backticks_is_the_name(exercise: str, answer: str) -> None:
    # A count, a date, a verdict or a method read "201." or "DCR." as meant; a name was read with its full stop.
    assert is_correct(exercise, answer)


@pytest.mark.parametrize(
    ("exercise", "answer"),
    [
        ("07-refresh-reuse", "invalid_request."),
        ("07-passthrough-claim", "iss."),
        ("04-differing-claims", "client_id, jti, iat."),
        ("07-step-up-union", "notes:read notes:write."),
        ("05-rebinding-rule", "block_special_use_addresses."),
        ("03-mismatch-error", "."),
    ],
)
def test_a_wrong_name_with_a_full_stop_stays_wrong(exercise: str, answer: str) -> None:
    assert not is_correct(exercise, answer)


def test_a_claim_in_the_wrong_case_with_a_full_stop_is_told_so(capsys: pytest.CaptureFixture[str]) -> None:
    check_answer("07-passthrough-claim", "Aud.")
    assert capsys.readouterr().out.startswith("❌ Not quite: right but for the letter case")
