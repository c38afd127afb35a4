"""The date readers of EU DCC entries and FHIR resources count whole days for a date (no datetime
built): the same epoch seconds, and the same None, as midnight UTC's timestamp did, on every
date form they meet and on broken ones."""
from __future__ import annotations

import random
import re
from datetime import date, datetime, timezone

import pytest

from adapters.eu_dcc.certificate import _date, country, Cwt
from adapters.shc.fhir import fhir_time


def reference_dcc_date(value):
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())
    except (ValueError, OverflowError):
        return None


def reference_fhir_time(value):
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        match = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", value, re.ASCII)
        if match:
            y, m, d = match.groups()
            day = date(int(y), int(m or 1), int(d or 1))
            return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return int(parsed.timestamp())
    except (ValueError, OverflowError):
        return None


FORMS = ["2021-06-11", "1970-01-01", "1969-12-31", "0001-01-01", "9999-12-31", "2020-02-29", "2021-02-29",
         "2021-13-01", "2021-00-10", "2021-6-11", "20210611", "2021-W23-5", "2021-06-11T10:00:00Z",
         "2021-06-11T10:00:00", "2021-06-11T10:00:00+02:00", "2021", "2021-06", "1900-01-01", "", "abcdefghij",
         "２０２１-06-11", "2021-06-1١", None, 20210611, "2021-06-11 ", " 2021-06-11", "x" * 41, "0000-01-01",
         "2021-06-11T25:00:00Z"]


@pytest.mark.parametrize("value", FORMS)
def test_same_seconds_as_midnight_timestamps(value):
    assert _date(value) == reference_dcc_date(value)
    assert fhir_time(value) == reference_fhir_time(value)


def test_every_day_of_four_centuries_and_random_years():
    rng = random.Random(3)
    days = [date(1900, 1, 1).toordinal() + n for n in range(0, 146_097, 7)]
    days += [rng.randrange(1, date(9999, 12, 31).toordinal() + 1) for _ in range(5000)]
    for ordinal in days:
        text = date.fromordinal(ordinal).isoformat()
        assert _date(text) == reference_dcc_date(text), text
        for form in (text, text[:7], text[:4]):
            assert fhir_time(form) == reference_fhir_time(form), form


def test_country_reads_two_capital_letters():
    entry_of = lambda co: {"co": co}     # noqa: E731
    assert country(Cwt("DE", None, None, {}), entry_of("FR")) == "DE"
    assert country(Cwt("Deutschland", None, None, {}), entry_of("FR")) == "FR"
    assert country(Cwt(None, None, None, {}), entry_of("fr")) == "EU"
    assert country(Cwt("DE\n", None, None, {}), entry_of("ÄB")) == "EU"
