"""Resident identity numbers: every case of the shared vectors, plus masking and the length cap."""
from __future__ import annotations

import json
import os
import re
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from standard import idcard
from standard.errors import InvalidIdNumber

ROOT = Path(__file__).resolve().parent.parent


def idcard_vectors() -> dict:
    """The shared vectors folder is ``$HEALTHCODE_VECTORS`` or ``<project>/../shared/vectors``."""
    vectors = Path(os.environ.get("HEALTHCODE_VECTORS") or ROOT.parent / "shared" / "vectors")
    return json.loads((vectors / "idcard" / "ids.json").read_text(encoding="utf-8"))


CASES = idcard_vectors()["cases"]
VALID = [c for c in CASES if c["valid"]]
INVALID = [c for c in CASES if not c["valid"]]


def case_id(case: dict) -> str:
    return case["note"]


def assert_no_leak(message: str, raw: str) -> None:
    """Messages may say which part is wrong, never carry the number or a piece of it."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if ch.isdigit())
    if raw.strip():
        assert raw.strip() not in message
    for start in range(max(len(digits) - 5, 0)):
        assert digits[start:start + 6] not in message
    assert re.search(r"\d{5,}", message) is None, message


def test_every_case_is_classified():
    assert len(CASES) == len(VALID) + len(INVALID) > 0
    assert {case_id(c) for c in CASES} and all("input" in c for c in CASES)


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_valid_case(case):
    rid = idcard.parse(case["input"])
    assert rid.number == case["normalized"] == idcard.normalize(case["input"])
    assert rid.division == case["normalized"][:6]
    assert rid.region == case.get("region", case["normalized"][:2] + "0000")
    if "birth" in case:
        assert rid.birth == date.fromisoformat(case["birth"])
    if "sex" in case:
        assert rid.sex == case["sex"]
    assert rid == idcard.parse(case["normalized"])   # cases without details: same as canonical
    assert idcard.is_valid(case["input"])


@pytest.mark.parametrize("case", INVALID, ids=case_id)
def test_invalid_case(case):
    with pytest.raises(InvalidIdNumber) as info:
        idcard.parse(case["input"])
    err = info.value
    assert err.code == "id_number_invalid" and err.as_dict()["code"] == "id_number_invalid"
    assert err.message.startswith("ID number")
    assert_no_leak(err.message, case["input"])
    assert not idcard.is_valid(case["input"])


@pytest.mark.parametrize("note,part", [
    ("wrong check digit", "check character"), ("17 characters", "18 characters"),
    ("19 characters", "18 characters"), ("unknown province code 00", "province"),
    ("30 February", "not a real date"), ("birth date in the future", "future"),
    ("born before 1900", "before 1900"), ("letter inside", "only contain"),
    ("empty", "empty"), ("check character Y", "only contain"),
    ("injection attempt", "only contain"), ("5000 characters", "too long"),
])
def test_message_names_the_wrong_part(note, part):
    case = next(c for c in INVALID if c["note"] == note)
    with pytest.raises(InvalidIdNumber, match=part):
        idcard.parse(case["input"])


# --- normalization ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    "440104-19840704-876x", "４４０１０４１９８４０７０４８７６ｘ", "４４０１０４１９８４０７０４８７６Ｘ",
    "\u3000440104 1984 0704 876X\u3000", "440104－19840704－876X",
])
def test_typed_variants_normalize(raw):
    assert idcard.normalize(raw) == "44010419840704876X"


@pytest.mark.parametrize("raw", [
    "44010419840704876\u2169",      # Roman numeral ten: NFKC makes it X, nobody types it
    "①40104198407048769",           # circled digit
    "440104198407048769\t",          # tab is not a separator we accept
    "440104198407048769\n",
    "44010419840704876X\u200b",      # zero-width space
    "٤٤٠١٠٤١٩٨٤٠٧٠٤٨٧٦٩",            # Arabic-Indic digits
])
def test_other_characters_rejected(raw):
    with pytest.raises(InvalidIdNumber):
        idcard.normalize(raw)


def test_x_only_as_check_character():
    with pytest.raises(InvalidIdNumber, match="17 digits"):
        idcard.normalize("4401041984070487X6")


def test_not_text_rejected():
    with pytest.raises(InvalidIdNumber, match="text"):
        idcard.normalize(440104198407048769)  # type: ignore[arg-type]


# --- dates and today -----------------------------------------------------------------------------
def test_today_is_injectable():
    number = "510107201804272337"                  # born 2018-04-27
    assert idcard.is_valid(number, today=date(2018, 4, 27))
    with pytest.raises(InvalidIdNumber, match="future"):
        idcard.parse(number, today=date(2018, 4, 26))


def test_first_of_1900_is_allowed():
    body = "110101190001010" + "01"
    number = body + idcard.check_char(body)
    assert idcard.parse(number).birth == date(1900, 1, 1)


def test_leap_day():
    body = "11010120000229001"
    assert idcard.parse(body + idcard.check_char(body)).birth == date(2000, 2, 29)
    body = "11010119000229001"                    # 1900 was not a leap year
    with pytest.raises(InvalidIdNumber, match="not a real date"):
        idcard.parse(body + idcard.check_char(body))


def test_result_is_frozen():
    rid = idcard.parse("11010519491231002X")
    with pytest.raises(AttributeError):
        rid.number = "x"  # type: ignore[misc]


# --- length cap ------------------------------------------------------------------------------------
def test_length_cap_boundary():
    padded = "11010519491231002X".center(idcard.MAX_RAW_CHARS)
    assert idcard.normalize(padded) == "11010519491231002X"
    with pytest.raises(InvalidIdNumber, match="too long"):
        idcard.normalize(padded + " ")


def test_length_cap_applies_before_unicode_work():
    # characters the allow-list would reject still get the length message: the cap comes first
    with pytest.raises(InvalidIdNumber, match="too long"):
        idcard.parse("①" * (idcard.MAX_RAW_CHARS + 1))
    with pytest.raises(InvalidIdNumber, match="too long"):
        idcard.parse("4" * 1_000_000)


# --- masking ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("number,masked", [
    ("44010619720911123X", "4401**********123X"),
    ("11010519491231002X", "1101**********002X"),
    ("E12345678", "E1*****78"),                  # passport
    ("12345678", "12****78"),                    # Macao BIR, exactly 8
    ("1234567", "******7"),
    ("AB", "*B"),
    ("A", "*A"),
    ("", "*"),
])
def test_mask(number, masked):
    assert idcard.mask(number) == masked


@pytest.mark.parametrize("case", VALID, ids=case_id)
def test_mask_of_valid_numbers_hides_birth_date(case):
    number = case["normalized"]
    masked = idcard.mask(number)
    assert len(masked) == 18 and masked.count("*") == 10
    assert number[6:14] not in masked
