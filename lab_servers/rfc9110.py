"""HTTP-date (RFC 9110 §5.6.7), the one piece of HTTP's semantics the lab parses itself: a fetched
client metadata document's `Expires` and `Date` set how long the AS may reuse it (RFC 9111
§4.2.1, CIMD -02 §5).

An HTTP-date is an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), or one of the two obsolete
forms a recipient "MUST accept": rfc850-date (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime-date
(`Sun Nov  6 08:49:37 1994`). All three are in GMT, and the grammar is case-sensitive.

The AS read them with `email.utils.parsedate_to_datetime`, which parses RFC 5322's dates, not
HTTP's, and differed from the rule in three ways:
- an asctime-date, and an RFC 5322 date with `-0000` or no zone, came back without a zone, and
  `.timestamp()` placed them in the machine's local time zone: the same document's cache lifetime
  (and with it whether the next request fetched it again) changed with where the lab ran;
- dates with other zones (`+0500`, `PST`, `gmt`) were taken, where RFC 9111 §5.3 says a cache
  "MUST interpret invalid date formats ... as representing a time in the past";
- a two-digit year from 69 to 99 was always 19xx, where §5.6.7 places it within 50 years ahead
  of now (in 2026, `01-Jan-70` is 2070).
"""

from __future__ import annotations

import calendar
import datetime
import re
import time

__all__ = ["http_date"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_NAME_L = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = f"(?P<month>{'|'.join(_MONTHS)})"
# DIGIT is ASCII (RFC 5234 B.1): `[0-9]`, never `\d`, which also takes other scripts' digits.
_TIME_OF_DAY = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_IMF_FIXDATE = re.compile(f"{_DAY_NAME}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME_OF_DAY} GMT")
_RFC850_DATE = re.compile(f"{_DAY_NAME_L}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<yy>[0-9]{{2}}) {_TIME_OF_DAY} GMT")
_ASCTIME_DATE = re.compile(f"{_DAY_NAME} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME_OF_DAY} (?P<year>[0-9]{{4}})")


def http_date(value: str, now: int) -> int | None:
    """`value` in epoch seconds if it is an HTTP-date, else None. `now` (epoch seconds) places
    an rfc850-date's two-digit year. The day name is not checked against the date: §5.6.7 gives
    it no meaning beyond the grammar."""
    value = value.strip(" \t")  # OWS around a field value is not part of it (§5.5)
    if match := _IMF_FIXDATE.fullmatch(value) or _ASCTIME_DATE.fullmatch(value):
        year = int(match["year"])
    elif match := _RFC850_DATE.fullmatch(value):
        year = _rfc850_year(int(match["yy"]), now)
    else:
        return None
    month = _MONTHS.index(match["month"]) + 1
    day, hour, minute, second = (int(match[name]) for name in ("day", "hour", "minute", "second"))
    # The grammar allows 99:99:99 and 31 Feb; neither is a time. A leap second (60) is one.
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def _rfc850_year(yy: int, now: int) -> int:
    """§5.6.7: recipients "MUST interpret a timestamp that appears to be more than 50 years in the
    future as representing the most recent year in the past that had the same last two digits"."""
    this_year = time.gmtime(now).tm_year
    past = this_year - (this_year - yy) % 100  # the most recent year ending in yy, this one included
    return past + 100 if past + 100 <= this_year + 50 else past
