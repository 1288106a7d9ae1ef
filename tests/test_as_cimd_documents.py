"""The authorization server and client ID metadata documents at the authorization endpoint (CIMD):
a document must name itself and hold no secret, an http client_id is refused, a removed document
removes its client, and a fetched document is cached for as long as RFC 9111 lets it be fresh."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, HARDENED, Lab, default_client_metadata
from lab_servers.authorization_server.cimd import cache_lifetime
from lab_servers.client import ConsentPage

from .helpers import (
    open_authorization,
)

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


async def test_a_document_with_a_client_secret_is_rejected(lab: Lab) -> None:
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "client_secret": "s3cret"})
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and "MUST NOT have a shared secret" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


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
    ],
    ids=["age", "older-than-max-age", "invalid-age", "repeated-max-age", "expires", "expired", "expires-0",
         "max-age-over-expires", "none", "no-cache", "signed-max-age", "underscored-max-age", "non-ascii-digits",
         "leading-zeros", "leading-zeros-age", "huge-max-age", "huge-age", "comma-in-quoted-string",
         "quoted-arguments", "unbalanced-quote", "nbsp-age"],
)  # fmt: skip
def test_a_documents_cache_lifetime_follows_rfc_9111_freshness(headers: dict[str, str], seconds: int) -> None:
    # CIMD -02 §5.2: the AS SHOULD respect HTTP cache headers (RFC 9111), within its own bounds.
    lifetime = cache_lifetime(headers.get("cache-control"), HARDENED, age=headers.get("age"),
                              expires=headers.get("expires"), date=headers.get("date"), now=0)  # fmt: skip
    assert lifetime == seconds
