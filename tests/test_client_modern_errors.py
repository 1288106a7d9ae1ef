"""How the lab client tells a 2026-07-28 server's 400 from a legacy one's (2026-07-28
basic/versioning §4): only a JSON-RPC error object whose code is one of the modern errors is
modern; and what it tells a legacy client such a server answered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lab_servers.client.revisions import describe_modern_error, modern_error


def _answer(body: Any, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    "error",
    ["Header mismatch", {"code": "-32020"}, {"code": [-32020]}, {"code": -32600, "message": "Invalid Request"}],
    ids=["a-string", "code-a-string", "code-an-array", "another-code"],
)
def test_a_400_whose_error_is_no_modern_error_object_is_a_legacy_servers(error: Any) -> None:
    assert modern_error(_answer({"jsonrpc": "2.0", "id": None, "error": error})) is None


def test_a_400_carrying_a_modern_error_code_is_a_modern_servers() -> None:
    error = {"code": -32022, "message": "Unsupported protocol version", "data": {"supported": ["2026-07-28"]}}
    assert modern_error(_answer({"jsonrpc": "2.0", "id": None, "error": error})) == error


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"supported": ["2026-07-28", "2027-01-01"]}, "it speaks MCP 2026-07-28, 2027-01-01 (no initialize"),
        ({"supported": ["2026-07-28", 5]}, "it speaks MCP 2026-07-28 (no initialize"),  # not all strings: not shown
        ({"supported": "2027-01-01"}, "it speaks MCP 2026-07-28 (no initialize"),
        (["2027-01-01"], "it speaks MCP 2026-07-28 (no initialize"),  # data is no object
    ],
    ids=["listed", "not-all-strings", "not-a-list", "data-not-an-object"],
)
def test_a_legacy_client_is_told_the_versions_the_server_lists_only_as_the_strings_they_must_be(
    data: Any, named: str
) -> None:
    reason = describe_modern_error({"code": -32022, "message": "Unsupported", "data": data}, "2025-11-25")
    assert named in reason and reason.endswith("this client speaks only 2025-11-25 (2026-07-28 basic/versioning §4)")


@pytest.mark.parametrize(
    ("supported", "said"),
    [
        (["2026-09-30"], "it speaks MCP 2026-09-30 (no initialize; MCP-Protocol-Version on every request)"),
        (["2024-11-05"], "it speaks MCP 2024-11-05, and"),  # an initialize-era version: initialize it has
        ([], "it names no version it supports (no data.supported)"),
        (None, "it names no version it supports (no data.supported)"),
    ],
    ids=["modern", "initialize-era", "empty", "absent"],
)
def test_a_2026_07_28_client_refused_for_its_version_is_told_what_each_side_speaks(
    supported: list[str] | None, said: str
) -> None:
    # Not "it speaks MCP 2026-07-28 (no initialize; ...)" of a server that just refused 2026-07-28,
    # nor that a client which falls back to initialize (versioning §4) "speaks only 2026-07-28".
    data = {} if supported is None else {"supported": supported}
    error = {"code": -32022, "message": "Unsupported", "data": data}
    reason = describe_modern_error(error, "2026-07-28", ("2025-03-26", "2025-06-18", "2025-11-25"))
    assert said in reason and reason.endswith(
        "this client speaks 2026-07-28 and, by initialize, 2025-03-26, 2025-06-18, 2025-11-25 "
        "(2026-07-28 basic/versioning §4)"
    )


def test_the_versions_a_server_lists_are_its_words_and_quoted_within_bounds() -> None:
    # error_text.told: a server's words in a reason, whole to 600 characters and cut in the middle
    # past them. A 500 kB "version" went whole into the StepError and expect_failure's line.
    supported = ["2026-09-30", "✓ step 1 (challenge): ok " + "9" * 500_000]
    reason = describe_modern_error(
        {"code": -32022, "message": "Unsupported", "data": {"supported": supported}}, "2025-11-25"
    )
    assert "it speaks MCP 2026-09-30, ✓ step 1 (challenge): ok 999" in reason and "9 [...] 9" in reason
    assert reason.endswith("this client speaks only 2025-11-25 (2026-07-28 basic/versioning §4)")
    assert len(reason) < 1000
