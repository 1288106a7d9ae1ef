"""The lab's bounded JSON parser (RFC 8259 §9: a parser may limit size, depth, numbers, strings).

Each limit is one sentence: what arrives, and the rule the rejection names. Whatever arrives,
`parse_json` returns a value or raises `JsonRejected`: never `RecursionError`, never a value
holding a lone surrogate or an infinite number.

And the work is linear in the text, whatever the text: `"` then n escaped quotes once cost n²/2
steps (64 KB took 12 s in one request). No test here times anything; the work is counted instead,
as patterns that never fail at a quote and lines of Python that do not grow with the text.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lab_servers import bounded_json
from lab_servers.bounded_json import DEFAULT_LIMITS, JsonLimits, JsonRejected, parse_json

from .helpers import lines_executed

REJECTED = [
    # (the text, what the rejection names)
    pytest.param(b"[" * 2000 + b"]" * 2000, "nested deeper than 32", id="2000 nested arrays"),
    pytest.param(b'{"a":' * 1000 + b"1" + b"}" * 1000, "nested deeper than 32", id="1000 nested objects"),
    pytest.param(b"[" * 10_000, "nested deeper than 32", id="unterminated nesting"),
    pytest.param(b'["' + b"[" * 40, "nested deeper than 32", id="nesting after an unclosed quote"),
    pytest.param(b'{"client_name": "\\ud800"}', "lone surrogate", id="escaped lone surrogate"),
    pytest.param(b'{"\\udfff": 1}', "lone surrogate", id="lone surrogate in a member name"),
    pytest.param(b'{"a": "\xff"}', "not valid UTF-8", id="invalid UTF-8"),
    pytest.param(b'{"a": NaN}', "NaN", id="NaN"),
    pytest.param(b'{"a": -Infinity}', "Infinity", id="Infinity"),
    pytest.param(b'{"a": 1e999}', "out of range", id="float overflow"),
    pytest.param(b'{"a": ' + b"9" * 5000 + b"}", "number of 5000 characters", id="5000-digit integer"),
    pytest.param(b'{"a": "' + b"x" * 9000 + b'"}', "string of 9000 characters", id="long string"),
    pytest.param(b'{"' + b"k" * 9000 + b'": 1}', "string of 9000 characters", id="long member name"),
    pytest.param(b"[" + b"0," * 3000 + b"0]", "more than 2000", id="3001 array elements"),
    pytest.param(b'{"a": 1, "a": 2}', "appears twice", id="duplicate member name"),
    pytest.param(b" " * (64 * 1024 + 1), "limit is 65536 bytes", id="over the size limit"),
    pytest.param(b'{"a": [1, 2}', "not valid JSON", id="malformed"),
    pytest.param(b"\xef\xbb\xbf{}", "begins with a byte order mark, which a sender MUST NOT add", id="byte order mark"),
    pytest.param(b"", "not valid JSON", id="empty"),
]


@pytest.mark.parametrize(("text", "rule"), REJECTED)
def test_hostile_json_is_rejected_naming_the_limit(text: bytes, rule: str) -> None:
    with pytest.raises(JsonRejected) as rejected:
        parse_json(text)
    assert rule in rejected.value.rule
    assert rejected.value.rule.isprintable()


def test_rejections_are_value_errors_so_existing_handlers_still_catch_them() -> None:
    with pytest.raises(ValueError, match="depth limit"):
        parse_json(b"[" * 5000)


def test_ordinary_documents_parse_as_the_standard_parser_reads_them() -> None:
    document = {"client_id": "https://app.example/client.json", "redirect_uris": ["http://127.0.0.1:3000/cb"],
                "jwks": {"keys": [{"kty": "EC", "x": "a", "y": "b"}]}, "n": [1, -2.5e3, True, None], "emoji": "😀 \u202e"}  # fmt: skip
    assert parse_json(json.dumps(document).encode()) == document
    assert parse_json(json.dumps(document, ensure_ascii=False)) == document


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert parse_json(json.dumps({"a": "[" * 5000 + '\\"{'})) == {"a": "[" * 5000 + '\\"{'}


def test_limits_can_be_tightened_or_relaxed_per_caller() -> None:
    assert parse_json(b"[[[1]]]", JsonLimits(max_depth=3)) == [[[1]]]
    with pytest.raises(JsonRejected, match="deeper than 2"):
        parse_json(b"[[[1]]]", DEFAULT_LIMITS.but(max_depth=2))
    assert parse_json(b'{"a": 1, "a": 2}', DEFAULT_LIMITS.but(allow_duplicate_names=True)) == {"a": 2}


def test_the_error_names_what_was_parsed() -> None:
    with pytest.raises(JsonRejected, match="the registration body is nested"):
        parse_json(b"[" * 40, what="the registration body")


json_text = st.text(
    alphabet=st.sampled_from('[]{}",:\\ u0123456789abcdefDd8e-+.Ee truefalsnl\x00\u202e') | st.characters(),
    max_size=300,
)


@settings(max_examples=400, deadline=None)
@given(text=json_text | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_whatever_arrives_the_parser_returns_a_value_or_rejects_it(text: str) -> None:
    for data in (text, text.encode("utf-8", "surrogatepass")):
        try:
            value = parse_json(data)
        except JsonRejected as rejected:
            assert rejected.rule.isprintable()
            continue
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # encodable: no lone surrogate survived


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(1, 5000), opener=st.sampled_from(["[", '{"k":', '[{"k":']))
def test_any_nesting_depth_is_answered_without_recursion_error(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"k":': "}", '[{"k":': "}]"}[opener]
    text = opener * depth + "0" + closer * depth
    levels = depth * (2 if opener == '[{"k":' else 1)
    if levels <= DEFAULT_LIMITS.max_depth:
        assert parse_json(text) is not None
    else:
        with pytest.raises(JsonRejected, match="nested deeper"):
            parse_json(text)


def test_a_lone_surrogate_in_text_handed_over_as_a_python_string_is_rejected_too() -> None:
    # UTF-8 bytes cannot carry a surrogate, but a `str` can: a short text is checked like any.
    with pytest.raises(JsonRejected, match="lone surrogate"):
        parse_json('{"a": "\ud800"}')


def test_an_escaped_backslash_before_u_is_not_a_surrogate_escape() -> None:
    assert parse_json(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_a_string_within_a_short_text_is_held_to_a_tightened_length_limit() -> None:
    with pytest.raises(JsonRejected, match="string of 6 characters"):
        parse_json(b'{"a": "abcdef"}', DEFAULT_LIMITS.but(max_string_chars=5))
    assert parse_json(b'{"a": "abcde"}', DEFAULT_LIMITS.but(max_string_chars=5)) == {"a": "abcde"}


def test_the_first_limit_broken_reading_left_to_right_is_the_one_named() -> None:
    tight = DEFAULT_LIMITS.but(max_depth=2, max_members=3)
    with pytest.raises(JsonRejected, match="more than 3 array elements"):
        parse_json(b"[1,2,3,[[4]]]", tight)  # the fourth member comes before the third level
    with pytest.raises(JsonRejected, match="deeper than 2"):
        parse_json(b"[[[1]],2,3]", tight)  # the third level comes before the fourth member
    with pytest.raises(JsonRejected, match="more than 3 array elements"):
        parse_json(b"[[1],2,3,4]", tight)  # closed again, then the last comma is one too many


def test_exactly_the_member_limit_is_accepted_and_one_more_refused_after_the_full_scan() -> None:
    # RFC 8259 §9 lets a parser limit a text; the limit is "at most", so a text with exactly
    # max_members is JSON the lab takes. Three openers (more than max_depth, so the full scan
    # runs, though no two nest deeper than 2) and one comma: four members.
    tight = DEFAULT_LIMITS.but(max_depth=2, max_members=4)
    assert parse_json(b"[[1],[2]]", tight) == [[1], [2]]
    with pytest.raises(JsonRejected, match="more than 4 array elements"):
        parse_json(b"[[1],[2],3]", tight)


def test_the_depth_broken_at_an_opener_is_named_before_a_member_count_not_yet_over() -> None:
    # At the second "[" the text has two members (the limit, not past it) and depth 2 (past 1):
    # the depth is the limit broken there.
    with pytest.raises(JsonRejected, match="deeper than 1"):
        parse_json(b"[1,[2]]", DEFAULT_LIMITS.but(max_depth=1, max_members=2))


def test_a_member_count_broken_by_the_comma_before_an_opener_is_named_before_the_depth_it_breaks() -> None:
    # One comma more than above: the comma before the second "[" makes three members (one past 2)
    # before that "[" makes depth 2 (past 1); read left to right, the member count broke first.
    with pytest.raises(JsonRejected, match="more than 2 array elements"):
        parse_json(b"[1,2,[3]]", DEFAULT_LIMITS.but(max_depth=1, max_members=2))


def test_sibling_arrays_are_not_nesting_however_many_follow_one_another() -> None:
    # Forty empty arrays side by side: more openers than max_depth (so the full scan runs), each
    # closed right after it opens; the text is two levels deep.
    text = "[" + ",".join(["[]"] * 40) + "]"
    assert parse_json(text) == [[]] * 40


def test_a_text_of_exactly_the_byte_limit_is_accepted_and_one_byte_more_refused() -> None:
    # RFC 8259 §9: "An implementation may set limits on the size of texts that it accepts".
    limits = DEFAULT_LIMITS.but(max_bytes=16)
    assert parse_json(b'"' + b"s" * 14 + b'"', limits) == "s" * 14
    with pytest.raises(JsonRejected, match="is 17 bytes; the limit is 16 bytes"):
        parse_json(b'"' + b"s" * 15 + b'"', limits)


def test_a_number_of_exactly_the_character_limit_is_accepted_and_one_more_refused() -> None:
    # RFC 8259 §9: a parser may limit "the range and precision of numbers"; at most 40 characters.
    limit = DEFAULT_LIMITS.max_number_chars
    assert parse_json(b"[" + b"9" * limit + b"]") == [int("9" * limit)]
    with pytest.raises(JsonRejected, match=f"number of {limit + 1} characters"):
        parse_json(b"[" + b"9" * (limit + 1) + b"]")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (b'["ok", ["\\\\ud800", "\\ud800"]]', "lone surrogate"),
        (b'[["' + b"s" * (8 * 1024 + 1) + b'"]]', "string of 8193 characters"),
    ],
    ids=["lone-surrogate", "over-long"],
)
def test_a_string_inside_an_array_is_held_to_the_same_rules_as_one_in_an_object(text: bytes, rule: str) -> None:
    # RFC 8259 §8.2, §9: every string of the text, array elements as much as member values.
    with pytest.raises(JsonRejected, match=rule):
        parse_json(text)


quoted_text = st.text(alphabet='"\\[]{},x', max_size=60)
TEXTBOOK_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # needs the closing quote


@settings(max_examples=400, deadline=None)
@given(text=quoted_text)
@example(text='"' + '\\"' * 3)  # the quadratic case: every attempt but the first began at an escaped quote
def test_the_string_pattern_matches_at_every_quote_so_blanking_strings_reads_each_character_once(text: str) -> None:
    # `sub` tries the pattern at each quote outside the strings it already matched; had it failed
    # there, after reading to the end of the text, the next quote would be read from once more.
    for at in [i for i, char in enumerate(text) if char == '"']:
        assert bounded_json._STRING.match(text, at), f"fails at {at}: the scan would read on from {at + 1} again"


@settings(max_examples=400, deadline=None)
@given(text=quoted_text)
# Where CPython 3.11.0-3.11.4 mis-match a possessive repeat (gh-106052), an open quote counted as a
# closed string: `"` kept as `""`, and the brackets after it left uncounted. CI runs 3.11.2 too.
@example(text='"')
@example(text='["[[')
def test_strings_are_blanked_out_where_the_textbook_pattern_blanks_them(text: str) -> None:
    # Short texts, where the textbook pattern's n² costs nothing: the same skeleton, so the same
    # brackets counted and the same rejections, malformed texts included.
    assert bounded_json._blank_strings(text) == TEXTBOOK_STRING.sub('""', text)


def _lines_run_by_the_parser(text: str) -> int:
    """How many lines of bounded_json.py (not json's, not the C inside `re` or `str`) parsing `text` runs."""
    limits = DEFAULT_LIMITS.but(max_bytes=1024 * 1024)
    parse_json("[]", limits)  # the decoder for these limits is built once, before the count
    with lines_executed(lambda file: file == bounded_json.__file__) as executed, contextlib.suppress(JsonRejected):
        parse_json(text, limits)
    return executed.count


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(lambda n: "]" * n + "[" * 33, id="closing brackets"),
        pytest.param(lambda n: '""' * n + "[" * 33, id="empty strings"),
        pytest.param(lambda n: "[" * 33 + '"' + '\\"' * n, id="escaped quotes after an open quote"),
        pytest.param(lambda n: '["' + "[" * n, id="brackets after an open quote"),
    ],
)
def test_the_structure_scan_runs_as_many_lines_of_python_for_ten_times_the_text(hostile: Any) -> None:
    # The Python loop runs once per opener up to the member limit; whatever else the text holds
    # is read by `re` and `str.count`, in C (a loop per bracket once ran 1.7 s on 10 MB of `]`).
    assert _lines_run_by_the_parser(hostile(10_000)) == _lines_run_by_the_parser(hostile(1_000))
