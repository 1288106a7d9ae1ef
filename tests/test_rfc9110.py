"""HTTP-date, RFC 9110 §5.6.7: what the AS reads from a client metadata document's `Expires` and
`Date` (RFC 9111 §4.2.1) to know how long it may reuse it (CIMD -02 §5)."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator

import pytest

from lab_servers import HARDENED
from lab_servers.authorization_server.cimd import cache_lifetime
from lab_servers.authorization_server.defensive_fetch import is_json_media_type
from lab_servers.rfc9110 import http_date, media_type

# RFC 9110 §5.6.7's own example, in its three forms: 1994-11-06 08:49:37 GMT.
SUNDAY = calendar.timegm((1994, 11, 6, 8, 49, 37))
NOW = calendar.timegm((2026, 7, 6, 0, 0, 0))


@pytest.fixture(params=["UTC", "Pacific/Kiritimati", "America/Los_Angeles"])
def machine_time_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The lab running on a machine set to this zone (UTC+14, UTC−8/−7, UTC)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "value",
    ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
    ids=["IMF-fixdate", "rfc850-date", "asctime-date"],
)
def test_a_recipient_accepts_all_three_formats_each_in_gmt_wherever_it_runs(value: str, machine_time_zone: str) -> None:
    # "A recipient that parses a timestamp value in an HTTP field MUST accept all three HTTP-date
    # formats", and each is in GMT: on a machine set to UTC+14 the asctime-date was read as local
    # time, fourteen hours earlier.
    assert http_date(value, NOW) == SUNDAY


def test_optional_whitespace_around_the_value_is_not_part_of_it() -> None:
    assert http_date(" \tSun, 06 Nov 1994 08:49:37 GMT\t ", NOW) == SUNDAY


@pytest.mark.parametrize(
    ("yy", "year"),
    [("94", 1994), ("26", 2026), ("70", 2070), ("76", 2076), ("77", 1977), ("00", 2000), ("99", 1999)],
)
def test_a_two_digit_year_more_than_50_years_ahead_is_the_most_recent_past_one(yy: str, year: int) -> None:
    # "Recipients of a timestamp value in rfc850-date format ... MUST interpret a timestamp that
    # appears to be more than 50 years in the future as representing the most recent year in the
    # past that had the same last two digits." Read in 2026: 70 is 2070 (email.utils said 1970).
    assert http_date(f"Thursday, 01-Jan-{yy} 00:00:00 GMT", NOW) == calendar.timegm((year, 1, 1, 0, 0, 0))


@pytest.mark.parametrize(
    "value",
    ["Sun, 06 Nov 1994 08:49:37 gmt", "sun, 06 nov 1994 08:49:37 GMT", "SUNDAY, 06-NOV-94 08:49:37 GMT",
     "sun nov  6 08:49:37 1994"],
)  # fmt: skip
def test_a_cache_reads_an_http_date_in_any_case(value: str) -> None:
    # RFC 9110 §5.6.7: "HTTP-date is case sensitive", but the AS reads these dates as a cache, and
    # RFC 9111 §4.2 asks that "a cache recipient SHOULD match the field value case-insensitively".
    # Read as invalid, the date was in the past (§5.3): a document sent with lower-case `gmt` was
    # fetched again on every request.
    assert http_date(value, NOW) == SUNDAY


def test_a_leap_second_is_a_time() -> None:
    assert http_date("Wed, 31 Dec 2025 23:59:60 GMT", NOW) == calendar.timegm((2026, 1, 1, 0, 0, 0))


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 +0500",  # a zone other than GMT: RFC 5322's, not HTTP's
        "Sun, 06 Nov 1994 08:49:37 -0000",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "\u017fun, 06 Nov 1994 08:49:37 GMT",  # matched in ASCII case only: U+017F folds to "s" in Unicode
        "Sun, 6 Nov 1994 08:49:37 GMT",  # day = 2DIGIT in IMF-fixdate
        "Sun, 06 Nov 94 08:49:37 GMT",  # year = 4DIGIT
        "Sun,  06 Nov 1994 08:49:37 GMT",  # one SP, exactly
        "06 Nov 1994 08:49:37 GMT",  # no day name
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:9:37 GMT",  # minute = 2DIGIT
        "Sun, 06 Nov 1994 08:49:7 GMT",  # second = 2DIGIT
        "Sun, 31 Feb 1994 08:49:37 GMT",  # the grammar's, but no day
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",  # Arabic-Indic digits are not DIGIT
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",  # the field sent twice
        "Sunday, 06-Nov-94 08:49:37 GMT, Monday, 07-Nov-94 08:49:37 GMT",  # in each form
        "Sun Nov  6 08:49:37 1994, Mon Nov  7 08:49:37 1994",
        "Sun Nov 6 08:49:37 1994",  # asctime's single-digit day is space-padded
        "Sun, 06-Nov-94 08:49:37 GMT",  # rfc850-date has the long day name
        "0",
        "",
        "-1",
        "784111777",
    ],
)
def test_anything_else_is_not_an_http_date(value: str) -> None:
    assert http_date(value, NOW) is None


@pytest.mark.parametrize(
    ("expires", "date", "seconds"),
    [
        ("Mon, 06 Jul 2026 00:02:00 GMT", "Mon, 06 Jul 2026 00:00:00 GMT", 120),
        ("Monday, 06-Jul-26 00:02:00 GMT", "Mon Jul  6 00:00:00 2026", 120),  # the obsolete forms too
        ("Mon, 06 Jul 2026 05:02:00 +0500", "Mon, 06 Jul 2026 00:00:00 GMT", 0),  # not an HTTP-date
        ("Mon, 06 Jul 2026 00:02:00 GMT", "Mon, 06 Jul 2026 00:00:00 -0000", 0),  # nor is this Date
        ("Mon, 06 Jul 2026 00:02:00 GMT", None, 120),  # no Date: the AS's clock stands in
    ],
)
def test_a_documents_lifetime_from_expires_and_date_is_the_same_in_every_time_zone(
    expires: str, date: str | None, seconds: int, machine_time_zone: str
) -> None:
    # RFC 9111 §4.2.1: Expires − Date; §5.3: a cache "MUST interpret invalid date formats ... as
    # representing a time in the past". Before, an asctime Date was local time: 120 s in UTC,
    # 0 s in Los Angeles (seven hours west in July: sent after it expired), 50,520 s in UTC+14.
    assert cache_lifetime(None, HARDENED, expires=expires, date=date, now=NOW) == min(
        seconds, HARDENED.max_cache_seconds
    )


# A Content-Type's media type (§8.3.1), with OWS (§5.6.3) around it ---------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),  # case-insensitive; parameters apart
        (" \tapplication/json \t; x=1", "application/json"),  # OWS: SP and HTAB
        ("\u00a0application/json", ""),  # NBSP is not OWS: no media type at all
        ("application/json\u0085", ""),  # nor is NEL
        ("application/json; charset", ""),  # a parameter is name=value (§5.6.6)
        ("application/x y+json", ""),  # a subtype is a token
    ],
)
def test_a_media_type_is_trimmed_of_ows_only(content_type: str, expected: str) -> None:
    assert media_type(content_type) == expected


@pytest.mark.parametrize(
    "content_type", ["application/json\u00a0", "\u0085application/json", "\u00a0application/cimd+json"]
)
def test_a_document_served_as_json_padded_with_a_space_that_is_not_ows_is_not_json(content_type: str) -> None:
    # CIMD -02 §5 (lab policy: a JSON media type); the AS's fetch reads the header as Latin-1.
    assert not is_json_media_type(content_type)
    assert is_json_media_type(content_type.strip("\u00a0\u0085"))
