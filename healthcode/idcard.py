"""Resident identity numbers (GB 11643-1999) as pure functions.

Kiosks and clerks type numbers with full-width digits, spaces and a lower-case x; we accept
those, normalise, and check everything the number itself can prove: the province prefix
(GB/T 2260), the birth date and the ISO 7064 MOD 11-2 check character.  Error messages never
echo the number — it is personal data.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .errors import InvalidIdNumber

MAX_RAW_CHARS = 64
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83".split())
SEPARATORS = " -\u3000\t"


@dataclass(frozen=True)
class ResidentId:
    number: str
    division: str
    region: str
    birth: date
    sex: str


def check_char(body17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(body17, WEIGHTS)) % 11]


def normalize(raw: str) -> str:
    """Full-width → ASCII, separators dropped, x → X; then the format is checked."""
    if not isinstance(raw, str):
        raise InvalidIdNumber("ID number must be text")
    if len(raw) > MAX_RAW_CHARS:
        raise InvalidIdNumber("ID number is far too long")
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if ch not in SEPARATORS).upper()
    if len(text) != 18:
        raise InvalidIdNumber("ID number must have 18 characters")
    if not (text[:17].isascii() and text[:17].isdigit()) or not (text[17].isdigit() or text[17] == "X"):
        raise InvalidIdNumber("ID number must be 17 digits and a digit or X")
    return text


def parse(raw: str, today: date | None = None) -> ResidentId:
    number = normalize(raw)
    if number[:2] not in PROVINCES:
        raise InvalidIdNumber("ID number region code is not a known province")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("ID number birth date is not a real date") from None
    if birth < date(1900, 1, 1) or birth > (today or date.today()):
        raise InvalidIdNumber("ID number birth date is out of range")
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("ID number check character is wrong")
    return ResidentId(number=number, division=number[:6], region=number[:2] + "0000",
                      birth=birth, sex="M" if int(number[16]) % 2 else "F")


def is_valid(raw: str, today: date | None = None) -> bool:
    try:
        parse(raw, today)
    except InvalidIdNumber:
        return False
    return True


def mask(number: str) -> str:
    """4401**********123X for resident IDs; first 2 and last 2 for other documents."""
    number = str(number)
    if len(number) == 18:
        return number[:4] + "*" * 10 + number[-4:]
    if len(number) >= 8:
        return number[:2] + "*" * (len(number) - 4) + number[-2:]
    return "*" * max(len(number) - 1, 1) + number[-1:]


DOCUMENT_PATTERNS = {
    "macau_id": re.compile(r"[157]\d{7}"),          # BIR: 1234567(8) → 12345678
    "hk_id": re.compile(r"[A-Z]{1,2}\d{6}[0-9A]"),   # A123456(7) → A1234567
}


def normalize_document(id_type: str, raw: str) -> str:
    """Non-resident documents: NFKC, no spaces, hyphens or brackets around the check digit."""
    if not isinstance(raw, str) or len(raw) > MAX_RAW_CHARS:
        raise InvalidIdNumber("document number must be short text")
    text = unicodedata.normalize("NFKC", raw).upper()
    text = "".join(ch for ch in text if ch not in SEPARATORS + "()")
    pattern = DOCUMENT_PATTERNS.get(id_type)
    if pattern is not None:
        if not pattern.fullmatch(text):
            raise InvalidIdNumber(f"not a valid {id_type.replace('_', ' ')} number")
    elif not (5 <= len(text) <= 20 and text.isascii() and text.isalnum()):
        raise InvalidIdNumber("document number must be 5-20 letters or digits")
    return text
