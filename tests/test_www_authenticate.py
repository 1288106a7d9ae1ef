"""Reading `WWW-Authenticate` as RFC 9110 §11 writes it: the client's parser, on its own."""

from __future__ import annotations

import pytest

from lab_servers.client.www_authenticate import bearer_challenge, parse_www_authenticate


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_auth_scheme_is_matched_case_insensitively(scheme: str) -> None:
    # RFC 9110 §11.1: "It uses a case-insensitive token to identify the authentication scheme".
    challenge = bearer_challenge(f'Basic realm="a", {scheme} scope="notes:read"')
    assert challenge is not None and challenge.get("scope") == "notes:read"


def test_a_quoted_string_value_is_read_with_its_escapes_undone() -> None:
    # RFC 9110 §5.6.4: "the backslash octet ("\") can be used as a single-octet quoting mechanism
    # within quoted-string"; a recipient reads the quoted-pair as the octet it quotes.
    (challenge,) = parse_www_authenticate(r'Bearer error_description="say \"hi\" \\ back", scope="a\b"')
    assert challenge.get("error_description") == 'say "hi" \\ back'
    assert challenge.get("scope") == "ab"
