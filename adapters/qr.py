"""QR images: render a code's text to PNG, and read the text back from a photo or scan.

Error correction is level M (15 %) as the standard says (§4.3): enough for a cracked phone
screen or a creased printout without pushing long codes to unreadably dense versions.
"""
from __future__ import annotations

import io
import logging
import struct
import threading
from typing import TYPE_CHECKING

from adapters.base import log_decoder_crash
from standard import MAX_IMAGE_BYTES
from standard.errors import CodeError, CodeTooLarge, ImageUnreadable

if TYPE_CHECKING:
    from types import ModuleType

    import zxingcpp

log = logging.getLogger(__name__)

MAX_PIXELS = 16_000_000                      # a 4000×4000 photo; a QR scan needs far fewer
# At most this many images are decoded at once per process (a decode of 16 MP costs ~100 MB);
# the rest wait their turn, up to DECODE_WAIT seconds, then get a clear "busy" verdict.
DECODE_SLOTS = threading.BoundedSemaphore(2)
DECODE_WAIT = 10
MAX_CODES = 24                               # a 4-up sheet has 4, a chunked SMART card at most 10
# A progressive JPEG is decoded once per scan, each pass over every pixel: 2 000 scans of 16 MP
# took 40 s and held both decode slots.  A camera writes 1 scan, an encoder's progressive
# script about 10.  Decoding work (pixels × scans) is bounded before a slot is taken.
MAX_JPEG_SCANS = 64
# The formats a camera, a phone's screenshot or a scanner writes; the only Pillow parsers an image
# ever reaches.  Pillow opens some forty formats (DDS, SPIDER, IM, PSD, …), each a parser an
# anonymous caller could feed.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP")
# A TIFF whose strips or tiles are JPEG streams: each may be progressive, up to libtiff's 100
# scans, and the scans are counted nowhere — a 97 KB TIFF of 16 MP took 2 s to decode, ten times
# the work a JPEG may cost (MAX_SCAN_PIXELS).  No camera writes one; the JPEG itself is read.
TIFF_JPEG = ("jpeg", "tiff_jpeg")
# What Pillow raises for a broken or unsupported file (OSError: UnidentifiedImageError is one;
# SyntaxError: a broken PNG chunk; ValueError: a colour space it cannot convert, such as a CIELAB
# TIFF; NotImplementedError, OverflowError, struct.error, EOFError from its parsers): the image is
# unreadable.
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, NotImplementedError, OverflowError, IndexError,
               struct.error)
MAX_SCAN_PIXELS = 10 * MAX_PIXELS


def _pillow() -> "ModuleType":
    """Pillow's ``Image``, with its own bomb check at :data:`MAX_PIXELS` as a second line.
    Imported where an image is first read (~10 ms, with zxing-cpp's ~2): a command that reads
    none — ``verify-batch`` of texts — starts without it."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


def render_png(text: str, box_size: int = 6, border: int = 4) -> bytes:
    import qrcode                      # the encoder: where codes are drawn, not where they are read
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                         box_size=box_size, border=border)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()


def decode_image(data: bytes) -> list[str]:
    """Every QR text in the image, in reading order (row by row, left to right): a sheet of
    printed cards, or the chunks of one SMART Health Card.  More than MAX_CODES is refused."""
    if not data:
        raise ImageUnreadable("image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise CodeTooLarge(f"image larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
    _check_work(data)                  # cheap, and before a decode slot: a bomb never holds one
    if not DECODE_SLOTS.acquire(timeout=DECODE_WAIT):
        raise ImageUnreadable("the image decoder is busy; scan the code again")
    try:
        return _decode(data)
    finally:
        DECODE_SLOTS.release()


def decoding_pixels(data: bytes) -> int:
    """How many pixels :func:`decode_image` would decode and search for codes in ``data``: 0 when
    it refuses the image before decoding a pixel (empty, too many bytes or pixels, a header it
    cannot read, a JPEG over its scan bound, a JPEG-compressed TIFF).  What the search costs
    grows with it: zxing-cpp looked 3.7 s for codes in a 16 MP PNG of 6 400 tiny ones (~0.25 s a
    megapixel) before the MAX_CODES cap could refuse it.  Reads the header only."""
    if not data or len(data) > MAX_IMAGE_BYTES:
        return 0
    try:
        _check_work(data)
        image = _pillow().open(io.BytesIO(data), formats=IMAGE_FORMATS)
        if image.format == "TIFF" and image.info.get("compression") in TIFF_JPEG:
            return 0
        width, height = image.size
    except Exception:                 # noqa: BLE001 — refused before decoding: decode_image says why
        return 0
    return width * height if width * height <= MAX_PIXELS else 0


def jpeg_scans(data: bytes) -> int:
    """At least as many as the scans a JPEG decoder will run: every SOS marker is the bytes
    FF DA in the file (entropy-coded data stuffs each FF with 00), so counting them can only
    overcount (an FF DA inside metadata), never miss one."""
    return data.count(b"\xff\xda")


def _check_work(data: bytes) -> None:
    """Refuse a JPEG whose decoding would cost more than :data:`MAX_SCAN_PIXELS` pixel passes
    or :data:`MAX_JPEG_SCANS` scans — from the header and a byte count, before any decoding."""
    if not data.startswith(b"\xff\xd8"):
        return
    try:
        width, height = _pillow().open(io.BytesIO(data), formats=("JPEG",)).size
    except Exception:                 # noqa: BLE001 — unreadable: _decode says so, in its words
        return
    scans = jpeg_scans(data)
    if scans > MAX_JPEG_SCANS or scans * width * height > MAX_SCAN_PIXELS:
        raise CodeTooLarge(f"JPEG has {scans} scans of {width}×{height} pixels; decoding is bounded "
                           f"at {MAX_SCAN_PIXELS:,} pixel passes and {MAX_JPEG_SCANS} scans")


def _decode(data: bytes) -> list[str]:
    """The QR texts in ``data``; whatever the file holds, a clear verdict error, never another
    exception (the decoding — header, pixels, conversion to grey — is all inside the ``try``)."""
    import zxingcpp
    Image = _pillow()
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)        # reads the header only
        width, height = image.size
        if width * height > MAX_PIXELS:               # refuse before a pixel is decoded
            raise CodeTooLarge(f"image has {width}×{height} pixels; at most {MAX_PIXELS:,} are read")
        if image.format == "TIFF" and image.info.get("compression") in TIFF_JPEG:
            raise ImageUnreadable("a JPEG-compressed TIFF is not read; send the JPEG itself")
        image.load()
        grey = image.convert("L")
    except CodeError:                             # ours, worded above
        raise
    except Image.DecompressionBombError:          # Pillow's own check at open(), above 2 × MAX_PIXELS
        raise CodeTooLarge(f"image has more than {2 * MAX_PIXELS:,} pixels; at most {MAX_PIXELS:,} are read") from None
    except _UNREADABLE:
        raise ImageUnreadable("not a readable image") from None
    except Exception as exc:                      # noqa: BLE001 — a decoder bug: logged, still a verdict
        log_decoder_crash(log, "image", exc)
        raise ImageUnreadable("not a readable image") from None
    # zxing-cpp converts one BarcodeFormat to the BarcodeFormats its stubs declare
    results = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode)  # type: ignore[arg-type]
    texts = [r.text for r in reading_order([r for r in results if r.valid and r.text])]
    if not texts:
        raise ImageUnreadable("no QR code found in the image")
    if len(texts) > MAX_CODES:
        raise CodeTooLarge(f"{len(texts)} QR codes in one image; at most {MAX_CODES} are read")
    return texts


def _box(result: zxingcpp.Barcode) -> tuple[int, int, int]:
    """(left, top, height) of a decoded symbol, from its four corners."""
    p = result.position
    corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    xs, ys = [c.x for c in corners], [c.y for c in corners]
    return min(xs), min(ys), max(ys) - min(ys)


def reading_order(results: list) -> list:
    """Row by row, left to right, as a person reads a sheet: a symbol starts a new row when its
    top is more than half a symbol's height below the row's first (a tilted photo still reads
    as rows).  zxing-cpp itself returns symbols in no stable order."""
    rows: list[tuple[tuple, list]] = []
    for box, result in sorted(((_box(r), r) for r in results), key=lambda item: item[0][1]):
        if rows and box[1] - rows[-1][0][1] <= max(rows[-1][0][2], box[2]) / 2:
            rows[-1][1].append((box, result))
        else:
            rows.append((box, [(box, result)]))
    return [result for _, row in rows for _, result in sorted(row, key=lambda item: item[0][0])]
