"""Reading `WWW-Authenticate` as RFC 9110 §11 writes it: the client's parser, on its own."""

from __future__ import annotations

import httpx
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


def test_auth_params_are_separated_by_a_comma_with_or_without_whitespace() -> None:
    # RFC 9110 §11.6.1: a challenge's auth-params are a list (#auth-param), whose members are
    # separated by OWS "," OWS (§5.6.1): the whitespace around the comma is optional.
    (challenge,) = parse_www_authenticate('Bearer realm="lab",scope="notes:read",error=invalid_token')
    assert challenge.params == {"realm": "lab", "scope": "notes:read", "error": "invalid_token"}
    assert challenge.malformed is None


def test_empty_list_elements_at_the_end_of_the_field_are_skipped_without_a_word() -> None:
    # RFC 9110 §5.6.1.2: a recipient "MUST parse and ignore a reasonable number of empty list
    # elements": trailing commas are neither a parameter nor malformed text.
    (challenge,) = parse_www_authenticate('Bearer realm="lab", , ')
    assert challenge.params == {"realm": "lab"} and challenge.malformed is None


@pytest.mark.parametrize(
    "field",
    ['Bearer error="invalid_token",, resource_metadata="https://x.example/prm"',
     'Bearer , error="invalid_token" , , resource_metadata="https://x.example/prm"'],
    ids=["between-parameters", "before-the-first-parameter"],
)  # fmt: skip
def test_empty_list_elements_among_the_auth_params_are_skipped_and_the_parameters_after_them_read(field: str) -> None:
    # RFC 9110 §11.6.1: a challenge's parameters are a list too (`#auth-param`), so §5.6.1.2's
    # empty elements may come before or between them. The client read the text after ",," as
    # neither a parameter nor a new challenge, and lost resource_metadata (RFC 9728 §5.1).
    (challenge,) = parse_www_authenticate(field)
    assert challenge.params == {"error": "invalid_token", "resource_metadata": "https://x.example/prm"}
    assert challenge.malformed is None


@pytest.mark.parametrize("text", ["café", "€ 10", "トークン"])
def test_a_quoted_string_of_utf_8_octets_is_obs_text_and_the_parameters_after_it_are_read(text: str) -> None:
    # RFC 9110 §5.6.4: qdtext includes obs-text (%x80-FF), any octet beyond ASCII. httpx decodes a
    # field as UTF-8 when it can, so these octets reach the parser as characters beyond Latin-1: it
    # read them as no quoted-string, silently, and dropped the challenge's resource_metadata (RFC
    # 9728 §5.1) with it. (RFC 6750 §3 keeps error_description ASCII; a server may still send it.)
    field = f'Bearer error="invalid_token", error_description="{text}", resource_metadata="https://x.example/prm"'
    response = httpx.Response(401, headers=[(b"WWW-Authenticate", field.encode())])
    challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
    assert challenge is not None and challenge.malformed is None
    assert challenge.params == {"error": "invalid_token", "error_description": text,
                                "resource_metadata": "https://x.example/prm"}  # fmt: skip


@pytest.mark.parametrize(
    "field",
    ['Bearer scope="a", resource_metadata="https://x.example/prm',
     'Bearer scope="a", =x, resource_metadata="https://x.example/prm"'],
    ids=["unclosed-quoted-string", "parameter-without-a-name"],
)  # fmt: skip
def test_text_that_is_neither_a_parameter_nor_a_challenge_is_reported_not_dropped_silently(field: str) -> None:
    # RFC 9110 §11.6.1: a challenge is a scheme and its auth-params, or a token68; what follows
    # must be another. The parser kept the parameters before the break, as it should (§2.3), and
    # said nothing of the rest, so a learner saw resource_metadata missing with no reason.
    challenge = bearer_challenge(field)
    assert challenge is not None and challenge.params == {"scope": "a"}
    assert challenge.malformed and "RFC 9110 §11.6.1" in challenge.malformed


def test_challenges_sent_as_several_field_lines_are_all_read_in_order() -> None:
    # RFC 9110 §11.6.1: WWW-Authenticate = #challenge, a list, and §5.3 lets a server send it as
    # several lines, which read as one list in order: the Bearer challenge may be in any of them.
    lines = ['Basic realm="lab"', 'Bearer resource_metadata="https://x.example/prm", scope="a"', "Other x=1"]
    response = httpx.Response(401, headers=[(b"WWW-Authenticate", line.encode()) for line in lines])
    found = parse_www_authenticate(response.headers.get_list("www-authenticate"))
    assert [c.scheme for c in found] == ["Basic", "Bearer", "Other"]
    challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
    assert challenge is not None and challenge.params == {"resource_metadata": "https://x.example/prm", "scope": "a"}


def test_auth_param_names_are_matched_case_insensitively() -> None:
    # RFC 9110 §11.2: "Parameter names are matched case-insensitively": `Resource_Metadata` is the
    # resource_metadata parameter (RFC 9728 §5.1), and the client reads it as that.
    challenge = bearer_challenge('Bearer Resource_Metadata="https://x.example/prm", SCOPE="a"')
    assert challenge is not None and challenge.malformed is None
    assert challenge.params == {"resource_metadata": "https://x.example/prm", "scope": "a"}


def test_auth_params_follow_the_scheme_after_a_space_not_after_a_comma() -> None:
    # RFC 9110 §11.6.1: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]. Without the
    # space, `Bearer,` is a Bearer challenge without parameters, and the list element after the
    # comma is neither a parameter of it nor a challenge: said, not read as its resource_metadata.
    challenge = bearer_challenge('Bearer,resource_metadata="https://x.example/prm"')
    assert challenge is not None and challenge.params == {}
    assert challenge.malformed and "RFC 9110 §11.6.1" in challenge.malformed
