"""Stage 1, QR text to a compact JWS: the numeric ``shc:/`` encoding and chunked QR codes."""
from __future__ import annotations

import math
import re


from standard.errors import Malformed

NAME = "shc"
QR_PREFIX = "shc:/"
HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"
COVID_TYPE = "https://smarthealth.cards#covid19"
ALG = "ES256"

# --- size caps: everything below is attacker-controlled ------------------------------------------
MAX_TEXT_CHARS = 60_000          # whatever reaches the adapter (the Verifier caps at 12 000 first)
MAX_CHUNKS = 20
MAX_CREDENTIALS = 10             # JWSs in one .smart-health-card file
MAX_INFLATED_BYTES = 200_000     # decompressed payload (a real card is a few KB)
MAX_ENTRIES = 200                # FHIR bundle entries
MAX_CODINGS = 20
MAX_NAME_CHARS = 200
MAX_ISS_CHARS = 512
MAX_TIMESTAMP = 10**11           # year ~5138: bigger is nonsense

DEFAULT_REGION = "US"            # ISO 3166-1 alpha-2 when region_by_issuer has no entry

# --- FHIR vocabulary (kept deliberately small; see docs/formats/shc.md) ---------------------------
CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
COVID_CVX = frozenset({"207", "208", "210", "211", "212", "213", "217", "218", "219", "221",
                       "225", "226", "227", "228", "229", "230", "300", "301", "302",
                       "500", "501", "502", "503", "504", "505", "506", "507", "508", "509",
                       "510", "511", "512"})
SINGLE_DOSE_CVX = frozenset({"212"})            # Janssen: one dose completes the series
COVID_LOINC = frozenset({"94309-2", "94500-6", "94531-1", "94533-7", "94534-5", "94558-4",
                         "94559-2", "94565-9", "94756-4", "94757-2", "94759-8", "94845-5",
                         "95209-3", "95406-5", "95608-6", "96119-3", "97097-0"})
NEGATIVE_RESULTS = frozenset({"260385009", "260415000"})   # Negative, Not detected
POSITIVE_RESULTS = frozenset({"10828004", "260373001"})    # Positive, Detected
FINAL_OBSERVATION = frozenset({"final", "amended", "corrected"})

_CHUNK_RE = re.compile(r"shc:/(?:([1-9][0-9]{0,2})/([1-9][0-9]{0,2})/)?([0-9]*)", re.ASCII)
_B64URL_43 = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)
_SPACE = re.compile(r"\s")                # what str.isspace() calls space, found in C
_ASCII_SPACES = tuple(chr(c) for c in range(128) if chr(c).isspace())     # \t \n \v \f \r, 0x1c-0x1f, space


def has_space(text: str) -> bool:
    """Does ``text`` hold a character ``str.isspace()`` calls space?  ASCII text (every JWS) is
    answered by a substring search for each of the ten ASCII spaces (~0.4 µs on a 4 KB JWS; a
    deleting ``bytes.translate`` took 2.3 µs, the regex ~20 µs); other text by the regex."""
    if text.isascii():
        for space in _ASCII_SPACES:
            if space in text:
                return True
        return False
    return _SPACE.search(text) is not None


# Digit pair "dd" read as the hex byte 0xdd → its character chr(dd + 45); 0xFF where dd > 77
_PAIR_INVALID = 0xFF
_PAIRS = bytes(10 * (b >> 4) + (b & 15) + 45 if (b >> 4) <= 9 and (b & 15) <= 9 and 10 * (b >> 4) + (b & 15) <= 77
               else _PAIR_INVALID for b in range(256))


# === numeric QR encoding ===========================================================================
def numeric_to_jws(digits: str) -> str:
    """``"5676..."`` → ``"eyJ..."``: each pair of digits is one character, ``chr(pair + 45)``."""
    if not isinstance(digits, str) or not (digits.isascii() and digits.isdigit()):   # ASCII: only 0-9
        raise Malformed("SMART Health Card QR data must be decimal digits")
    if len(digits) % 2:
        raise Malformed("SMART Health Card QR data has an odd number of digits")
    # no Python loop over the ~3,900 pairs of a card: each pair is read as a hex byte, and one
    # translate turns every byte into its character (or the marker of a pair above 77)
    out = bytes.fromhex(digits).translate(_PAIRS)
    bad = out.find(_PAIR_INVALID)
    if bad >= 0:
        raise Malformed(f"SMART Health Card QR digit pair {digits[2 * bad:2 * bad + 2]} is above 77")
    return out.decode("ascii")


def jws_to_numeric(token: str) -> str:
    """The inverse of :func:`numeric_to_jws` (for tests and tooling)."""
    out = []
    for ch in token:
        value = ord(ch) - 45
        if not 0 <= value <= 77:
            raise ValueError(f"character {ch!r} cannot be numeric-encoded")
        out.append(f"{value:02d}")
    return "".join(out)


def qr_texts(token: str, chunks: int = 1) -> list[str]:
    """QR texts for a JWS: ``["shc:/..."]``, or ``chunks`` balanced ``shc:/i/n/...`` parts."""
    if chunks == 1:
        return [QR_PREFIX + jws_to_numeric(token)]
    size = math.ceil(len(token) / chunks)
    parts = [token[i * size:(i + 1) * size] for i in range(chunks)]
    return [f"{QR_PREFIX}{i}/{chunks}/{jws_to_numeric(part)}" for i, part in enumerate(parts, 1)]


def jws_from_qr(text: str) -> str:
    """One ``shc:/`` QR text, or all chunks of a chunked card (whitespace-separated, any order),
    → the compact JWS.  Missing, duplicate or out-of-range chunks are :class:`Malformed`."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise Malformed("SMART Health Card QR text too large or not text")
    parts = text.split()
    if not parts:
        raise Malformed("SMART Health Card QR text is empty")
    if len(parts) > MAX_CHUNKS:
        raise Malformed(f"more than {MAX_CHUNKS} SMART Health Card QR chunks")
    unchunked: list[str] = []
    chunks: list[tuple[int, int, str]] = []
    for part in parts:
        match = _CHUNK_RE.fullmatch(part)
        if match is None:
            if not part.lower().startswith(QR_PREFIX):
                raise Malformed("SMART Health Card QR text must start with 'shc:/'")
            raise Malformed("SMART Health Card QR text must be shc:/<digits> or shc:/<i>/<n>/<digits>")
        index, total, digits = match.groups()
        if not digits:
            raise Malformed("SMART Health Card QR text has no data after its header")
        if index:                       # the pattern gives index and total together
            chunks.append((int(index), int(total), digits))
        else:
            unchunked.append(digits)
    if not chunks:
        if len(unchunked) > 1:
            raise Malformed("several unchunked SMART Health Card QR texts in one payload")
        return numeric_to_jws(unchunked[0])
    if unchunked:
        raise Malformed("chunked and unchunked SMART Health Card QR texts mixed")
    totals = {total for _, total, _ in chunks}
    if len(totals) != 1:
        raise Malformed("SMART Health Card QR chunks disagree on the number of chunks")
    total = totals.pop()
    if total > MAX_CHUNKS:
        raise Malformed(f"a SMART Health Card in more than {MAX_CHUNKS} QR chunks is not accepted")
    by_index: dict[int, str] = {}
    for index, _, digits in chunks:
        if index > total:
            raise Malformed(f"SMART Health Card QR chunk index {index} is out of range 1..{total}")
        if index in by_index:
            raise Malformed(f"SMART Health Card QR chunk {index}/{total} given twice")
        by_index[index] = digits
    missing = [str(i) for i in range(1, total + 1) if i not in by_index]
    if missing:
        raise Malformed(f"SMART Health Card QR chunk(s) {', '.join(missing)} of {total} missing; "
                        "scan every QR code of the card")
    return "".join(numeric_to_jws(by_index[i]) for i in range(1, total + 1))


def group_chunks(texts: list[str]) -> list[str]:
    """The QR texts of one image → one text per code: the chunks ``shc:/i/n/…`` of a SMART
    Health Card become one newline-joined text (what :func:`jws_from_qr` reads); every other
    text stays itself.  Chunks of two cards with the same ``n`` are told apart by order: the
    k-th chunk i/n found belongs to the k-th card.  Codes keep the order of their first text."""
    codes: list[list[str]] = []
    open_cards: dict[int, list[tuple[set, list]]] = {}
    for text in texts:
        match = _CHUNK_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None or match.group(1) is None:
            codes.append([text])
            continue
        index, total = int(match.group(1)), int(match.group(2))
        cards = open_cards.setdefault(total, [])
        card = next((c for c in cards if index not in c[0]), None)
        if card is None:
            card = (set(), [])
            cards.append(card)
            codes.append(card[1])
        card[0].add(index)
        card[1].append(text.strip())
    return ["\n".join(parts) for parts in codes]
