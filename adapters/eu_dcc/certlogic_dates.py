"""CertLogic date-times (the specification's ``plusTime`` and ``dccDateOfBirth``): milliseconds since
the epoch, parsed, shifted by calendar units and written back as the reference implementation does,
for every year a JavaScript ``Date`` holds."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from standard.errors import CertLogicInvalid

MAX_MS = 8_640_000_000_000_000   # the range of a JavaScript Date
TIME_UNITS = ("year", "month", "day", "hour")

_EPOCH = datetime(1970, 1, 1)
_EPOCH_MIN_MS = -62_135_596_800_000          # 0001-01-01T00:00:00Z
_EPOCH_MAX_MS = 253_402_300_799_999          # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True, order=True)
class DateTime:
    """A CertLogic date-time: milliseconds since 1970-01-01T00:00:00.000Z."""

    ms: int

    def isoformat(self) -> str:
        if _EPOCH_MIN_MS <= self.ms <= _EPOCH_MAX_MS:          # years 1…9999: the C datetime
            stamp = _EPOCH + timedelta(milliseconds=self.ms)
            return (f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}T{stamp.hour:02d}:"
                    f"{stamp.minute:02d}:{stamp.second:02d}.{stamp.microsecond // 1000:03d}Z")
        days, rest = divmod(self.ms, 86_400_000)
        y, m, d = civil_from_days(days)
        hh, rest = divmod(rest, 3_600_000)
        mm, rest = divmod(rest, 60_000)
        ss, ms = divmod(rest, 1000)
        year = f"{y:04d}" if 0 <= y <= 9999 else f"{'+' if y > 0 else '-'}{abs(y):06d}"
        return f"{year}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


_DATE_TIME = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d+))?"
    r"(?P<tz>Z|[+-]\d{1,2}(?::?\d{2})?)?)?)?)?", re.ASCII)


def parse_date_time(text: Any) -> DateTime:
    if not isinstance(text, str):
        raise CertLogicInvalid(f"date-time argument must be a string, got {_show(text)}")
    return _parse_date_time(text)


@lru_cache(maxsize=4096)
def _parse_date_time(text: str) -> DateTime:
    """One of the specification's date(-time) formats → DateTime (a partial date is read as
    ``dccDateOfBirth`` reads it; a missing offset is Z; decimals beyond milliseconds dropped)."""
    if not isinstance(text, str):
        raise CertLogicInvalid(f"date-time argument must be a string, got {_show(text)}")
    m = _DATE_TIME.fullmatch(text) if len(text) <= 64 else None
    if m is None:
        raise CertLogicInvalid(f"not a date or date-time CertLogic accepts: {_show(text)}")
    if m["d"] is None:
        return dcc_date_of_birth(text)
    y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
    h, mi, s = (int(m[k] or 0) for k in ("h", "mi", "s"))
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo) and h <= 23 and mi <= 59 and s <= 59):
        raise CertLogicInvalid(f"not a valid date-time: {_show(text)}")
    ms = int((m["f"] or "").ljust(3, "0")[:3])
    offset = 0
    tz = m["tz"]
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        hours, minutes = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
        if int(hours) > 23 or int(minutes) > 59:
            raise CertLogicInvalid(f"not a valid time zone offset: {_show(text)}")
        offset = sign * (int(hours) * 60 + int(minutes)) * 60_000
    return DateTime(days_from_civil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + ms - offset)


def dcc_date_of_birth(text: Any) -> DateTime:
    """``YYYY`` → Dec 31, ``YYYY-MM`` → the month's last day, ``YYYY-MM-DD`` as is: the last
    date consistent with the data, at 00:00:00.000Z."""
    if not isinstance(text, str):
        raise CertLogicInvalid(f'"dccDateOfBirth" operand must be a string, got {_show(text)}')
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text, re.ASCII)
    if m is None:
        raise CertLogicInvalid(f"not a DCC date of birth (YYYY, YYYY-MM or YYYY-MM-DD): {_show(text)}")
    y = int(m[1])
    mo = int(m[2] or 12)
    if not 1 <= mo <= 12:
        raise CertLogicInvalid(f"not a valid date of birth: {_show(text)}")
    d = int(m[3]) if m[3] else _month_days(y, mo)
    if not 1 <= d <= _month_days(y, mo):
        raise CertLogicInvalid(f"not a valid date of birth: {_show(text)}")
    return DateTime(days_from_civil(y, mo, d) * 86_400_000)


def plus_time(text: Any, amount: int, unit: str) -> DateTime:
    """JavaScript's ``setUTC<unit>(getUTC<unit>() + amount)`` on the parsed date-time: months
    and years keep the day of month and let it overflow (2020-02-29 + 1 year = 2021-03-01)."""
    start = parse_date_time(text)
    if abs(amount) > 10 ** 9:
        raise CertLogicInvalid('"plusTime" amount is out of range')
    if unit == "hour":
        ms = start.ms + amount * 3_600_000
    elif unit == "day":
        ms = start.ms + amount * 86_400_000
    else:
        days, rest = divmod(start.ms, 86_400_000)
        y, m, d = civil_from_days(days)
        months = (y * 12 + m - 1) + (amount * 12 if unit == "year" else amount)
        y, m = divmod(months, 12)
        ms = (days_from_civil(y, m + 1, 1) + d - 1) * 86_400_000 + rest
    if abs(ms) > MAX_MS:
        raise CertLogicInvalid('"plusTime" result is outside the date-time range')
    return DateTime(ms)


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; any year)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _show(value: object) -> str:
    """A short rendering for messages; never the whole (possibly personal) value."""
    if value is None:
        return "null"
    if isinstance(value, DateTime):
        return "a date-time"
    if isinstance(value, (dict, list)):
        return f"an {'object' if isinstance(value, dict) else 'array'}"
    return repr(value)[:40]
