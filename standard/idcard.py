"""Resident identity numbers (GB 11643-1999) as pure functions.

Kiosks and clerks type numbers with full-width digits (Chinese IME), spaces, hyphens and a
lower-case x.  We accept exactly those variations, turn them into the one canonical 18-character
form, and check everything the number itself can prove: the province prefix (GB/T 2260), the
birth date and the ISO 7064 MOD 11-2 check character.

Error messages never echo the number or any part of it: it is personal data, and messages end up
in logs and JSON responses.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from standard.errors import InvalidIdNumber

# Anything longer than this is not a typo of an 18-character number; refusing it before any
# Unicode work keeps hostile input (megabyte "ID numbers") cheap.
MAX_RAW_CHARS = 64
LENGTH = 18
EARLIEST_BIRTH = date(1900, 1, 1)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

# Province-level prefixes of GB/T 2260.  71 is Taiwan; 81/82/83 are the prefixes of the
# residence permits for Hong Kong, Macao and Taiwan residents (GB 11643 format, issued since
# 2018), which carry 810000/820000/830000 as their division.
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83".split())

# Allow-list of raw characters, checked *before* NFKC: NFKC also folds things like "①", "²" or
# Roman numeral "Ⅹ" into digits/X, and those are never how a person types an ID number.
_FULL_WIDTH_DIGITS = "".join(chr(0xFF10 + i) for i in range(10))
_SEPARATORS_RAW = " \u3000-\uFF0D"          # space, ideographic space, hyphen, full-width hyphen
_ALLOWED_RAW = frozenset("0123456789xX\uFF38\uFF58" + _FULL_WIDTH_DIGITS + _SEPARATORS_RAW)
_SEPARATORS = frozenset(" -")                # what the raw separators become after NFKC


@dataclass(frozen=True)
class ResidentId:
    """A parsed, checked resident identity number; ``number`` is the canonical form."""

    number: str       # 18 characters, upper-case X
    division: str     # 6-digit administrative division, e.g. "440106"
    region: str       # province-level code, e.g. "440000" (unless a city serves the division)
    birth: date
    sex: str          # "M" or "F"


def check_char(body17: str) -> str:
    """ISO 7064 MOD 11-2 over the first 17 digits: catches every single-digit typo."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(body17, WEIGHTS)) % 11]


def normalize(raw: str) -> str:
    """Canonical 18-character form, so equal numbers compare (and pseudonymise) equal.

    Only the format is checked here; ``parse`` checks what the digits mean.
    """
    _check_raw(raw)
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if ch not in _SEPARATORS).upper()
    _check_format(text)
    return text


def _check_raw(raw: str) -> None:
    """Cheap refusals first: wrong type, absurd length, characters nobody types in an ID."""
    if not isinstance(raw, str):
        raise InvalidIdNumber("ID number must be text")
    if len(raw) > MAX_RAW_CHARS:
        raise InvalidIdNumber("ID number is far too long")
    if not raw.strip(_SEPARATORS_RAW):
        raise InvalidIdNumber("ID number is empty")
    if not all(ch in _ALLOWED_RAW for ch in raw):
        raise InvalidIdNumber("ID number may only contain digits, X, spaces and hyphens")


def _check_format(text: str) -> None:
    """18 characters: 17 digits, then a digit or X (X stands for check value 10)."""
    if len(text) != LENGTH:
        raise InvalidIdNumber("ID number must have 18 characters")
    if not text[:17].isdigit():
        raise InvalidIdNumber("ID number must start with 17 digits")
    if not (text[17].isdigit() or text[17] == "X"):
        raise InvalidIdNumber("ID number must end with a digit or X")


def parse(raw: str, today: date | None = None) -> ResidentId:
    """Normalize and check a resident ID; ``today`` is injectable so tests need no clock."""
    number = normalize(raw)
    _check_province(number)
    birth = _birth_date(number, today or date.today())
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("ID number check character is wrong")
    return ResidentId(number=number, division=number[:6], region=number[:2] + "0000",
                      birth=birth, sex=_sex(number))


def _check_province(number: str) -> None:
    """The prefix routes the person to a regional issuer, so it must be one we know."""
    if number[:2] not in PROVINCES:
        raise InvalidIdNumber("ID number region code is not a known province")


def _birth_date(number: str, today: date) -> date:
    """YYYYMMDD at positions 7-14; a real calendar date between 1900-01-01 and today."""
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("ID number birth date is not a real date") from None
    if birth < EARLIEST_BIRTH:
        raise InvalidIdNumber("ID number birth date is before 1900")
    if birth > today:
        raise InvalidIdNumber("ID number birth date is in the future")
    return birth


def _sex(number: str) -> str:
    """The 3-digit sequence number is odd for men and even for women."""
    return "M" if int(number[14:17]) % 2 else "F"


def is_valid(raw: str, today: date | None = None) -> bool:
    """For callers that only branch on validity and have no use for the reason."""
    try:
        parse(raw, today)
    except InvalidIdNumber:
        return False
    return True


def mask(number: str) -> str:
    """What staff may see: enough to match a document in hand, too little to look anyone up.

    Resident IDs keep the first 4 and last 4 (``4401**********123X``); other documents of 8 or
    more characters keep first 2 and last 2; shorter ones only the last character.  An empty
    number still yields ``*`` so a missing ID never looks like a blank field.
    """
    number = str(number)
    if len(number) == LENGTH:
        return number[:4] + "*" * 10 + number[-4:]
    if len(number) >= 8:
        return number[:2] + "*" * (len(number) - 4) + number[-2:]
    return "*" * max(len(number) - 1, 1) + number[-1:]


# --- other documents (passports, permits): format only, no checksum we could verify ----------
DOCUMENT_PATTERNS = {
    "macau_id": re.compile(r"[157]\d{7}"),          # BIR: 1234567(8) → 12345678
    "hk_id": re.compile(r"[A-Z]{1,2}\d{6}[0-9A]"),   # A123456(7) → A1234567
}
_DOCUMENT_SEPARATORS = frozenset(" -\u3000\t()")


# A resident ID number inside free text, in every spelling :func:`normalize` accepts: 17 digits
# (of any script) with any run of its separators — space, ideographic space, hyphen, full-width
# hyphen, as an input method types them — between any two, then a digit or X; not part of a
# longer run of digits.
_ID_IN_TEXT = re.compile(r"(?<!\d)(?:\d[ \u3000\-\uFF0D]*){17}[\dXxＸｘ](?!\d)")


def mask_in_text(text: str) -> str:
    """``text`` with every resident ID number in it masked as :func:`mask` does — for free text
    (a reason, a consent reference, a checkpoint's place) that is kept: whoever typed a holder's
    number there did not make it less personal."""
    if not isinstance(text, str) or len(text) < LENGTH:
        return text
    return _ID_IN_TEXT.sub(lambda m: mask("".join(ch for ch in unicodedata.normalize("NFKC", m.group())
                                                  if ch not in _SEPARATORS).upper()), text)


def normalize_document(id_type: str, raw: str) -> str:
    """Non-resident documents: NFKC, no spaces, hyphens or brackets around the check digit."""
    if not isinstance(raw, str) or len(raw) > MAX_RAW_CHARS:
        raise InvalidIdNumber("document number must be short text")
    text = unicodedata.normalize("NFKC", raw).upper()
    text = "".join(ch for ch in text if ch not in _DOCUMENT_SEPARATORS)
    pattern = DOCUMENT_PATTERNS.get(id_type)
    if pattern is not None:
        if not pattern.fullmatch(text):
            raise InvalidIdNumber(f"not a valid {id_type.replace('_', ' ')} number")
    elif not (5 <= len(text) <= 20 and text.isascii() and text.isalnum()):
        raise InvalidIdNumber("document number must be 5-20 letters or digits")
    return text
