"""The authorization server and client ID metadata documents at the authorization endpoint (CIMD):
a document must name itself and hold no secret, an http client_id is refused, a removed document
removes its client, and a fetched document is cached for as long as RFC 9111 lets it be fresh."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, HARDENED, NAIVE, Lab, default_client_metadata
from lab_servers.authorization_server.cimd import cache_lifetime
from lab_servers.authorization_server.clients import MAX_CLIENT_ID_CHARS
from lab_servers.client import ConsentPage
from lab_servers.metadata_host import HostedResponse

from .helpers import code_form, get_code, open_authorization, token_request

pytestmark = pytest.mark.anyio


# CIMD at the authorization endpoint ------------------------------------------------------------


async def test_a_document_whose_client_id_differs_from_its_url_is_rejected_and_not_cached(lab: Lab) -> None:
    lab.publish_client_document(
        CLIENT_METADATA_URL, {**default_client_metadata(), "client_id": "https://app.example/other.json"}
    )
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert outcome.fields["error"] == "invalid_client"
    assert "not exactly the URL" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


@pytest.mark.parametrize(
    ("claimed", "problem"),
    [
        ("https://app.example/go", "is the client_id requested, but not exactly the URL it was fetched from, "
         "'https://evil.example/doc.json'"),
        # Said to differ from the URL it was fetched from, the very URL the description then named.
        ("https://evil.example/doc.json", "is the URL it was fetched from, but not the client_id requested, "
         "'https://app.example/go'"),
        ("https://app.example/client.json", "is neither the client_id requested, 'https://app.example/go', nor the "
         "URL it was fetched from, 'https://evil.example/doc.json'"),
    ],
    ids=["the-url-requested", "the-url-served-from", "neither"],
)  # fmt: skip
async def test_a_document_reached_through_a_followed_redirect_must_name_the_url_it_was_served_from(
    claimed: str, problem: str
) -> None:
    # CIMD §4: the document's client_id is the client_id URL and the URL it was fetched from. With
    # only the no-redirect rule off, an open redirect on app.example led the AS to a document on
    # evil.example that claimed app.example's URL, and consent said "verified origin: app.example".
    async with Lab(seed=0, policy=HARDENED.but(follow_redirects=True)) as lab:
        lab.add_metadata_host("evil.example", "93.184.216.66").publish(
            "/doc.json", {**default_client_metadata(), "client_id": claimed}
        )
        lab.metadata_hosts["app.example"].publish_response(
            "/go", HostedResponse(b"", 302, {"location": "https://evil.example/doc.json"})
        )
        outcome = await open_authorization(lab, "https://app.example/go")
        assert isinstance(outcome, ConsentPage) and outcome.status == 400
        assert outcome.fields["error"] == "invalid_client"
        assert outcome.fields["error_description"] == (
            f"client metadata document rejected: the document's client_id {claimed!r} {problem}, where "
            "'https://app.example/go' redirected; it MUST be both (section 4)"
        )
        assert lab.cimd_cache == {}


async def test_a_document_with_a_client_secret_is_rejected(lab: Lab) -> None:
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "client_secret": "s3cret"})
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and "MUST NOT have a shared secret" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


@pytest.mark.parametrize("field", ["sector_identifier_uri", "jwks_uri", "logo_uri"])
async def test_a_document_url_with_userinfo_is_refused_naming_the_rule_and_never_fetched(lab: Lab, field: str) -> None:
    # RFC 3986 §7.6, RFC 9110 §4.2.4: as at registration, for every URL the AS may fetch; the
    # sector_identifier_uri was accepted and a code issued.
    url = "https://user:pw@app.example/s.json"
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), field: url})
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and outcome.fields["error"] == "invalid_client"
    assert f"{field} {url!r} has userinfo" in outcome.fields["error_description"]
    assert [e.url for e in lab.trace.exchanges if "s.json" in e.url] == []
    assert lab.cimd_cache == {}


async def test_a_client_id_of_max_client_id_chars_is_fetched_and_one_longer_is_refused_before_any_fetch(
    lab: Lab,
) -> None:
    # Lab limit (README: "A client_id longer than 2,048 characters is refused before anything is
    # fetched"): a CIMD document must contain its own client_id (CIMD §4) within the AS's size cap.
    def fetched() -> list[str]:
        return [e.url for e in lab.trace.exchanges if e.caller == "auth.example.com"]

    base = "https://app.example/"
    longest = base + "a" * (MAX_CLIENT_ID_CHARS - len(base))
    lab.publish_client_document(longest, default_client_metadata(longest))
    assert await get_code(lab, longest)
    assert fetched() == [longest]
    too_long = longest + "a"
    lab.publish_client_document(too_long, default_client_metadata(too_long))
    outcome = await open_authorization(lab, too_long)
    assert isinstance(outcome, ConsentPage) and outcome.fields["error"] == "invalid_client"
    assert f"client_id is {MAX_CLIENT_ID_CHARS + 1} characters long" in outcome.fields["error_description"]
    assert fetched() == [longest]


async def test_an_http_client_id_is_rejected(lab: Lab) -> None:
    outcome = await open_authorization(lab, "http://app.example/client.json")
    assert isinstance(outcome, ConsentPage) and "https scheme" in outcome.fields["error_description"]


async def test_a_removed_document_means_the_client_no_longer_exists(lab: Lab) -> None:
    lab.remove_client_document(CLIENT_METADATA_URL)
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and "only 200 OK" in outcome.fields["error_description"]


async def test_a_cached_document_is_reused_until_max_age_and_then_refetched(lab: Lab) -> None:
    lab.publish_client_document(CLIENT_METADATA_URL, default_client_metadata(), cache_control="max-age=60")
    fetches = lambda: [e for e in lab.trace if e.host == "app.example"]  # noqa: E731
    await open_authorization(lab, CLIENT_METADATA_URL)
    await open_authorization(lab, CLIENT_METADATA_URL)
    assert len(fetches()) == 1
    lab.clock.advance(61)
    await open_authorization(lab, CLIENT_METADATA_URL)
    assert len(fetches()) == 2


DATE = "Mon, 06 Jul 2026 00:00:00 GMT"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "max-age=600", "age": "590"}, 10),  # RFC 9111 §4.2.3: minus its current age
        ({"cache-control": "max-age=600", "age": "1000"}, 0),
        ({"cache-control": "max-age=600", "age": "ten"}, 0),  # an invalid Age: stale
        ({"cache-control": "max-age=5, max-age=86400"}, 5),  # §4.2.1: the first occurrence
        ({"expires": "Mon, 06 Jul 2026 00:02:00 GMT", "date": DATE}, 120),  # §4.2.1: Expires − Date
        ({"expires": "Thu, 01 Jan 1970 00:00:00 GMT", "date": DATE}, 0),
        ({"expires": "0", "date": DATE}, 0),  # §5.3: an invalid Expires is in the past
        ({"cache-control": "max-age=60", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 60),  # max-age wins
        ({}, 300),  # no freshness information: the policy's default
        ({"cache-control": "no-cache, max-age=600"}, 0),  # §5.2.2.4: reuse needs revalidation; the AS never revalidates
        ({"cache-control": "max-age=+60"}, 0),  # §1.2.2: delta-seconds is 1*DIGIT; anything else is invalid
        ({"cache-control": "max-age=1_0"}, 0),
        ({"cache-control": "max-age=\u0661\u0662\u0660"}, 0),  # Arabic-Indic digits are not DIGIT
        ({"cache-control": "max-age=00000000000600"}, 600),  # 1*DIGIT: leading zeros are still the number
        ({"cache-control": "max-age=600", "age": "00000000000590"}, 10),
        ({"cache-control": "max-age=" + "9" * 5000}, 86400),  # §1.2.2: too large is 2^31, then the policy's cap
        ({"cache-control": "max-age=600", "age": "9" * 5000}, 0),
        # §5.2: a directive's argument is a token or a quoted-string, and a quoted-string may hold a
        # comma: split on every comma, "max-age=86400" inside the quotes was read as the first max-age.
        ({"cache-control": 'no-transform="x, max-age=86400", max-age=0'}, 0),
        ({"cache-control": 'private="a, b", max-age="60"'}, 60),  # the quoted form of max-age is accepted too
        ({"cache-control": 'max-age=600, "x'}, 0),  # no list of directives: nothing in it is trusted
        ({"cache-control": "max-age=600", "age": "\u00a0590"}, 0),  # Age's OWS is SP and HTAB, not NBSP
        # RFC 9111 §4.1: a stored response whose Vary holds "*" "always fails to match"; it was reused.
        ({"cache-control": "max-age=600", "vary": "*"}, 0),
        ({"cache-control": "max-age=600", "vary": "Accept-Encoding, *"}, 0),  # two lines, joined
        # Any other Vary names request fields, which the AS sends alike with every fetch: they match.
        ({"cache-control": "max-age=600", "vary": "Accept-Encoding"}, 600),
    ],
    ids=["age", "older-than-max-age", "invalid-age", "repeated-max-age", "expires", "expired", "expires-0",
         "max-age-over-expires", "none", "no-cache", "signed-max-age", "underscored-max-age", "non-ascii-digits",
         "leading-zeros", "leading-zeros-age", "huge-max-age", "huge-age", "comma-in-quoted-string",
         "quoted-arguments", "unbalanced-quote", "nbsp-age", "vary-star", "vary-star-in-a-list", "vary-field"],
)  # fmt: skip
def test_a_documents_cache_lifetime_follows_rfc_9111_freshness(headers: dict[str, str], seconds: int) -> None:
    # CIMD -02 §5.2: the AS SHOULD respect HTTP cache headers (RFC 9111), within its own bounds.
    lifetime = cache_lifetime(headers.get("cache-control"), HARDENED, age=headers.get("age"), expires=headers.get("expires"),
                              date=headers.get("date"), vary=headers.get("vary"), now=0)  # fmt: skip
    assert lifetime == seconds


# A document is one for every AS: grants this one lacks are set aside, not refused ------------

# What Claude and VS Code publish beside the authorization code flow they use (2026): RFC 7523's
# jwt-bearer and RFC 8628's device_code, which this AS does not offer.
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.mark.parametrize("extra", [JWT_BEARER, DEVICE_CODE])
async def test_a_document_listing_a_grant_this_as_does_not_offer_still_signs_its_client_in(
    lab: Lab, extra: str
) -> None:
    # RFC 7591 §2: the AS MAY "reject or replace" requested values. Refused whole, such a client
    # could never sign in here, though it never asks for that grant: the AS keeps what it offers.
    grants = ["authorization_code", "refresh_token", extra]
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "grant_types": grants,
                                                      "response_types": ["code", "token"]})  # fmt: skip
    connection = await lab.connect("cimd")
    assert connection.whoami["client_id"] == CLIENT_METADATA_URL
    narrowed = lab.cimd_cache[CLIENT_METADATA_URL].document
    assert (narrowed["grant_types"], narrowed["response_types"]) == (["authorization_code", "refresh_token"], ["code"])


async def test_a_document_listing_no_grant_this_as_offers_is_refused_naming_those_it_does(lab: Lab) -> None:
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "grant_types": [DEVICE_CODE]})
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and outcome.fields["error"] == "invalid_client"
    described = outcome.fields["error_description"]
    assert "none of its grant_types" in described and "'authorization_code', 'refresh_token'" in described
    assert lab.cimd_cache == {}


async def test_a_registration_asking_for_a_grant_this_as_does_not_offer_is_registered_without_it(lab: Lab) -> None:
    # RFC 7591 §2: the AS MAY "replace" a requested value; §3.2.1: the response returns every
    # registered value, so the client sees what it got, as a document's client never does.
    async with lab.httpx_client() as http:
        metadata = {"redirect_uris": ["https://app.example/callback"], "grant_types": ["authorization_code", JWT_BEARER],
                    "token_endpoint_auth_method": "none"}  # fmt: skip
        answer = await http.post(f"{lab.issuer}/register", json=metadata)
    assert answer.status_code == 201, answer.text
    assert answer.json()["grant_types"] == ["authorization_code"]


async def test_a_documents_scope_is_narrowed_to_the_scopes_this_as_offers(lab: Lab) -> None:
    # RFC 7591 §2: scope is "a string containing a space-separated list of scope values" the client
    # can use; a document lists them for every AS it meets.
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "scope": "openid notes:read email"})
    await lab.connect("cimd")
    assert lab.cimd_cache[CLIENT_METADATA_URL].document["scope"] == "notes:read"
    # With none left, the scope is set aside, as if omitted (§2: the AS "MAY register a client
    # with a default set of scopes"): the client asks for the resource's scope at the
    # authorization endpoint, which this AS checks against the resource, never the document.
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "scope": "openid email"})
    lab.cimd_cache.clear()
    await lab.connect("cimd")
    assert "scope" not in lab.cimd_cache[CLIENT_METADATA_URL].document


# Claude's document as published in 2026, quoted whole in django-oauth-toolkit#1855 (whose AS, like
# better-auth's and ToolHive's, refused it over jwt-bearer until it narrowed the grants).
CLAUDE = "https://claude.ai/oauth/mcp-oauth-client-metadata"
CLAUDE_DOCUMENT = {
    "client_id": CLAUDE,
    "client_name": "Claude",
    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "grant_types": ["authorization_code", "refresh_token", JWT_BEARER],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}


async def test_claudes_published_document_signs_claude_in(lab: Lab) -> None:
    lab.add_metadata_host("claude.ai", "160.79.104.10")
    lab.publish_client_document(CLAUDE, CLAUDE_DOCUMENT)
    callback = {"redirect_uri": "https://claude.ai/api/mcp/auth_callback"}
    code = await get_code(lab, CLAUDE, **callback)
    answer = await token_request(lab, code_form(CLAUDE, code, **callback))
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("scope", ['notes:"read"', "notes:read\\write", "notes:réad"])
async def test_a_scope_that_is_not_space_separated_scope_tokens_is_refused_by_document_and_registration(
    scope: str,
) -> None:
    # RFC 6749 §3.3: a scope-token is printable ASCII but for '"' and '\\'. (A tab or a line break
    # is refused before, by both policies: no text field holds a control character.)
    async with Lab(policy=NAIVE) as lab:
        lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "scope": scope})
        outcome = await open_authorization(lab, CLIENT_METADATA_URL)
        assert isinstance(outcome, ConsentPage) and "RFC 6749 section 3.3" in outcome.fields["error_description"]
        async with lab.httpx_client() as http:
            metadata = {
                "redirect_uris": ["https://app.example/callback"],
                "scope": scope,
                "token_endpoint_auth_method": "none",
            }
            answer = await http.post(f"{lab.issuer}/register", json=metadata)
    assert answer.status_code == 400 and "RFC 6749 section 3.3" in answer.json()["error_description"]


# Publishing a document at its URL --------------------------------------------------------------


async def test_documents_published_at_urls_differing_in_their_query_are_each_served_at_their_own(lab: Lab) -> None:
    # The lab promises to serve a document at the URL given, and returns that URL. Keyed by the
    # path alone, the query was dropped from the URL returned, and tenant b's document replaced
    # tenant a's at both URLs. The CIMD draft only discourages a query (§3: SHOULD NOT).
    urls = {tenant: f"https://app.example/agent.json?tenant={tenant}" for tenant in "ab"}
    for tenant, url in urls.items():
        published = lab.publish_client_document(url, {**default_client_metadata(url), "client_name": tenant})
        assert published == url
    async with lab.httpx_client() as http:
        for tenant, url in urls.items():
            assert (await http.get(url)).json() == {**default_client_metadata(url), "client_name": tenant}
        assert (await http.get("https://app.example/agent.json?tenant=c")).status_code == 404
        # A path alone answers any query nothing is published at, as a file host does.
        assert (await http.get(f"{CLIENT_METADATA_URL}?v=1")).json()["client_id"] == CLIENT_METADATA_URL
    lab.remove_client_document(urls["a"])
    assert (await lab.httpx_client().get(urls["a"])).status_code == 404


async def test_a_query_client_id_published_at_its_url_is_refused_by_the_hardened_as_and_signs_in_with_the_naive(
    lab: Lab,
) -> None:
    url = "https://app.example/agent.json?tenant=a"
    lab.publish_client_document(url, default_client_metadata(url))
    refused = await open_authorization(lab, url)
    assert isinstance(refused, ConsentPage) and "query" in refused.fields["error_description"]
    lab.policy = NAIVE
    assert (await open_authorization(lab, url)).status == 200  # the consent page: the document was found


@pytest.mark.parametrize("path", ["/agent.json?tenant=a", "/my%20agent.json"])
async def test_a_metadata_host_serves_a_document_at_the_url_it_returns(lab: Lab, path: str) -> None:
    # Published at '/agent.json?tenant=a' the document was stored under a key no request's path is
    # (the path holds no query), and at '/my%20agent.json' under one no decoded path is: each URL
    # returned was a 404.
    url = lab.metadata_hosts["app.example"].publish(path, {"client_name": "x"})
    assert url == f"https://app.example{path}"
    async with lab.httpx_client() as http:
        assert (await http.get(url)).json() == {"client_name": "x"}


async def test_documents_at_urls_differing_by_an_encoded_slash_are_two_documents(lab: Lab) -> None:
    # %2F is data in a segment, not the delimiter '/' (RFC 3986 §2.2, §6.2.2.2): keyed by the
    # decoded path, publishing at …/team/agent.json replaced the document at …/team%2Fagent.json.
    encoded, plain = "https://app.example/team%2Fagent.json", "https://app.example/team/agent.json"
    lab.publish_client_document(encoded, default_client_metadata(encoded))
    lab.publish_client_document(plain, default_client_metadata(plain))
    lab.publish_client_document("https://app.example/a%252Fb.json", {"client_name": "the text %2F"})
    async with lab.httpx_client() as http:
        assert (await http.get(encoded)).json()["client_id"] == encoded
        assert (await http.get(plain)).json()["client_id"] == plain
        assert (await http.get("https://app.example/a%2Fb.json")).status_code == 404
        assert (await http.get("https://app.example/%7Eagent/../team/agent.json")).json()["client_id"] == plain
